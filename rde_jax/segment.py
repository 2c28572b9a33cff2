r"""Segment your own video from a first-frame mask.

  python -m rde_jax.segment --checkpoint models/rde_s012 --video clip.mp4 --mask first.png \
      --out out/clip [--max_side 480] [--preset fast] [--start_frame 0] [--resize_mask]
  python -m rde_jax.segment --artifact artifacts/rde ...   # an exported model (rde_jax/export)

INPUT (--video): a folder of JPEG/PNG frames (natural name order), a GIF, or a video file
(MP4/AVI/MOV/MKV/WEBM: needs the optional extra `pip install imageio-ffmpeg`, or PyAV).
--mask: label image of the annotated frame: indexed (palette) or grayscale PNG, 0 = background,
1..K objects (a 0/255 mask is one object; in a mask holding other ids, 255 is void as in DAVIS
and YouTube-VOS, unless --keep_255); 16-bit PNGs are accepted when ids <= 255.

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
import dataclasses
import functools
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import tqdm
from absl import app, flags

from rde_jax import api, cli, cpu_settings, runtime, validate
from rde_jax.errors import DataError, UserError
from rde_jax.export import runtime as artifact_runtime
from rde_jax.fileio import atomic, atomic_dir, label_png, manifest, storage, video_reader
from rde_jax.fileio.video_outputs import VideoOutputs
from rde_jax.inference import settings as settings_lib
from rde_jax.inference.settings import InferenceSettings
from rde_jax.inference.timing import RunStats

# What --out holds (outputs written before manifests existed are recognised by it).
OUTPUT_LAYOUT = ("summary.json", "masks/", "masks/*.png", "overlay.mp4", "overlay.gif")


@dataclasses.dataclass
class Job:
  """A checked segment run: validated settings and output folder, the video opened and the
  first mask read and matched to it (`prepare`); `run(model)` writes the output."""
  video: str
  mask: str
  out: Any
  settings: InferenceSettings
  start_frame: int
  source: video_reader.FrameSource
  compact: np.ndarray  # (H,W) ids 1..K of the annotated frame
  lut: np.ndarray  # compact id -> the mask's own id

  def run(self, model: api.VOSModel, *, write_overlay: bool = True,
          show_progress: bool = False) -> dict[str, Any]:
    """Segments the video into `out`, written as a whole: everything goes to a staging folder
    beside it, which replaces `out` at the end (`atomic_dir`); returns the summary."""
    if storage.is_remote(self.out):  # an object store: segment into a local folder, upload it
      with tempfile.TemporaryDirectory(prefix="rde_jax_segment_") as local:
        summary = self._write(model, Path(local), write_overlay, show_progress)
        atomic.write_json(Path(local) / "summary.json", summary)
        manifest.write(local)  # a later run may replace what this one wrote, and only that
        storage.upload_folder(local, self.out, last="summary.json", replace=("masks",))
      return summary
    with atomic_dir.replacing(self.out, OUTPUT_LAYOUT) as stage:
      summary = self._write(model, stage, write_overlay, show_progress)
      atomic.write_json(stage / "summary.json", summary)
    return summary

  def _write(self, model: api.VOSModel, stage: Path, write_overlay: bool,
             show_progress: bool) -> dict[str, Any]:
    source, start = self.source, self.start_frame
    keep = collections.deque() if write_overlay else None
    outputs = VideoOutputs(stage / "masks", fps=source.fps,
                           overlay_stem=stage / "overlay" if write_overlay else None)
    stats = RunStats()
    settings = self.settings
    if source.num_frames:  # never pad a chunk beyond the video (the count may be an estimate)
      settings = settings.replace(chunk=max(1, min(settings.chunk,
                                                   source.num_frames - start - 1)))
    wall = time.perf_counter()
    with outputs, tqdm.tqdm(total=source.num_frames, desc="segment", unit="frame",
                            disable=not show_progress, file=sys.stderr) as bar:
      (stage / "masks").mkdir()
      if isinstance(model, artifact_runtime.Artifact):  # an exported model (rde_jax/export)
        stream = _artifact_stream(model, _tee(source, keep), self.compact, settings, start, stats)
      else:
        stream = model.segment_iter(_tee(source, keep), self.compact, settings,
                                    start_frame=start, stats=stats)
      for t, labels in stream:
        outputs.write(source.name(t), self.lut[labels], keep.popleft() if keep else None)
        bar.update()
    work = api.work_size(source.size, self.settings.max_side) or source.size
    return {
        "frames": start + stats.frames, "segmented_frames": stats.frames, "start_frame": start,
        "objects": [int(i) for i in self.lut[1:] if i], "size": list(source.size),
        "work_size": list(work), "fps": stats.fps, "model_seconds": stats.model_seconds,
        "compile_seconds": stats.compile_seconds, "read_seconds": stats.read_seconds,
        "wall_seconds": time.perf_counter() - wall,
        "overlay": outputs.overlay_path.name if outputs.overlay_path else None,
        "masks": "masks",
        "settings": {**settings.to_dict(), "arch": _arch_of(model)},
        "environment": runtime.environment(
            dtype=self.settings.dtype,
            conv_algorithm=(model.settings["conv_algorithm"]
                            if isinstance(model, artifact_runtime.Artifact)
                            else model.engine(self.settings).conv_algorithm)),
        "video": os.fspath(self.video), "mask": os.fspath(self.mask),
        "checkpoint": model.source, "out": os.fspath(self.out),
    }


def _arch_of(model: Any) -> Any:
  if isinstance(model, artifact_runtime.Artifact):
    return model.manifest["model"]["arch"]
  return model.arch.to_config().to_dict()


def _artifact_stream(artifact: artifact_runtime.Artifact, frames: Any, compact: np.ndarray,
                     settings: InferenceSettings, start: int,
                     stats: RunStats) -> Any:
  """(t, (H,W) ids) from an exported model: frames before `start` are background."""
  it = iter(frames)
  for t in range(start):
    frame = next(it, None)
    if frame is None:
      raise DataError(f"--start_frame {start} is beyond the end of the video ({t} frames)")
    yield t, np.zeros(np.shape(frame)[:2], np.uint8)
  for t, labels in artifact.segment_iter(it, compact, mem_every=settings.mem_every,
                                         include_last=settings.include_last, stats=stats):
    yield start + t, labels


def _tee(frames: Any, keep: collections.deque | None) -> Any:
  """Passes frames through, keeping each for the overlay when `keep` is a deque."""
  for f in frames:
    if keep is not None:
      keep.append(f)
    yield f


def prepare(video: str | os.PathLike, mask: str | os.PathLike, out: str | os.PathLike,
            settings: InferenceSettings | None = None, *, start_frame: int = 0,
            resize_mask: bool = False, keep_255: bool = False, overwrite: bool = False,
            checkpoint: str | os.PathLike | None = None, flag_prefix: str = "") -> Job:
  """Checks every value and input once, before anything is written: the output folder (an
  `out` holding earlier results is replaced only with `overwrite`, and only when everything in
  it was written by us; an input inside it is refused), the video, the mask."""
  settings = InferenceSettings() if settings is None else settings
  start_frame = validate.integer(f"{flag_prefix}start_frame", start_frame, minimum=0)
  inputs = [(f"{flag_prefix}video", video), (f"{flag_prefix}mask", mask)]
  if checkpoint is not None:
    inputs.append((f"{flag_prefix}checkpoint", checkpoint))
  out = validate.output_dir(f"{flag_prefix}out", out, overwrite=overwrite, marker="summary.json",
                            what="segment results", legacy=OUTPUT_LAYOUT, inputs=inputs)
  source = video_reader.open_video(video)
  labels = label_png.read_label_image(mask, binary_255_is_one=True)
  compact, lut = api.prepare_mask(labels, source.size, resize_mask=resize_mask,
                                  name=os.fspath(mask), keep_255=keep_255)
  if source.num_frames and isinstance(source, (video_reader.FrameFiles, video_reader.GifFrames)) \
      and start_frame >= source.num_frames:  # exact counts; video files: checked when read
    raise DataError(f"--start_frame {start_frame} is outside the video "
                    f"({source.num_frames} frames)")
  return Job(os.fspath(video), os.fspath(mask), out, settings, start_frame, source, compact, lut)


def segment_to_folder(model: api.VOSModel, video: str | os.PathLike, mask: str | os.PathLike,
                      out: str | os.PathLike, settings: InferenceSettings | None = None, *,
                      start_frame: int = 0, resize_mask: bool = False, keep_255: bool = False,
                      write_overlay: bool = True,
                      show_progress: bool = False, overwrite: bool = False,
                      flag_prefix: str = "") -> dict[str, Any]:
  """Checks the inputs (`prepare`), segments the video and writes masks/, the overlay and
  summary.json into `out` (`Job.run`: a failed or killed run leaves the earlier `out`)."""
  job = prepare(video, mask, out, settings, start_frame=start_frame, resize_mask=resize_mask,
                keep_255=keep_255, overwrite=overwrite, checkpoint=model.source,
                flag_prefix=flag_prefix)
  return job.run(model, write_overlay=write_overlay, show_progress=show_progress)


def settings_from_flags(fv: flags.FlagValues) -> InferenceSettings:
  """The flags given on the command line over --preset (if any) over the defaults."""
  names = [f.name for f in dataclasses.fields(InferenceSettings)]
  given = {n: fv[n].value for n in names if fv[n].present or not fv[n].using_default_value}
  if fv.preset:
    return InferenceSettings.from_preset(fv.preset, "--", **given)
  return InferenceSettings.from_values("--", **given)


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
  """The command-line flags (defined only when the command runs, never at import)."""
  f = functools.partial
  s, i, b, e = (f(flags.DEFINE_string, flag_values=fv), f(flags.DEFINE_integer, flag_values=fv),
                f(flags.DEFINE_bool, flag_values=fv), f(flags.DEFINE_enum, flag_values=fv))
  d = InferenceSettings()  # the defaults, from their one place
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
  s("preset", "", "Precision preset: float32 | official | fast (docs/evaluation.md); flags "
    "given explicitly override it.")
  i("mem_every", d.mem_every, "A memory frame every N frames (>= 1).")
  b("include_last", d.include_last, "Every frame but the last is a memory frame.")
  e("memory_mode", d.memory_mode, list(settings_lib.MEMORY_MODES),
    "Official memory mode (docs/evaluation.md).")
  i("top_k", d.top_k, "Top-k memory read-out (>= 1).")
  e("dtype", d.dtype, list(settings_lib.DTYPES), "Compute dtype.")
  s("matmul_precision", "default", "jax_default_matmul_precision.")
  e("conv_algorithm", d.conv_algorithm, list(settings_lib.CONV_ALGORITHMS),
    "Convolutions: auto = Winograd on the CPU, direct elsewhere; direct = exact sums.")
  i("max_side", 0, "Run at long side <= this (0: native size; else >= 16).")
  i("start_frame", 0, "Index of the annotated frame.")
  b("resize_mask", False, "Resize a mask of another size (nearest).")
  b("keep_255", False, "Track mask pixels of value 255 as an object (default: void, as in "
    "DAVIS / YouTube-VOS, when the mask holds other objects).")
  i("chunk", d.chunk, "Frames per device call (>= 1).")
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
  # XLA:CPU flags for this CPU, before JAX starts (RDE_JAX_CPU_FLAGS overrides).
  cpu_settings.apply()
  # Every value first, then the cheap input checks, so nothing is read or written in vain.
  artifact = _load_artifact(fv) if fv.artifact else None  # fixes the exported settings' flags
  settings = settings_from_flags(fv)
  validate.choice("--arch", fv.arch, ("",) + validate.ARCHES)
  validate.choice("--matmul_precision", fv.matmul_precision, validate.PRECISIONS)
  if artifact is None:
    validate.model_dir("--checkpoint", fv.checkpoint)
  job = prepare(fv.video, fv.mask, fv.out, settings, start_frame=fv.start_frame,
                resize_mask=fv.resize_mask, keep_255=fv.keep_255, overwrite=fv.overwrite,
                checkpoint=fv.checkpoint or fv.artifact, flag_prefix="--")
  runtime.configure(matmul_precision=fv.matmul_precision, compilation_cache=runtime.DEFAULT_CACHE)
  if artifact is not None:
    artifact.check_frame(np.zeros(job.source.size + (3,), np.uint8), 0)
    artifact.check_labels(job.compact)
    model = artifact
  else:
    model = api.load(fv.checkpoint, arch=fv.arch or None)
  summary = job.run(model, write_overlay=fv.overlay, show_progress=fv.progress)
  print(f"{summary['frames']} frames, objects {summary['objects']}, {summary['fps']:.1f} FPS "
        f"(model time; compile {summary['compile_seconds']:.1f} s) -> {summary['out']}",
        file=sys.stderr)
  return 0


def _load_artifact(fv: flags.FlagValues) -> artifact_runtime.Artifact:
  """--artifact: refuses flags that the export fixed and sets them to the exported values (the
  schedule too, unless --mem_every / --include_last are given)."""
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
  if fv.preset:
    raise UserError(f"--preset: the artifact {fv.artifact} was exported with its precision "
                    f"(dtype {fixed['dtype']})", hint="drop the flag, or export again")
  for name in ("top_k", "dtype", "memory_mode", "conv_algorithm"):
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
