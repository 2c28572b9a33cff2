"""Scalar logging: console + WORKDIR/metrics.jsonl, plus TensorBoard when TensorFlow is present.

`clu.metric_writers` imports TensorFlow; it is optional here (pip install tensorflow-cpu), and
without it the JSON-lines file is the record. Only process 0 passes a workdir (others log nothing).
"""

from __future__ import annotations

import json
import logging
import pathlib
from typing import Any

log = logging.getLogger(__name__)


class MetricWriter:
  """write_scalars(step, {name: value}) to the console, metrics.jsonl and TensorBoard if any."""

  def __init__(self, workdir: pathlib.Path | None, *, resume_step: int | None = None):
    """`resume_step`: the step a resumed run restarts from; later lines are dropped first."""
    self._file = None
    self._tb = None
    if workdir is None:
      return
    path = workdir / "metrics.jsonl"
    if resume_step is not None and path.exists():
      truncate_after(path, resume_step)
    self._file = open(path, "a", buffering=1)
    try:
      import tensorflow  # noqa: F401  (clu's summary writer needs it)
      from clu import metric_writers
      self._tb = metric_writers.SummaryWriter(str(workdir / "tensorboard"))
    except ImportError:
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


def truncate_after(path: pathlib.Path, step: int) -> None:
  """Keeps the lines of metrics.jsonl with step <= `step` (and drops a torn last line), atomically.

  A run killed after logging step s but before its checkpoint at c < s resumes at c and logs
  c+1.. again; without this the file would hold those steps twice.
  """
  from rde_jax.masks_io import write_atomic
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
    write_atomic(path, "".join(f"{line}\n" for line in kept).encode())
    log.info("%s: dropped %d lines after step %d (a killed run's)", path, dropped, step)
