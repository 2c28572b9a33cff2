r"""`python -m rde_jax.data.resize_youtube`: the 480p copy of YouTube-VOS train (`train_480p`)
that the official training reads, made as the official scripts/resize_youtube.py makes it.

  python -m rde_jax.data.resize_youtube --input /data/YouTube/train \
      --output /data/YouTube/train_480p [--workers 4]

Every image of `JPEGImages/<video>/` and `Annotations/<video>/` (the only two folders the
official script reads) is resized so that its shorter side is 480: r = 480 / min(w, h), new size
(int(w * r), int(h * r)), so smaller images are enlarged too. Frames: PIL bicubic, saved under
their own name with PIL's defaults (JPEG quality 75). Annotations: `convert('P')`, PIL nearest,
saved as palette PNGs. Pillow's resampling is what the official script used, so the files are
the same up to the Pillow version.

Atomic and resumable per video: a video's folder is written beside its target and swapped in
complete (`rde_jax.fileio.atomic_dir`); a rerun skips every video whose output folder holds as
many files as its input folder, so a killed run continues where it stopped.
"""

from __future__ import annotations

import concurrent.futures
import os
from pathlib import Path
from typing import Sequence

from absl import app, flags
from PIL import Image

from rde_jax import cli, validate
from rde_jax.errors import UserError
from rde_jax.fileio import atomic_dir, manifest

SHORT_SIDE = 480  # official scripts/resize_youtube.py new_min_size
FOLDERS = {"JPEGImages": Image.Resampling.BICUBIC, "Annotations": Image.Resampling.NEAREST}


def target_size(width: int, height: int, short_side: int = SHORT_SIDE) -> tuple[int, int]:
  """(width, height) with the shorter side `short_side`, truncated as the official script does."""
  ratio = short_side / min(width, height)
  return int(width * ratio), int(height * ratio)


def resize_image(src: Path, dst: Path, folder: str) -> None:
  """One frame (bicubic) or annotation (palette, nearest) of `folder`, written to `dst`."""
  try:
    with Image.open(src) as img:
      img = img.convert("P") if folder == "Annotations" else img
      img.resize(target_size(*img.size), FOLDERS[folder]).save(dst)
  except (OSError, ValueError, Image.DecompressionBombError) as e:
    raise UserError(f"{src}: not a readable image ({type(e).__name__}: {e})") from e


def _done(src: Path, dst: Path) -> bool:
  """True if `dst` holds as many frames as `src` (our own manifest file not counted)."""
  return dst.is_dir() and len(_frames(dst)) == len(_frames(src))


def _frames(folder: Path) -> list[Path]:
  return [p for p in folder.iterdir() if p.name != manifest.NAME]


def resize_video(src: Path, dst: Path, folder: str) -> bool:
  """Resizes one video folder into `dst` atomically; False if it was already complete."""
  if _done(src, dst):
    return False
  with atomic_dir.replacing(dst) as stage:
    for name in sorted(os.listdir(src)):
      resize_image(src / name, Path(stage) / name, folder)
  return True


def resize_all(input_dir: str | os.PathLike, output_dir: str | os.PathLike, *,
               workers: int = 1) -> dict[str, int]:
  """Resizes JPEGImages/ and Annotations/ of `input_dir` into `output_dir`.

  Returns {'videos': resized now, 'skipped': already complete, 'folders': video folders seen}.
  """
  src_root = validate.existing("--input", input_dir, kind="dir")
  dst_root = Path(output_dir).absolute()
  if dst_root == src_root.absolute():
    raise UserError(f"--output: {output_dir} is the input folder (the official script writes a "
                    "separate copy, e.g. train_480p)")
  if not (src_root / "JPEGImages").is_dir():
    raise UserError(f"--input: {src_root / 'JPEGImages'}: no such folder (expected the "
                    "YouTube-VOS train folder holding JPEGImages/ and Annotations/)")
  jobs = [(src_root / f / v, dst_root / f / v, f) for f in FOLDERS if (src_root / f).is_dir()
          for v in sorted(os.listdir(src_root / f)) if (src_root / f / v).is_dir()]
  with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:  # PIL frees the GIL
    futures = [pool.submit(resize_video, *job) for job in jobs]
    try:
      resized = [f.result() for f in futures]
    except BaseException:  # an error or Ctrl-C: stop at once; finished videos stay
      pool.shutdown(wait=True, cancel_futures=True)
      raise
  return {"videos": sum(resized), "skipped": len(resized) - sum(resized), "folders": len(jobs)}


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
  flags.DEFINE_string("input", None, "YouTube-VOS train folder (JPEGImages/, Annotations/).",
                      flag_values=fv)
  flags.DEFINE_string("output", None, "Output folder (e.g. train_480p); resumable.",
                      flag_values=fv)
  flags.DEFINE_integer("workers", 2, "Videos resized in parallel (threads).", lower_bound=1,
                       flag_values=fv)
  flags.mark_flags_as_required(["input", "output"], flag_values=fv)


def main(argv: Sequence[str], fv: flags.FlagValues = flags.FLAGS) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  counts = resize_all(fv.input, fv.output, workers=fv.workers)
  print(f"{counts['folders']} video folders: {counts['videos']} resized, {counts['skipped']} "
        f"already done -> {fv.output}")
  return 0


if __name__ == "__main__":
  cli.run(main, define_flags)
