"""The eval.py driver: model, devices, the resumable per-video loop and the summary.

Layout of a workdir:
  results/              the benchmark's result folder (PNGs; DAVIS CSVs)
  videos/<name>.json    per-video record, written LAST: a video with a record is done
  vis/<name>.mp4|gif    overlays (config.vis)
  summary.json          global summary (scores, FPS, settings, device, versions, hosts)
  submission.zip        (config.zip) the results in the evaluation server's layout
  hosts/<i>.json        (several processes) what process i ran, on which devices, how long
  preempted/<i>         (several processes) process i got SIGTERM; removed by the next run

A killed run restarted with the same workdir reuses every video whose record exists and was
made with the same settings (`config.settings`), and recomputes the others. SIGTERM stops a run
cleanly (`evaluation.sigterm_marker`). The workdir may be local or on cloud storage (`gs://...`,
`fileio.storage`).

Several processes (`eval.py --multihost`, after `jax.distributed.initialize`): process 0 decides
which videos are done, every process runs its share of the rest (`multihost.assign`: longest
first, balanced by frames) one video per local device and writes its outputs into the shared
workdir; process 0 waits for all, then writes the CSVs, the zip and summary.json, which every
process returns.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import platform
import queue
import shutil
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Sequence

import jax
import ml_collections
import numpy as np
from absl import logging
from etils import epath

from rde_jax import api, inference, multihost, runtime, validate
from rde_jax.data.vos_layouts import VideoFiles
from rde_jax.evaluation import config as config_lib
from rde_jax.evaluation.sigterm_marker import Preempted, Watch
from rde_jax.fileio import atomic, storage
from rde_jax.fileio.video_outputs import VideoOutputs


class Task:
  """One benchmark. Subclasses list videos, segment one video, and write the final files."""

  name = "task"
  stop: Callable[[], bool] = staticmethod(lambda: False)  # set by `run`: preemption requested?

  def __init__(self, cfg: ml_collections.ConfigDict, workdir: epath.Path):
    self.cfg, self.workdir = cfg, workdir
    self.settings = config_lib.inference_settings(cfg)
    self.results = workdir / "results"

  def videos(self) -> list[VideoFiles]:
    raise NotImplementedError

  def run_video(self, video: VideoFiles, engine: inference.Engine) -> dict[str, Any]:
    """Writes the video's outputs; returns its JSON-able record."""
    raise NotImplementedError

  def outputs(self, name: str, *, fps: float, binary: bool = False) -> VideoOutputs:
    """The writer of a video's PNGs (`output_dir`) and, with config.vis, its overlay."""
    stem = self.workdir / "vis" / name if self.cfg.vis else None
    return _StoppableOutputs(self.output_dir(name), binary=binary, overlay_stem=stem, fps=fps,
                             max_side=self.cfg.vis_max_side, stop=self.stop)

  def relative(self, path: epath.Path | None) -> str | None:
    """A path inside the workdir as the records store it (None stays None)."""
    return path.relative_to(self.workdir).as_posix() if path is not None else None

  def finalize(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Global files (CSVs, zip) from every video's record; returns summary entries."""
    return {}

  def output_dir(self, name: str) -> epath.Path:
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
  path = storage.canonical(path)
  meta = storage.as_path(path) / "model.json"
  if not meta.exists():
    meta = storage.as_path(path) / "model" / "model.json"
  stamp = None
  if meta.exists():
    stamp = meta.stat().mtime if storage.is_remote(path) else os.stat(meta).st_mtime_ns
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


def _marker(workdir: epath.Path, name: str) -> epath.Path:
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


class _StoppableOutputs(VideoOutputs):
  """The per-video writer, stopping the video (Preempted) when `stop()` says so."""

  def __init__(self, *args: Any, stop: Callable[[], bool], **kwargs: Any):
    super().__init__(*args, **kwargs)
    self._stop = stop

  def write(self, name: str, ids: np.ndarray, frame: np.ndarray | None = None) -> None:
    if self._stop():
      raise Preempted(f"stopped before frame {name} of {self.folder.name}")
    super().write(name, ids, frame)


def _cache_dir(cfg: ml_collections.ConfigDict, workdir: epath.Path) -> str:
  """The compilation cache folder ('workdir' = <workdir>/jax_cache, local workdirs only)."""
  if cfg.compilation_cache != "workdir":
    return cfg.compilation_cache
  if storage.is_remote(workdir):
    logging.warning("compilation_cache='workdir' needs a local workdir; the cache is off")
    return ""
  return os.fspath(workdir / "jax_cache")


def _setup(cfg: ml_collections.ConfigDict, workdir: epath.Path,
           make_task: Callable[[ml_collections.ConfigDict, epath.Path], Task]
           ) -> tuple[Task, list[VideoFiles], api.VOSModel]:
  """Creates the workdir, sets up JAX, lists the videos, loads the model, checks the devices."""
  workdir.mkdir(parents=True, exist_ok=True)
  runtime.configure(matmul_precision=cfg.matmul_precision,
                    compilation_cache=_cache_dir(cfg, workdir))
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
  select_devices(int(cfg.num_devices))  # a bad count fails here, before any video
  return task, videos, model


def run(cfg: ml_collections.ConfigDict, workdir: str | os.PathLike,
        make_task: Callable[[ml_collections.ConfigDict, epath.Path], Task]) -> dict[str, Any]:
  """Evaluates the benchmark `make_task(cfg, workdir)` into `workdir`; returns the summary
  (also written to summary.json). Raises Preempted after SIGTERM (rerun to resume)."""
  config_lib.validate(cfg)
  wall = time.perf_counter()
  workdir = storage.as_path(validate.workdir("--workdir", workdir))
  created = not storage.is_remote(workdir) and not workdir.exists()
  try:
    task, videos, model = _setup(cfg, workdir, make_task)
  except BaseException:
    if created:  # a run that fails before its first video leaves no empty workdir behind
      shutil.rmtree(workdir, ignore_errors=True)
    raise
  settings = config_lib.settings(cfg)
  process, shared = jax.process_index(), multihost.is_multihost()
  watch = Watch(workdir, process, shared)
  try:
    records: dict[str, dict[str, Any]] = {}
    if process == 0:
      watch.clear()
      for v in videos:
        done = _done(task, v.name, settings)
        if done is not None:
          records[v.name] = done
    # Process 0's view of what is done, on every process: one assignment everywhere.
    done_flags = multihost.broadcast_flags([v.name in records for v in videos])
    todo = [v for v, done in zip(videos, done_flags) if not done]
    logging.info("%d videos: %d done, %d to segment", len(videos), len(videos) - len(todo),
                 len(todo))
    share = multihost.assign([len(v.frames) for v in todo], jax.process_count())[process]
    mine = [todo[i] for i in share]
    task.stop = watch.requested
    mine_records, preempted, host_wall = _segment(cfg, task, model, settings, mine, watch)
    records.update(mine_records)
    host = _host_entry(process, mine_records, mine, host_wall)
    if shared:
      atomic.write_json(workdir / "hosts" / f"{process}.json", host)
    if multihost.any_process(preempted):  # every process agrees (and has finished writing)
      raise Preempted(f"{workdir}: stopped on SIGTERM; rerun the same command to resume")
  finally:
    watch.restore()
  if process == 0:
    for v in todo:  # videos the other processes ran: their records are in the workdir
      if v.name not in records:
        record = _done(task, v.name, settings)
        if record is None:
          raise RuntimeError(f"{_marker(workdir, v.name)}: no complete record after every "
                             "process finished")
        records[v.name] = record
    ordered = [records[v.name] for v in videos]
    summary = _summary(cfg, task, ordered, [v.name for v in todo], time.perf_counter() - wall)
    summary.update(_hosts_summary(workdir, host) if shared else {"processes": 1,
                                                                 "hosts": [host]})
    summary.update(task.finalize(ordered))
    atomic.write_json(workdir / "summary.json", summary)
  multihost.barrier("rde_jax.evaluation: summary written")
  if process != 0:
    summary = json.loads((workdir / "summary.json").read_text())
  return summary


def _segment(cfg: ml_collections.ConfigDict, task: Task, model: api.VOSModel,
             settings: dict[str, Any], videos: Sequence[VideoFiles],
             watch: Watch) -> tuple[dict[str, dict[str, Any]], bool, float]:
  """Runs `videos`, one per local device. Returns (records, preempted, wall seconds)."""
  t0 = time.perf_counter()
  devices = select_devices(int(cfg.num_devices))
  free: queue.Queue = queue.Queue()
  for d in devices:
    free.put(d)

  def work(video: VideoFiles) -> dict[str, Any]:
    device = free.get()
    try:
      if watch.requested():
        raise Preempted(f"stopped before {video.name}")
      engine = model.engine(task.settings, device)
      record = task.run_video(video, engine)
      record.update(settings=settings, device=str(device or jax.local_devices()[0]))
      if jax.process_count() > 1:
        record["process"] = jax.process_index()
      atomic.write_json(_marker(task.workdir, video.name), record)
      logging.info("%s: %d frames, %.1f FPS%s", video.name, record["frames"], record["fps"],
                   f", J&F {record['J&F']:.3f}" if record.get("J&F") is not None else "")
      return record
    finally:
      free.put(device)

  records: dict[str, dict[str, Any]] = {}
  with concurrent.futures.ThreadPoolExecutor(len(devices)) as pool:
    futures = {v.name: pool.submit(work, v) for v in videos}
    try:
      for name, fut in futures.items():
        records[name] = fut.result()
    except Preempted as e:
      logging.warning("%s", e)
      pool.shutdown(wait=True, cancel_futures=True)
      return records, True, time.perf_counter() - t0
    except BaseException:
      pool.shutdown(wait=True, cancel_futures=True)
      raise
  return records, False, time.perf_counter() - t0


def _host_entry(process: int, records: dict[str, dict[str, Any]], videos: Sequence[VideoFiles],
                wall: float) -> dict[str, Any]:
  """What this process ran this time: videos, frames, devices, seconds."""
  return {"process": process, "host": platform.node(),
          "devices": [str(d) for d in jax.local_devices()],
          "videos": [v.name for v in videos],
          "frames": sum(r["frames"] for r in records.values()),
          "model_seconds": sum(r["model_seconds"] for r in records.values()),
          "wall_seconds": wall}


def _hosts_summary(workdir: epath.Path, own: dict[str, Any]) -> dict[str, Any]:
  hosts = [own] + [json.loads((workdir / "hosts" / f"{i}.json").read_text())
                   for i in range(1, jax.process_count())]
  return {"processes": jax.process_count(), "global_devices": jax.device_count(),
          "hosts": hosts}


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
      "environment": runtime.environment(dtype=task.settings.dtype,
                                         conv_algorithm=task.settings.conv_algorithm_for(
                                             jax.default_backend())),
  }
