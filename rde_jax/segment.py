r"""Segment your own video from a first-frame mask.

  python -m rde_jax.segment --checkpoint models/rde_s012 --video clip.mp4 --mask first.png \
      --out out/clip [--max_side 480] [--dtype bfloat16] [--start_frame 0] [--resize_mask]

INPUT (--video): a folder of JPEG/PNG frames (natural name order), a GIF, or a video file
(MP4/AVI/MOV/MKV/WEBM: needs the optional extra `pip install imageio-ffmpeg`, or PyAV).
--mask: label image of the annotated frame: indexed (palette) or grayscale PNG, 0 = background,
1..K objects (a grey 0/255 mask is one object); 16-bit PNGs are accepted when ids <= 255.

Writes into --out:
  masks/<frame>.png   one indexed PNG per frame (DAVIS palette; the frame file's stem for
                      folders, else 00000, 00001, ...), at the original frame size
  overlay.mp4         masks over the frames (overlay.gif when imageio-ffmpeg is not installed)
  summary.json        frames, objects, FPS, settings, device and versions
--start_frame S: the mask belongs to frame S; propagation runs forward from S and frames before
S are written as background (all zeros). --max_side resizes frames for speed (masks come back at
the original size). Inputs are validated before anything is written, and outputs are staged in
a hidden folder and moved into place at the end: a failed run leaves no partial files.
"""

from __future__ import annotations

import collections
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from absl import app, flags, logging

from rde_jax import (api, checkpoint, cpu_settings, inference, masks_io, overlay, progress,
                     runtime, video_io)
from rde_jax.data.imageio import DataError

_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Model dir (python -m rde_jax.convert).")
_VIDEO = flags.DEFINE_string("video", None, "Frame folder, GIF or video file.")
_MASK = flags.DEFINE_string("mask", None, "Label PNG of the annotated frame.")
_OUT = flags.DEFINE_string("out", None, "Output folder.")
_ARCH = flags.DEFINE_string("arch", "", "Expected architecture ('official', 'tiny'); '' = any.")
_MEM_EVERY = flags.DEFINE_integer("mem_every", 3, "RDE update every N frames.")
_TOP_K = flags.DEFINE_integer("top_k", 40, "Top-k memory read-out.")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Compute dtype.")
_PRECISION = flags.DEFINE_string("matmul_precision", "default", "jax_default_matmul_precision.")
_MAX_SIDE = flags.DEFINE_integer("max_side", 0, "Run at long side <= this (0: native size).")
_START = flags.DEFINE_integer("start_frame", 0, "Index of the annotated frame.")
_RESIZE_MASK = flags.DEFINE_bool("resize_mask", False, "Resize a mask of another size (nearest).")
_CHUNK = flags.DEFINE_integer("chunk", 8, "Frames per device call.")
_OVERLAY = flags.DEFINE_bool("overlay", True, "Write the overlay video.")
_PROGRESS = flags.DEFINE_bool("progress", True, "Progress bar on stderr.")


def _frames_from(source: video_io.FrameSource, start: int,
                 keep: collections.deque | None) -> tuple[list[np.ndarray], Iterator[np.ndarray]]:
  """(frames before `start`, iterator from `start` on); frames fed on are also kept for overlays."""
  it = iter(source)
  before = []
  for _ in range(start):
    f = next(it, None)
    if f is None:
      raise DataError(f"--start_frame {start} is beyond the end of the video "
                      f"({len(before)} frames)")
    before.append(f)

  def feed() -> Iterator[np.ndarray]:
    for f in it:
      if keep is not None:
        keep.append(f)
      yield f
  return before, feed()


def segment_to_folder(model: api.VOSModel, video: str | os.PathLike, mask: str | os.PathLike,
                      out: str | os.PathLike, *, mem_every: int = 3, top_k: int = 40,
                      dtype: str = "float32", max_side: int | None = None, start_frame: int = 0,
                      resize_mask: bool = False, chunk: int = 8, write_overlay: bool = True,
                      show_progress: bool = False) -> dict[str, Any]:
  """Validates the inputs, segments the video and writes masks/, the overlay and summary.json."""
  source = video_io.open_video(video)
  labels = masks_io.read_label_image(mask, binary_255_is_one=True)
  compact, lut = api.prepare_mask(labels, source.size, resize_mask=resize_mask,
                                  name=os.fspath(mask))
  if start_frame < 0 or (source.num_frames and isinstance(source, video_io.FrameFiles)
                         and start_frame >= source.num_frames):
    raise DataError(f"--start_frame {start_frame} is outside the video "
                    f"({source.num_frames} frames)")
  out = Path(out)
  created = not out.exists()
  out.mkdir(parents=True, exist_ok=True)
  stage = Path(tempfile.mkdtemp(dir=out, prefix=".partial-"))
  try:
    summary = _run(model, source, compact, lut, stage, mem_every=mem_every, top_k=top_k,
                   dtype=dtype, max_side=max_side, start=start_frame, chunk=chunk,
                   write_overlay=write_overlay, show_progress=show_progress)
    summary.update(video=os.fspath(video), mask=os.fspath(mask), checkpoint=model.source,
                   out=os.fspath(out))
    _publish(stage, out)
    checkpoint.write_json_atomic(out / "summary.json", summary)
    return summary
  except BaseException:
    shutil.rmtree(stage, ignore_errors=True)
    if created and not any(out.iterdir()):
      out.rmdir()
    raise


def _run(model: api.VOSModel, source: video_io.FrameSource, compact: np.ndarray, lut: np.ndarray,
         stage: Path, *, mem_every: int, top_k: int, dtype: str, max_side: int | None, start: int,
         chunk: int, write_overlay: bool, show_progress: bool) -> dict[str, Any]:
  masks_dir = stage / "masks"
  masks_dir.mkdir()
  keep = collections.deque() if write_overlay else None
  writer = overlay.OverlayWriter(stage / "overlay", fps=source.fps) if write_overlay else None
  bar = progress.Progress(source.num_frames, "segment")
  bar.enabled = show_progress
  stats = inference.RunStats()
  wall = time.perf_counter()
  try:
    before, rest = _frames_from(source, start, keep)
    empty = np.zeros(source.size, np.uint8)
    for t, frame in enumerate(before):
      masks_io.write_label_png(masks_dir / f"{source.name(t)}.png", empty)
      if writer:
        writer.append(frame, empty)
      bar.update()
    prop = model.propagator(top_k=top_k, dtype=dtype)
    for t, labels in inference.propagate(
        prop, rest, compact, mem_every=mem_every, chunk=chunk, output="labels", stats=stats,
        work_size=api.work_size(source.size, max_side)):
      ids = lut[labels]
      masks_io.write_label_png(masks_dir / f"{source.name(start + t)}.png", ids)
      if writer:
        writer.append(keep.popleft(), ids)
      bar.update()
    overlay_path = writer.close().name if writer else None
  except BaseException:
    if writer:
      writer.abort()
    raise
  finally:
    bar.close()
  return {
      "frames": start + stats.frames, "segmented_frames": stats.frames, "start_frame": start,
      "objects": [int(i) for i in lut[1:] if i], "size": list(source.size),
      "work_size": list(api.work_size(source.size, max_side) or source.size),
      "fps": stats.fps, "model_seconds": stats.model_seconds,
      "compile_seconds": stats.compile_seconds, "read_seconds": stats.read_seconds,
      "wall_seconds": time.perf_counter() - wall, "overlay": overlay_path, "masks": "masks",
      "settings": {"mem_every": mem_every, "top_k": top_k, "dtype": dtype, "max_side": max_side,
                   "chunk": chunk, "arch": model.arch.to_config().to_dict()},
      "environment": runtime.environment(dtype=dtype),
  }


def _publish(stage: Path, out: Path) -> None:
  """Moves the staged outputs into `out` (replacing an earlier run's masks/ and overlay)."""
  old = out / "masks"
  if old.exists():
    os.replace(old, stage / ".old_masks")
  os.replace(stage / "masks", old)
  for f in stage.glob("overlay.*"):
    for stale in out.glob("overlay.*"):
      stale.unlink()
    os.replace(f, out / f.name)
  shutil.rmtree(stage)


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  missing = [f"--{n}" for n, f in (("checkpoint", _CHECKPOINT), ("video", _VIDEO), ("mask", _MASK),
                                   ("out", _OUT)) if not f.value]
  if missing:
    raise app.UsageError(f"missing {', '.join(missing)}")
  cpu_settings.apply()  # XLA:CPU flags for this CPU, before JAX starts (RDE_JAX_CPU_FLAGS overrides)
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # quiet orbax/JAX INFO lines; the bar reports progress
  try:
    runtime.configure(matmul_precision=_PRECISION.value, compilation_cache=runtime.DEFAULT_CACHE)
    # Cheap input checks first, so a bad mask or video fails before the model is read.
    source = video_io.open_video(_VIDEO.value)
    labels = masks_io.read_label_image(_MASK.value, binary_255_is_one=True)
    api.prepare_mask(labels, source.size, resize_mask=_RESIZE_MASK.value, name=_MASK.value)
    model = api.load(_CHECKPOINT.value, arch=_ARCH.value or None)
    summary = segment_to_folder(
        model, _VIDEO.value, _MASK.value, _OUT.value, mem_every=_MEM_EVERY.value,
        top_k=_TOP_K.value, dtype=_DTYPE.value, max_side=_MAX_SIDE.value or None,
        start_frame=_START.value, resize_mask=_RESIZE_MASK.value, chunk=_CHUNK.value,
        write_overlay=_OVERLAY.value, show_progress=_PROGRESS.value)
  except (DataError, checkpoint.CheckpointMismatchError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(f"{summary['frames']} frames, objects {summary['objects']}, {summary['fps']:.1f} FPS "
        f"(model time; compile {summary['compile_seconds']:.1f} s) -> {summary['out']}",
        file=sys.stderr)
  return 0


if __name__ == "__main__":
  app.run(main)
