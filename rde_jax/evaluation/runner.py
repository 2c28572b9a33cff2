"""The eval.py driver: model, devices, the resumable per-video loop and the summary.

Layout of a workdir:
  results/              the benchmark's result folder (PNGs; DAVIS CSVs)
  videos/<name>.json    per-video record, written LAST: a video with a record is done
  vis/<name>.mp4|gif    overlays (config.vis)
  summary.json          global summary (scores, FPS, settings, device, versions)
  submission.zip        (config.zip) the results in the evaluation server's layout

A killed run restarted with the same workdir reuses every video whose record exists and was
made with the same settings (`config.settings`), and recomputes the others.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import jax
import ml_collections
import numpy as np
from absl import logging

from rde_jax import api, inference, runtime
from rde_jax.data.folders import VideoFiles
from rde_jax.evaluation import config as config_lib
from rde_jax.fileio import atomic
from rde_jax.fileio.video_outputs import VideoOutputs


class Task:
  """One benchmark. Subclasses list videos, segment one video, and write the final files."""

  name = "task"

  def __init__(self, cfg: ml_collections.ConfigDict, workdir: Path):
    self.cfg, self.workdir = cfg, workdir
    self.results = workdir / "results"

  def videos(self) -> list[VideoFiles]:
    raise NotImplementedError

  def run_video(self, video: VideoFiles, engine: inference.Engine) -> dict[str, Any]:
    """Writes the video's outputs; returns its JSON-able record."""
    raise NotImplementedError

  def outputs(self, name: str, *, fps: float, binary: bool = False) -> VideoOutputs:
    """The writer of a video's PNGs (`output_dir`) and, with config.vis, its overlay."""
    stem = self.workdir / "vis" / name if self.cfg.vis else None
    return VideoOutputs(self.output_dir(name), binary=binary, overlay_stem=stem, fps=fps,
                        max_side=self.cfg.vis_max_side)

  def relative(self, path: Path | None) -> str | None:
    """A path inside the workdir as the records store it (None stays None)."""
    return path.relative_to(self.workdir).as_posix() if path is not None else None

  def finalize(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Global files (CSVs, zip) from every video's record; returns summary entries."""
    return {}

  def output_dir(self, name: str) -> Path:
    """Folder of a video's PNGs."""
    return self.results / name

  def complete(self, record: dict[str, Any]) -> bool:
    """Are a finished video's PNGs (record['written'] of them) still all there?"""
    folder = self.output_dir(record["name"])
    return folder.is_dir() and len(list(folder.glob("*.png"))) >= record.get("written", 1)

  def bucket(self, size: tuple[int, int]) -> tuple[int, int] | None:
    """Smallest configured shape bucket holding `size` padded to multiples of 16 (None: none)."""
    need = [-(-int(x) // 16) * 16 for x in size]
    fits = [tuple(map(int, b)) for b in self.cfg.shape_buckets
            if b[0] >= need[0] and b[1] >= need[1]]
    if self.cfg.shape_buckets and not fits:
      logging.warning("no shape bucket holds %s; using the official padding", tuple(size))
    return min(fits, key=lambda b: b[0] * b[1]) if fits else None


def tee(frames: Iterable[np.ndarray], keep: Any) -> Iterator[np.ndarray]:
  """Passes frames through, appending each to `keep` (a deque) when it is not None."""
  for f in frames:
    if keep is not None:
      keep.append(f)
    yield f


_MODELS: dict[Any, api.VOSModel] = {}
_MODELS_LOCK = threading.Lock()


def load_model(path: str, arch: str) -> api.VOSModel:
  """`api.load` cached per process (same checkpoint files and arch): compiled code is reused."""
  path = os.path.abspath(os.path.expanduser(path))
  meta = Path(path) / "model.json"
  if not meta.exists():
    meta = Path(path) / "model" / "model.json"
  stamp = meta.stat().st_mtime_ns if meta.exists() else None
  key = (path, stamp, arch)
  with _MODELS_LOCK:
    if key not in _MODELS:
      model = api.load(path, arch=arch or None)
      while len(_MODELS) >= 2:
        _MODELS.pop(next(iter(_MODELS)))
      _MODELS[key] = model
    return _MODELS[key]


def select_devices(n: int) -> list[jax.Device | None]:
  devices = jax.local_devices()
  n = n or len(devices)
  if n > len(devices):
    raise config_lib.ConfigError(f"config.num_devices={n} but only {len(devices)} local devices "
                     f"({jax.default_backend()})")
  return [None] if n == 1 else devices[:n]


def _marker(workdir: Path, name: str) -> Path:
  return workdir / "videos" / f"{name}.json"


def _done(task: Task, name: str, settings: dict[str, Any]) -> dict[str, Any] | None:
  """The record of a finished video whose outputs are all present, else None."""
  path = _marker(task.workdir, name)
  try:
    record = json.loads(path.read_text())
  except (OSError, ValueError):
    return None
  if record.get("settings") != settings:
    logging.warning("%s: made with other settings; recomputing", path)
    return None
  if not task.complete(record):
    logging.warning("%s: outputs missing; recomputing", name)
    return None
  if task.cfg.vis and not (record.get("overlay") and (task.workdir / record["overlay"]).exists()):
    return None
  return record


def run(cfg: ml_collections.ConfigDict, workdir: str | os.PathLike,
        make_task: Callable[[ml_collections.ConfigDict, Path], Task]) -> dict[str, Any]:
  """Evaluates the benchmark `make_task(cfg, workdir)` into `workdir`; returns the summary
  (also written to summary.json)."""
  config_lib.validate(cfg)
  wall = time.perf_counter()
  workdir = Path(workdir).absolute()
  workdir.mkdir(parents=True, exist_ok=True)
  cache = cfg.compilation_cache
  runtime.configure(matmul_precision=cfg.matmul_precision,
                    compilation_cache=str(workdir / "jax_cache") if cache == "workdir" else cache)
  task = make_task(cfg, workdir)
  videos = task.videos()
  if cfg.videos:
    names = {v.name for v in videos}
    unknown = sorted(set(cfg.videos) - names)
    if unknown:
      raise config_lib.ConfigError(f"config.videos: not in the split: {unknown}")
    videos = [v for v in videos if v.name in set(cfg.videos)]
  if cfg.num_videos:
    videos = videos[:cfg.num_videos]
  model = load_model(cfg.checkpoint, cfg.arch)
  settings = config_lib.settings(cfg)
  records: dict[str, dict[str, Any]] = {}
  todo = []
  for v in videos:
    done = _done(task, v.name, settings)
    if done is not None:
      records[v.name] = done
    else:
      todo.append(v)
  logging.info("%d videos: %d done, %d to segment", len(videos), len(records), len(todo))
  devices = select_devices(int(cfg.num_devices))
  free: queue.Queue = queue.Queue()
  for d in devices:
    free.put(d)

  def work(video: VideoFiles) -> dict[str, Any]:
    device = free.get()
    try:
      engine = model.engine(top_k=cfg.top_k, dtype=cfg.dtype, memory_mode=cfg.memory_mode,
                            device=device)
      record = task.run_video(video, engine)
      record.update(settings=settings, device=str(device or jax.local_devices()[0]))
      atomic.write_json(_marker(workdir, video.name), record)
      logging.info("%s: %d frames, %.1f FPS%s", video.name, record["frames"], record["fps"],
                   f", J&F {record['J&F']:.3f}" if record.get("J&F") is not None else "")
      return record
    finally:
      free.put(device)

  with concurrent.futures.ThreadPoolExecutor(len(devices)) as pool:
    futures = {v.name: pool.submit(work, v) for v in todo}
    try:
      for name, fut in futures.items():
        records[name] = fut.result()
    except BaseException:
      pool.shutdown(wait=True, cancel_futures=True)
      raise
  ordered = [records[v.name] for v in videos]
  summary = _summary(cfg, task, ordered, [v.name for v in todo], time.perf_counter() - wall)
  summary.update(task.finalize(ordered))
  atomic.write_json(workdir / "summary.json", summary)
  return summary


def _summary(cfg: ml_collections.ConfigDict, task: Task, records: Sequence[dict[str, Any]],
             computed: Sequence[str], wall: float) -> dict[str, Any]:
  frames = sum(r["frames"] for r in records)
  model_s = sum(r["model_seconds"] for r in records)
  return {
      "benchmark": task.name,
      "num_videos": len(records),
      "frames": frames,
      "model_seconds": model_s,
      # The paper's FPS: frames / model time (reading, writing and compilation excluded).
      "fps": frames / model_s if model_s > 0 else None,
      "compile_seconds": sum(r.get("compile_seconds", 0.0) for r in records),
      "wall_seconds_this_run": wall,
      "computed_this_run": list(computed),
      "videos": {r["name"]: {k: r.get(k) for k in ("frames", "objects", "fps", "J&F")}
                 for r in records},
      "config": cfg.to_dict(),
      "environment": runtime.environment(dtype=cfg.dtype),
  }
