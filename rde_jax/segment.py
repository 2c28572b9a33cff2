r"""Segment your own video from a first-frame mask.

  python -m rde_jax.segment --checkpoint models/rde_s012 --video clip.mp4 --mask first.png \
      --out out/clip [--max_side 480] [--dtype bfloat16] [--start_frame 0] [--resize_mask]
  python -m rde_jax.segment --artifact artifacts/rde ...   # an exported model (rde_jax/export)

INPUT (--video): a folder of JPEG/PNG frames (natural name order), a GIF, or a video file
(MP4/AVI/MOV/MKV/WEBM: needs the optional extra `pip install imageio-ffmpeg`, or PyAV).
--mask: label image of the annotated frame: indexed (palette) or grayscale PNG, 0 = background,
1..K objects (a grey 0/255 mask is one object); 16-bit PNGs are accepted when ids <= 255.

Writes --out as a whole (a new or empty folder, or an earlier output with --overwrite):
  masks/<frame>.png   one indexed PNG per frame (DAVIS palette; the frame file's stem for
                      folders, else 00000, 00001, ...), at the original frame size
  overlay.mp4         masks over the frames (overlay.gif when imageio-ffmpeg is not installed)
  summary.json        frames, objects, FPS, settings, device and versions
--start_frame S: the mask belongs to frame S; propagation runs forward from S and frames before
S are written as background (all zeros). --max_side resizes frames for speed (masks come back at
the original size). Every value and input is checked before anything is written; outputs are
staged in a hidden folder beside --out and swapped in at the end (rde_jax/fileio/atomic_dir.py): a
failed or killed run leaves the earlier --out as it was and no partial files. Errors are one
line (`error: ...`); --debug shows the traceback.
"""

from __future__ import annotations

import collections
import functools
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import tqdm
from absl import app, flags

from rde_jax import api, cli, cpu_settings, inference, runtime, validate
from rde_jax.data.imageio import DataError
from rde_jax.errors import UserError
from rde_jax.export import runtime as artifact_runtime
from rde_jax.fileio import atomic, atomic_dir, label_png, storage, video_reader
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
                      show_progress: bool = False, overwrite: bool = False,
                      flag_prefix: str = "") -> dict[str, Any]:
  """Validates the inputs, segments the video and writes masks/, the overlay and summary.json.

  `out` is written as a whole: everything goes to a staging folder beside it, which replaces
  `out` at the end (`atomic_dir`), so a failed or killed run leaves the earlier `out` (or none).
  An `out` holding earlier results is replaced only with `overwrite`.
  """
  dtype = validate.segment_options(flag_prefix, mem_every=mem_every, top_k=top_k, chunk=chunk,
                                   max_side=max_side, start_frame=start_frame, dtype=dtype)
  validate.choice(f"{flag_prefix}memory_mode", memory_mode, inference.MODES)
  out = validate.output_dir(f"{flag_prefix}out", out, overwrite=overwrite, marker="summary.json",
                            what="segment results")
  source = video_reader.open_video(video)
  labels = label_png.read_label_image(mask, binary_255_is_one=True)
  compact, lut = api.prepare_mask(labels, source.size, resize_mask=resize_mask,
                                  name=os.fspath(mask))
  if source.num_frames and isinstance(source, video_reader.FrameFiles) and \
      start_frame >= source.num_frames:
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
  with atomic_dir.replacing(out) as stage:
    summary = _run(model, source, compact, lut, stage, mem_every=mem_every, top_k=top_k,
                   dtype=dtype, memory_mode=memory_mode, include_last=include_last,
                   max_side=max_side or None, start=start_frame, chunk=chunk,
                   write_overlay=write_overlay, show_progress=show_progress)
    summary.update(video=os.fspath(video), mask=os.fspath(mask), checkpoint=model.source,
                   out=os.fspath(out))
    atomic.write_json(stage / "summary.json", summary)
  return summary


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
    if isinstance(model, artifact_runtime.Artifact):  # an exported model (rde_jax/export)
      stream = model.segment_iter(rest, compact, mem_every=mem_every, include_last=include_last,
                                  stats=stats)
    else:
      stream = inference.propagate(
          model.engine(top_k=top_k, dtype=dtype, memory_mode=memory_mode), rest, compact,
          mem_every=mem_every, include_last=include_last, chunk=chunk, output="labels",
          stats=stats, work_size=api.work_size(source.size, max_side))
    for t, labels in stream:
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
                   "chunk": chunk, "arch": model.manifest["model"]["arch"] if isinstance(
                       model, artifact_runtime.Artifact) else model.arch.to_config().to_dict()},
      "environment": runtime.environment(dtype=dtype),
  }


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
  """The command-line flags (defined only when the command runs, never at import)."""
  f = functools.partial
  s, i, b, e = (f(flags.DEFINE_string, flag_values=fv), f(flags.DEFINE_integer, flag_values=fv),
                f(flags.DEFINE_bool, flag_values=fv), f(flags.DEFINE_enum, flag_values=fv))
  s("checkpoint", None, "Model dir (python -m rde_jax.convert).")
  s("artifact", None, "Or an exported model (python -m rde_jax.export): runs without our model "
    "code, at its exported frame size and object count.")
  e("backend", "onnxruntime", list(artifact_runtime.manifest_lib.BACKENDS),
    "With --artifact: onnxruntime (no JAX) or stablehlo (jax.export).")
  s("video", None, "Frame folder, GIF or video file.")
  s("mask", None, "Label PNG of the annotated frame.")
  s("out", None, "Output folder (new, empty, or an earlier output with --overwrite).")
  b("overwrite", False, "Replace the results of an earlier run in --out.")
  s("arch", "", "Expected architecture ('official', 'tiny'); '' = any.")
  i("mem_every", 3, "A memory frame every N frames (>= 1).")
  b("include_last", False, "Every frame but the last is a memory frame.")
  e("memory_mode", "two-frames-compress", list(inference.MODES),
    "Official memory mode (docs/evaluation.md).")
  i("top_k", 40, "Top-k memory read-out (>= 1).")
  e("dtype", "float32", list(inference.DTYPES), "Compute dtype.")
  s("matmul_precision", "default", "jax_default_matmul_precision.")
  e("conv_algorithm", "auto", ["auto", "direct", "winograd"],
    "3x3 convolutions: auto = Winograd on the CPU, direct elsewhere; direct = exact sums.")
  i("max_side", 0, "Run at long side <= this (0: native size; else >= 16).")
  i("start_frame", 0, "Index of the annotated frame.")
  b("resize_mask", False, "Resize a mask of another size (nearest).")
  i("chunk", 8, "Frames per device call (>= 1).")
  b("overlay", True, "Write the overlay video.")
  b("progress", True, "Progress bar on stderr.")


def main(argv: list[str], fv: flags.FlagValues = flags.FLAGS) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  missing = [f"--{n}" for n in ("video", "mask", "out") if not fv[n].value]
  if not fv.checkpoint and not fv.artifact:
    missing.insert(0, "--checkpoint (or --artifact)")
  if missing:
    raise app.UsageError(f"missing {', '.join(missing)}")
  if fv.checkpoint and fv.artifact:
    raise app.UsageError("pass --checkpoint or --artifact, not both")
  cpu_settings.apply()  # XLA:CPU flags for this CPU, before JAX starts (RDE_JAX_CPU_FLAGS overrides)
  # Every value first, then the cheap input checks, so nothing is read or written in vain.
  validate.segment_options("--", mem_every=fv.mem_every, top_k=fv.top_k, chunk=fv.chunk,
                           max_side=fv.max_side, start_frame=fv.start_frame, dtype=fv.dtype)
  validate.choice("--arch", fv.arch, ("",) + validate.ARCHES)
  validate.choice("--matmul_precision", fv.matmul_precision, validate.PRECISIONS)
  validate.output_dir("--out", fv.out, overwrite=fv.overwrite, marker="summary.json",
                      what="segment results")
  if fv.artifact:
    model = _load_artifact(fv)
  else:
    validate.model_dir("--checkpoint", fv.checkpoint)
  source = video_reader.open_video(fv.video)
  labels = label_png.read_label_image(fv.mask, binary_255_is_one=True)
  compact, _ = api.prepare_mask(labels, source.size, resize_mask=fv.resize_mask, name=fv.mask)
  runtime.configure(matmul_precision=fv.matmul_precision, conv_algorithm=fv.conv_algorithm,
                    compilation_cache=runtime.DEFAULT_CACHE)
  if fv.artifact:
    model.check_frame(np.zeros(source.size + (3,), np.uint8), 0)
    model.check_labels(compact)
  else:
    model = api.load(fv.checkpoint, arch=fv.arch or None)
  summary = segment_to_folder(
      model, fv.video, fv.mask, fv.out, mem_every=fv.mem_every, top_k=fv.top_k, dtype=fv.dtype,
      memory_mode=fv.memory_mode, include_last=fv.include_last, max_side=fv.max_side or None,
      start_frame=fv.start_frame, resize_mask=fv.resize_mask, chunk=fv.chunk,
      write_overlay=fv.overlay, show_progress=fv.progress, overwrite=fv.overwrite,
      flag_prefix="--")
  print(f"{summary['frames']} frames, objects {summary['objects']}, {summary['fps']:.1f} FPS "
        f"(model time; compile {summary['compile_seconds']:.1f} s) -> {summary['out']}",
        file=sys.stderr)
  return 0


def _load_artifact(fv: flags.FlagValues) -> artifact_runtime.Artifact:
  """--artifact: refuses flags that the export fixed, takes its settings for the summary."""
  model = artifact_runtime.load_artifact(fv.artifact, fv.backend)
  fixed = {**model.settings, "arch": model.manifest["model"]["arch_name"]}
  for name in ("top_k", "dtype", "memory_mode", "conv_algorithm", "arch"):
    if fv[name].present and fv[name].value != fixed[name]:
      raise UserError(f"--{name} {fv[name].value}: the artifact {fv.artifact} was exported with "
                      f"{name} {fixed[name]}", hint="drop the flag, or export again with it")
  if fv.max_side:
    h, w = model.size
    raise UserError(f"--max_side: the artifact {fv.artifact} runs at its exported size "
                    f"{w}x{h} (W x H)", hint="export one for the size you want")
  for name in ("top_k", "dtype", "memory_mode"):
    setattr(fv, name, fixed[name])
  for name in ("mem_every", "include_last"):  # the exported schedule, unless given
    if not fv[name].present:
      setattr(fv, name, model.manifest["schedule"][name])
  return model


def run() -> None:
  """`python -m rde_jax.segment` and the `rde-segment` console script."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
