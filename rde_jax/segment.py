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
import tqdm
from absl import app, flags, logging

from rde_jax import api, checkpoint, inference, runtime
from rde_jax.data.imageio import DataError
from rde_jax.fileio import atomic, label_png, storage, video_reader
from rde_jax.fileio.video_outputs import VideoOutputs


def _frames_from(source: video_reader.FrameSource, start: int,
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
                      dtype: str = "float32", memory_mode: str = "two-frames-compress",
                      include_last: bool = False, max_side: int | None = None,
                      start_frame: int = 0,
                      resize_mask: bool = False, chunk: int = 8, write_overlay: bool = True,
                      show_progress: bool = False) -> dict[str, Any]:
  """Validates the inputs, segments the video and writes masks/, the overlay and summary.json."""
  source = video_reader.open_video(video)
  labels = label_png.read_label_image(mask, binary_255_is_one=True)
  compact, lut = api.prepare_mask(labels, source.size, resize_mask=resize_mask,
                                  name=os.fspath(mask))
  if start_frame < 0 or (source.num_frames and isinstance(source, video_reader.FrameFiles)
                         and start_frame >= source.num_frames):
    raise DataError(f"--start_frame {start_frame} is outside the video "
                    f"({source.num_frames} frames)")
  if storage.is_remote(out):  # an object store: segment into a local folder, then upload it
    with tempfile.TemporaryDirectory(prefix="rde_jax_segment_") as local:
      summary = segment_to_folder(
          model, video, mask, local, mem_every=mem_every, top_k=top_k, dtype=dtype,
          memory_mode=memory_mode, include_last=include_last, max_side=max_side,
          start_frame=start_frame, resize_mask=resize_mask, chunk=chunk,
          write_overlay=write_overlay, show_progress=show_progress)
      summary["out"] = os.fspath(out)
      atomic.write_json(Path(local) / "summary.json", summary)
      storage.upload_folder(local, out, last="summary.json", replace=("masks",))
    return summary
  out = Path(out)
  created = not out.exists()
  out.mkdir(parents=True, exist_ok=True)
  stage = Path(tempfile.mkdtemp(dir=out, prefix=".partial-"))
  try:
    summary = _run(model, source, compact, lut, stage, mem_every=mem_every, top_k=top_k,
                   dtype=dtype, memory_mode=memory_mode, include_last=include_last,
                   max_side=max_side, start=start_frame, chunk=chunk,
                   write_overlay=write_overlay, show_progress=show_progress)
    summary.update(video=os.fspath(video), mask=os.fspath(mask), checkpoint=model.source,
                   out=os.fspath(out))
    _publish(stage, out)
    atomic.write_json(out / "summary.json", summary)
    return summary
  except BaseException:
    shutil.rmtree(stage, ignore_errors=True)
    if created and not any(out.iterdir()):
      out.rmdir()
    raise


def _run(model: api.VOSModel, source: video_reader.FrameSource, compact: np.ndarray,
         lut: np.ndarray, stage: Path, *, mem_every: int, top_k: int, dtype: str,
         memory_mode: str, include_last: bool, max_side: int | None, start: int, chunk: int,
         write_overlay: bool, show_progress: bool) -> dict[str, Any]:
  keep = collections.deque() if write_overlay else None
  outputs = VideoOutputs(stage / "masks", overlay_stem=stage / "overlay" if write_overlay else None,
                         fps=source.fps)
  stats = inference.RunStats()
  wall = time.perf_counter()
  with outputs, tqdm.tqdm(total=source.num_frames, desc="segment", unit="frame",
                          disable=not show_progress, file=sys.stderr) as bar:
    (stage / "masks").mkdir()
    before, rest = _frames_from(source, start, keep)
    empty = np.zeros(source.size, np.uint8)
    for t, frame in enumerate(before):
      outputs.write(source.name(t), empty, frame)
      bar.update()
    engine = model.engine(top_k=top_k, dtype=dtype, memory_mode=memory_mode)
    for t, labels in inference.propagate(
        engine, rest, compact, mem_every=mem_every, include_last=include_last, chunk=chunk,
        output="labels", stats=stats, work_size=api.work_size(source.size, max_side)):
      outputs.write(source.name(start + t), lut[labels], keep.popleft() if keep else None)
      bar.update()
  overlay_path = outputs.overlay_path.name if outputs.overlay_path else None
  return {
      "frames": start + stats.frames, "segmented_frames": stats.frames, "start_frame": start,
      "objects": [int(i) for i in lut[1:] if i], "size": list(source.size),
      "work_size": list(api.work_size(source.size, max_side) or source.size),
      "fps": stats.fps, "model_seconds": stats.model_seconds,
      "compile_seconds": stats.compile_seconds, "read_seconds": stats.read_seconds,
      "wall_seconds": time.perf_counter() - wall, "overlay": overlay_path, "masks": "masks",
      "settings": {"mem_every": mem_every, "top_k": top_k, "dtype": dtype,
                   "memory_mode": memory_mode, "include_last": include_last, "max_side": max_side,
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


def define_flags() -> None:
  """The command-line flags (defined only when the command runs, never at import)."""
  flags.DEFINE_string("checkpoint", None, "Model dir (python -m rde_jax.convert).")
  flags.DEFINE_string("video", None, "Frame folder, GIF or video file.")
  flags.DEFINE_string("mask", None, "Label PNG of the annotated frame.")
  flags.DEFINE_string("out", None, "Output folder.")
  flags.DEFINE_string("arch", "", "Expected architecture ('official', 'tiny'); '' = any.")
  flags.DEFINE_integer("mem_every", 3, "A memory frame every N frames.")
  flags.DEFINE_bool("include_last", False, "Every frame but the last is a memory frame.")
  flags.DEFINE_enum("memory_mode", "two-frames-compress", list(inference.MODES),
                    "Official memory mode (docs/evaluation.md).")
  flags.DEFINE_integer("top_k", 40, "Top-k memory read-out.")
  flags.DEFINE_enum("dtype", "float32", list(inference.DTYPES), "Compute dtype.")
  flags.DEFINE_string("matmul_precision", "default", "jax_default_matmul_precision.")
  flags.DEFINE_integer("max_side", 0, "Run at long side <= this (0: native size).")
  flags.DEFINE_integer("start_frame", 0, "Index of the annotated frame.")
  flags.DEFINE_bool("resize_mask", False, "Resize a mask of another size (nearest).")
  flags.DEFINE_integer("chunk", 8, "Frames per device call.")
  flags.DEFINE_bool("overlay", True, "Write the overlay video.")
  flags.DEFINE_bool("progress", True, "Progress bar on stderr.")


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  f = flags.FLAGS
  missing = [f"--{n}" for n in ("checkpoint", "video", "mask", "out") if not f[n].value]
  if missing:
    raise app.UsageError(f"missing {', '.join(missing)}")
  if not f["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # quiet orbax/JAX INFO lines; the bar reports progress
  try:
    runtime.configure(matmul_precision=f.matmul_precision, compilation_cache=runtime.DEFAULT_CACHE)
    # Cheap input checks first, so a bad mask or video fails before the model is read.
    source = video_reader.open_video(f.video)
    labels = label_png.read_label_image(f.mask, binary_255_is_one=True)
    api.prepare_mask(labels, source.size, resize_mask=f.resize_mask, name=f.mask)
    model = api.load(f.checkpoint, arch=f.arch or None)
    summary = segment_to_folder(
        model, f.video, f.mask, f.out, mem_every=f.mem_every, top_k=f.top_k, dtype=f.dtype,
        memory_mode=f.memory_mode, include_last=f.include_last, max_side=f.max_side or None,
        start_frame=f.start_frame, resize_mask=f.resize_mask, chunk=f.chunk,
        write_overlay=f.overlay, show_progress=f.progress)
  except (DataError, checkpoint.CheckpointMismatchError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(f"{summary['frames']} frames, objects {summary['objects']}, {summary['fps']:.1f} FPS "
        f"(model time; compile {summary['compile_seconds']:.1f} s) -> {summary['out']}",
        file=sys.stderr)
  return 0


def run() -> None:
  """`python -m rde_jax.segment` and the `rde-segment` console script."""
  define_flags()
  app.run(main)


if __name__ == "__main__":
  run()
