"""One opened video in the app: its frame previews, annotations, results and propagation runs.

Everything lives in the session's temporary folder, never all in RAM:
  preview/<t>.jpg    the frames as the page shows them (decoded once, streaming)
  run<N>/<t>.png     masks of run N, as rde-segment writes them (DAVIS palette PNG bytes)
Results are (frame -> PNG file). A propagation runs in a background thread and is committed only
when it reaches the last frame: a cancelled or failed run leaves the earlier results as they
were. Propagating from frame t keeps the results before t and replaces those from t on; t becomes
the annotated frame for the rest of the video (later annotations are dropped).
"""

from __future__ import annotations

import itertools
import shutil
import threading
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from absl import logging
from PIL import Image

from rde_jax import api
from rde_jax.errors import DataError, UserError
from rde_jax.fileio import label_png, video_reader
from rde_jax.fileio.overlay import OverlayWriter
from rde_jax.inference.settings import InferenceSettings
from rde_jax.inference.timing import RunStats


class Busy(UserError):
  """The request needs the session idle (a propagation is running): HTTP 409."""


class Session:
  """A video opened in the app: `source` (frames, decoded again for every run) and its folder."""

  def __init__(self, folder: Path, source: video_reader.FrameSource, title: str,
               model: api.VOSModel):
    self.folder, self.source, self.title, self.model = folder, source, title, model
    self.lock = threading.Lock()
    self.annotations: dict[int, np.ndarray] = {}  # frame -> (H,W) uint8 ids
    self.results: dict[int, Path] = {}  # frame -> label PNG (DAVIS palette)
    self.version = 0  # bumped when results change (downloads are rebuilt)
    self.runs: list[dict[str, Any]] = []  # the committed runs, in order
    self.progress: dict[str, Any] = {"status": "idle"}
    self._cancel = threading.Event()
    self._thread: threading.Thread | None = None
    self._run_count = itertools.count()
    self.size = source.size
    self.num_frames = self._write_previews()

  # -- frames ----------------------------------------------------------------------------------
  def _write_previews(self) -> int:
    """Decodes the video once (streaming): a JPEG per frame for the page; the exact count."""
    preview = self.folder / "preview"
    preview.mkdir()
    t = -1
    for t, frame in enumerate(self.source):
      Image.fromarray(frame).save(preview / f"{t:06d}.jpg", quality=90)
    if t < 0:
      raise DataError(f"{self.title}: the video has no frames")
    return t + 1

  def info(self) -> dict[str, Any]:
    h, w = self.size
    return {"title": self.title, "frames": self.num_frames, "width": w, "height": h,
            "fps": self.source.fps, "names": [self.source.name(t) for t in
                                               range(self.num_frames)]}

  def frame_path(self, t: int) -> Path:
    return self.folder / "preview" / f"{self._frame(t):06d}.jpg"

  def _frame(self, t: Any) -> int:
    try:
      t = int(t)
    except (TypeError, ValueError):
      raise UserError(f"frame: expected a frame index, got {t!r}") from None
    if not 0 <= t < self.num_frames:
      raise UserError(f"frame {t} is outside the video (0..{self.num_frames - 1})")
    return t

  # -- masks -----------------------------------------------------------------------------------
  def ids(self, t: int) -> np.ndarray:
    """(H,W) uint8 ids shown at frame t: its annotation, else its result, else background."""
    t = self._frame(t)
    with self.lock:
      if t in self.annotations:
        return self.annotations[t]
      path = self.results.get(t)
    if path is not None:
      return np.asarray(Image.open(path))
    return np.zeros(self.size, np.uint8)

  def set_annotation(self, t: int, ids: np.ndarray, name: str = "mask") -> list[int]:
    """Frame t's mask ((H,W) ids; 255 is void when other objects are present, as in
    rde-segment); returns its object ids."""
    t = self._frame(t)
    compact, lut = api.prepare_mask(ids, self.size, name=name, notes=False)
    ids = lut[compact]
    with self.lock:
      self.annotations[t] = ids
    return [int(i) for i in np.unique(ids) if i]

  def set_annotation_png(self, t: int, data: bytes, name: str) -> list[int]:
    """A label PNG upload (indexed or grayscale; a 0/255 mask is one object)."""
    stored = self.folder / "mask_upload.png"
    stored.write_bytes(data)
    try:
      labels = label_png.read_label_image(stored, binary_255_is_one=True)
    except DataError as e:
      raise DataError(str(e).replace(str(stored), name)) from e
    return self.set_annotation(t, labels, name)

  # -- propagation -----------------------------------------------------------------------------
  def propagate(self, settings: InferenceSettings, start: int) -> None:
    """Starts a run from the annotation of frame `start` in a background thread."""
    start = self._frame(start)
    with self.lock:
      if self.running:
        raise Busy("a propagation is running; cancel it or wait for it to finish")
      if start not in self.annotations:
        raise UserError(f"frame {start} has no mask: paint the objects on it (or upload a "
                        "label PNG) before propagating")
      mask = self.annotations[start]
      self._cancel.clear()
      self.progress = {"status": "running", "start": start, "done": 0,
                       "total": self.num_frames - start, "fps": 0.0, "seconds": 0.0,
                       "settings": settings.to_dict()}
      run_dir = self.folder / f"run{next(self._run_count)}"
      self._thread = threading.Thread(target=self._run, name="rde-app-propagate", daemon=True,
                                      args=(settings, start, mask, run_dir))
      self._thread.start()

  @property
  def running(self) -> bool:
    """A run is in progress (its thread sets the final status as its very last step)."""
    return self.progress.get("status") == "running"

  def cancel(self) -> bool:
    """Asks the running propagation to stop (its results are dropped); False when none runs."""
    self._cancel.set()
    return self.running

  def wait(self, timeout: float | None = None) -> None:
    if self._thread is not None:
      self._thread.join(timeout)

  def _run(self, settings: InferenceSettings, start: int, mask: np.ndarray,
           run_dir: Path) -> None:
    began = time.perf_counter()
    try:
      staged = self._segment(settings, start, mask, run_dir, began)
    except BaseException as e:  # reported in the page; the earlier results stay
      if isinstance(e, UserError):
        message = str(e)
      else:
        logging.error("propagation failed:\n%s", traceback.format_exc())
        message = f"internal error ({type(e).__name__}); see the server log"
      shutil.rmtree(run_dir, ignore_errors=True)
      with self.lock:  # the last step: the session is idle from here on
        self.progress = {**self.progress, "status": "error", "error": message}
      return
    if staged is None:
      shutil.rmtree(run_dir, ignore_errors=True)
      with self.lock:
        self.progress = {**self.progress, "status": "cancelled"}
      return
    with self.lock:
      self.results.update(staged)
      for t in [t for t in self.annotations if t > start]:
        del self.annotations[t]  # the corrected frame is the annotated one from here on
      self.version += 1
      self.runs.append({"start_frame": start, "frames": len(staged),
                        "seconds": self.progress["seconds"], "settings": settings.to_dict()})
      self.progress = {**self.progress, "status": "done"}

  def _segment(self, settings: InferenceSettings, start: int, mask: np.ndarray, run_dir: Path,
               began: float) -> dict[int, Path] | None:
    """Writes run_dir/<t>.png for t >= start (and background for earlier frames without a
    result); None when cancelled."""
    run_dir.mkdir()
    # as rde-segment: never pad a chunk beyond the video
    settings = settings.replace(chunk=max(1, min(settings.chunk, self.num_frames - start - 1)))
    stats = RunStats()
    staged: dict[int, Path] = {}
    stream = self.model.segment_iter(iter(self.source), mask, settings, start_frame=start,
                                     stats=stats)
    try:
      for t, labels in stream:
        if self._cancel.is_set():
          return None
        if t < start and t in self.results:
          continue
        path = run_dir / f"{t:06d}.png"
        path.write_bytes(label_png.encode_label_png(labels))
        staged[t] = path
        if t >= start:
          seconds = time.perf_counter() - began
          done = t - start + 1
          with self.lock:
            self.progress.update(done=done, seconds=seconds, fps=done / max(seconds, 1e-9),
                                 compile_seconds=stats.compile_seconds)
    finally:
      stream.close()
    if self._cancel.is_set():
      return None
    with self.lock:
      self.progress.update(model_fps=stats.fps if stats.model_seconds > 0 else None)
    return staged

  # -- downloads -------------------------------------------------------------------------------
  def _complete_results(self) -> list[tuple[int, Path]]:
    with self.lock:
      if self.running:
        raise Busy("a propagation is running; download when it is done")
      if not self.results:
        raise UserError("no results yet: propagate first")
      return sorted(self.results.items())

  def masks_zip(self) -> Path:
    """masks/<frame name>.png of every frame with a result (what rde-segment writes)."""
    items = self._complete_results()
    path = self.folder / f"masks_v{self.version}.zip"
    if not path.exists():
      tmp = path.with_suffix(".partial")
      with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for t, png in items:
          z.write(png, f"masks/{self.source.name(t)}.png")
      tmp.replace(path)
    return path

  def overlay(self) -> Path:
    """The masks over the frames as overlay.mp4 (imageio-ffmpeg) or overlay.gif."""
    items = dict(self._complete_results())
    stem = self.folder / f"overlay_v{self.version}"
    for ext in (".mp4", ".gif"):
      if stem.with_suffix(ext).exists():
        return stem.with_suffix(ext)
    with OverlayWriter(stem, fps=self.source.fps) as writer:
      for t, frame in enumerate(self.source):
        ids = (np.asarray(Image.open(items[t])) if t in items
               else np.zeros(frame.shape[:2], np.uint8))
        writer.append(frame, ids)
    return writer.path

  def settings_record(self) -> dict[str, Any]:
    """What the downloads were made with: each committed run's start frame and settings."""
    with self.lock:
      return {"video": self.title, "checkpoint": self.model.source, "frames": self.num_frames,
              "runs": list(self.runs),
              "rde_segment": _segment_command(self.runs[-1]) if self.runs else None}

  def close(self) -> None:
    self.cancel()
    self.wait(60)
    shutil.rmtree(self.folder, ignore_errors=True)


def _segment_command(run: dict[str, Any]) -> str:
  """The rde-segment flags giving the same masks from that run's annotated frame on."""
  s = run["settings"]
  flags = [f"--{k} {s[k]}" for k in ("mem_every", "top_k", "memory_mode", "dtype",
                                     "conv_algorithm", "chunk")]
  if s.get("max_side"):
    flags.append(f"--max_side {s['max_side']}")
  if s.get("include_last"):
    flags.append("--include_last")
  return f"rde-segment --start_frame {run['start_frame']} " + " ".join(flags)


def decode_ids(data: bytes, size: tuple[int, int]) -> np.ndarray:
  """Raw (H*W,) uint8 ids from the page -> (H,W)."""
  h, w = size
  if len(data) != h * w:
    raise DataError(f"mask: expected {w}x{h} = {h * w} ids, got {len(data)} bytes")
  return np.frombuffer(data, np.uint8).reshape(h, w)


def encode_ids(ids: np.ndarray) -> bytes:
  return np.ascontiguousarray(ids, np.uint8).tobytes()

