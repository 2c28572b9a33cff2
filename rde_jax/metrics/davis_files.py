"""Reading a DAVIS folder and a results folder of label PNGs, with errors that name the file.

Layout (official toolkit, 480p only):
  <davis>/ImageSets/<year>/<split>.txt          one sequence name per line
  <davis>/JPEGImages/480p/<seq>/*.jpg           must exist (only globbed)
  <davis>/Annotations/480p/<seq>/*.png          label PNGs, frames = sorted glob
  <results>/<seq>/<stem>.png                    one per GT frame 1..T-2 (first/last optional)

Both folders may be URIs (gs://...), read through etils.epath (rde_jax/fileio/storage.py).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from rde_jax.errors import UserError
from rde_jax.fileio import storage


RESOLUTION = "480p"
_LABEL_MODES = ("P", "L", "1")


class DavisEvalError(UserError, ValueError):
  """Bad input to the DAVIS evaluation (missing/corrupt file, wrong size, bad id)."""


def read_label_png(path: str | os.PathLike) -> np.ndarray:
  """(H, W) uint8 label map of an indexed ('P') or 8-bit grayscale ('L'/'1') PNG.

  Palette colours are ignored: the pixel values are the object ids.
  """
  try:
    source = io.BytesIO(storage.read_bytes(path)) if storage.is_remote(path) else path
    with Image.open(source) as image:
      mode = image.mode
      labels = np.array(image) if mode in _LABEL_MODES else None
  except FileNotFoundError as e:
    raise DavisEvalError(f"{path}: file not found") from e
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise DavisEvalError(f"{path}: unreadable or corrupt image ({e})") from e
  if labels is None:
    hint = " (a colour image: save label maps as palette PNGs whose indices are object ids)" \
        if mode.startswith("RGB") else ""
    raise DavisEvalError(f"{path}: expected an indexed (palette) or 8-bit grayscale PNG, "
                         f"got mode {mode!r}{hint}")
  return labels.astype(np.uint8, copy=False)


def sequence_names(davis_path: str | os.PathLike, split: str, year: int = 2017) -> list[str]:
  """Sequence names listed in `ImageSets/<year>/<split>.txt` (blank lines skipped)."""
  path = storage.native(davis_path) / "ImageSets" / str(year) / f"{split}.txt"
  try:
    lines = path.read_text().splitlines()
  except (OSError, ImportError) as e:  # ImportError: no backend for the URI (gcsfs, ...)
    raise DavisEvalError(f"{path}: cannot read the sequence list ({e})") from e
  return [line.strip() for line in lines if line.strip()]


def read_gt_sequence(davis_path: str | os.PathLike, sequence: str,
                     resolution: str = RESOLUTION) -> tuple[np.ndarray, list[Path]]:
  """(T, H, W) uint8 GT label maps of `sequence` and their (T,) annotation paths.

  `resolution` is the DAVIS sub-folder (480p); '' for a plain JPEGImages/<seq> layout.
  """
  root = storage.native(davis_path)
  jpeg_dir = root / "JPEGImages" / resolution / sequence
  if not any(jpeg_dir.glob("*.jpg")):
    raise DavisEvalError(f"sequence {sequence!r}: no JPEG images in {jpeg_dir}")
  gt_dir = root / "Annotations" / resolution / sequence
  paths = sorted(gt_dir.glob("*.png"))
  if not paths:
    raise DavisEvalError(f"sequence {sequence!r}: no annotation PNGs in {gt_dir}")
  frames = [read_label_png(p) for p in paths]
  for path, frame in zip(paths, frames):
    if frame.shape != frames[0].shape:
      raise DavisEvalError(f"{path}: size {frame.shape} differs from the sequence's first "
                           f"annotation {paths[0]} {frames[0].shape}")
  return np.stack(frames), paths


def read_results_sequence(results_path: str | os.PathLike, sequence: str, gt_paths: Sequence[Path],
                          shape: Sequence[int]) -> tuple[np.ndarray, list[str]]:
  """(T, H, W) uint8 predicted label maps aligned with `gt_paths`, and the (T,) result paths.

  Only frames 1..T-2 are read (the evaluated ones); the first and last slots are zeros.
  """
  shape = tuple(shape)
  result_paths = [storage.native(results_path) / sequence / f"{p.stem}.png" for p in gt_paths]
  pred = np.zeros((len(gt_paths),) + shape, np.uint8)
  for t in range(1, len(gt_paths) - 1):
    path = result_paths[t]
    if not path.is_file():
      raise DavisEvalError(f"{path}: missing result PNG for annotated frame {gt_paths[t].name} "
                           f"of sequence {sequence!r}")
    labels = read_label_png(path)
    if labels.shape != shape:
      raise DavisEvalError(f"{path}: size {labels.shape[1]}x{labels.shape[0]} (WxH) differs from "
                           f"the ground truth {shape[1]}x{shape[0]}")
    pred[t] = labels
  return pred, [str(p) for p in result_paths]
