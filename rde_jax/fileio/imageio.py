"""Pillow decoding and encoding with errors that name the offending file.

All readers return numpy arrays: RGB images (H, W, 3) uint8, label maps (H, W) uint8
(palette indices: 0 = background, 1..K objects) and grey masks (H, W) uint8 (0..255).
"""

from __future__ import annotations

import io
import os
from typing import Union

import numpy as np
from PIL import Image

from rde_jax.errors import DataError
from rde_jax.fileio import storage

PathLike = Union[str, os.PathLike]


def _open(data: bytes, name: str) -> Image.Image:
  try:
    img = Image.open(io.BytesIO(data))
    img.load()  # forces the full decode: truncated / corrupt files fail here
  except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, ...
    raise DataError(f"{name}: unreadable or corrupt image ({type(e).__name__}: {e})") from e
  return img


def read_bytes(path: PathLike) -> bytes:
  """The bytes of a local file or of a URI (`gs://...`, through `etils.epath`)."""
  try:
    if storage.is_remote(path):
      return storage.read_bytes(path)
    with open(path, "rb") as f:
      return f.read()
  except (OSError, ImportError) as e:  # ImportError: the URI's backend (gcsfs, ...) is missing
    raise DataError(f"{os.fspath(path)}: cannot read file ({e})") from e


def decode_rgb(data: bytes, *, name: str = "<bytes>") -> np.ndarray:
  """Encoded image (JPEG/PNG/...) -> (H, W, 3) uint8 RGB."""
  img = _open(data, name)
  return np.asarray(img if img.mode == "RGB" else img.convert("RGB"))


def decode_labels(data: bytes, *, name: str = "<bytes>",
                  require_palette: bool = True) -> np.ndarray:
  """Label PNG -> (H, W) uint8 object ids. Palette ('P') images give their indices.

  With `require_palette=False` a single-channel ('L') image is also accepted as ids.
  """
  img = _open(data, name)
  allowed = ("P",) if require_palette else ("P", "L")
  if img.mode not in allowed:
    raise DataError(
        f"{name}: annotation must be a {'palette' if require_palette else 'palette or grey'} PNG "
        f"holding object ids, got mode {img.mode!r}"
    )
  return np.asarray(img, dtype=np.uint8)


def decode_grey(data: bytes, *, name: str = "<bytes>") -> np.ndarray:
  """Any mask image -> (H, W) uint8 0..255 (Pillow 'L' conversion)."""
  img = _open(data, name)
  return np.asarray(img if img.mode == "L" else img.convert("L"))


def read_rgb(path: PathLike) -> np.ndarray:
  return decode_rgb(read_bytes(path), name=os.fspath(path))


def encode_png(array: np.ndarray, *, compress_level: int = 1) -> bytes:
  """(H, W) or (H, W, 3) uint8 -> PNG bytes ('L' or 'RGB'; lossless)."""
  array = np.ascontiguousarray(array)
  if array.dtype != np.uint8 or array.ndim not in (2, 3):
    raise ValueError(f"encode_png wants (H,W) or (H,W,3) uint8, got {array.shape} {array.dtype}")
  buf = io.BytesIO()
  Image.fromarray(array).save(buf, format="PNG", compress_level=compress_level)
  return buf.getvalue()


def check_same_size(mask: np.ndarray, frame_shape: tuple[int, ...], *, mask_name: str,
                    frame_name: str) -> None:
  if mask.shape[:2] != tuple(frame_shape[:2]):
    raise DataError(
        f"{mask_name}: mask size {mask.shape[1]}x{mask.shape[0]} differs from its frame "
        f"{frame_name} ({frame_shape[1]}x{frame_shape[0]}, W x H)"
    )
