"""Scalar logging: console + WORKDIR/metrics.jsonl, plus TensorBoard when TensorFlow is present.

`clu.metric_writers` needs TensorFlow and TensorBoard; they are optional here (the `tensorboard`
extra), and without them the JSON-lines file is the record (a warning says so once). Only
process 0 passes a workdir (others log nothing).
"""

from __future__ import annotations

import json
import os
from typing import Any

from absl import logging

from rde_jax.fileio import storage


class MetricWriter:
  """write_scalars(step, {name: value}) to the console, metrics.jsonl and TensorBoard if any."""

  def __init__(self, workdir: os.PathLike | None, *, resume_step: int | None = None):
    """`resume_step`: the step a resumed run restarts from; later lines are dropped first."""
    self._file = None
    self._tb = None
    if workdir is None:
      return
    path = storage.as_path(workdir) / "metrics.jsonl"
    if resume_step is not None and path.exists():
      truncate_after(path, resume_step)
    self._file = storage.AppendLog(path)
    try:
      import tensorflow  # noqa: F401  (clu's summary writer needs it)
      from clu import metric_writers
      self._tb = metric_writers.SummaryWriter(str(workdir / "tensorboard"))
    except ImportError as e:  # said once per run, with the command that adds the piece
      logging.warning("no TensorBoard event files (%s); metrics.jsonl has every scalar. To add "
                  "them: pip install 'rde-jax[tensorboard]' (tensorflow-cpu and tensorboard)", e)
      self._tb = None

  def write_scalars(self, step: int, scalars: dict[str, Any]) -> None:
    if self._file is None:
      return
    scalars = {k: float(v) for k, v in scalars.items()}
    self._file.write(json.dumps({"step": step, **scalars}, sort_keys=True) + "\n")
    text = " ".join(f"{k}={v:.4g}" for k, v in sorted(scalars.items()))
    print(f"[step {step}] {text}", flush=True)
    if self._tb is not None:
      self._tb.write_scalars(step, scalars)

  def close(self) -> None:
    if self._file is not None:
      self._file.close()
    if self._tb is not None:
      self._tb.close()


def truncate_after(path: os.PathLike, step: int) -> None:
  """Keeps the lines of metrics.jsonl with step <= `step` (and drops a torn last line), atomically.

  A run killed after logging step s but before its checkpoint at c < s resumes at c and logs
  c+1.. again; without this the file would hold those steps twice.
  """
  from rde_jax.fileio.atomic import write_bytes
  kept, dropped = [], 0
  for line in path.read_text().splitlines():
    try:
      keep = int(json.loads(line)["step"]) <= step
    except (ValueError, KeyError, TypeError):
      keep = False
    if keep:
      kept.append(line)
    else:
      dropped += 1
  if dropped:
    write_bytes(path, "".join(f"{line}\n" for line in kept).encode())
    logging.info("%s: dropped %d lines after step %d (a killed run's)", path, dropped, step)
