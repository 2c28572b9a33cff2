"""Label maps on disk: the DAVIS palette, palette-PNG writing (atomic), label-image reading.

Label maps are (H,W) uint8 object ids, 0 = background. Every file is written to a hidden
temporary name in its folder and renamed into place, so no half-written file is ever visible.

    write_label_png("out/00000.png", labels)          # indexed PNG, DAVIS colours
    labels = read_label_image("first.png")            # 'P', 'L', 'I;16'/'I' (ids <= 255)
"""

from __future__ import annotations

import io
import os
import pathlib
import tempfile
import zipfile
from typing import Iterable

import numpy as np
from PIL import Image

from rde_jax.errors import DataError
from rde_jax.fileio.imageio import PathLike, read_bytes
from rde_jax.fileio import atomic, storage


def _bit_palette() -> np.ndarray:
  """(256, 3) uint8: the PASCAL VOC / DAVIS colour map (bits of the index spread over R,G,B)."""
  pal = np.zeros((256, 3), np.uint8)
  for i in range(256):
    c, r, g, b = i, 0, 0, 0
    for j in range(8):
      r |= (c & 1) << (7 - j)
      g |= ((c >> 1) & 1) << (7 - j)
      b |= ((c >> 2) & 1) << (7 - j)
      c >>= 3
    pal[i] = r, g, b
  return pal


DAVIS_PALETTE = _bit_palette()  # 0 black, 1 (128,0,0), 2 (0,128,0), 3 (128,128,0), ...


def encode_label_png(labels: np.ndarray) -> bytes:
  """(H,W) uint8 ids -> indexed ('P') PNG bytes with the DAVIS palette."""
  labels = np.ascontiguousarray(labels)
  if labels.ndim != 2 or labels.dtype != np.uint8:
    raise ValueError(f"label maps must be (H,W) uint8, got {labels.shape} {labels.dtype}")
  img = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.tobytes())
  img.putpalette(DAVIS_PALETTE.tobytes())
  buf = io.BytesIO()
  img.save(buf, format="PNG", compress_level=1)
  return buf.getvalue()


def encode_binary_png(labels: np.ndarray) -> bytes:
  """(H,W) uint8 ids -> 8-bit grayscale ('L') PNG bytes, 255 where any object is, else 0.

  The official DAVIS-2016 output (`eval_davis_2016.py`: all objects merged, argmax x 255).
  """
  labels = np.ascontiguousarray(labels)
  if labels.ndim != 2 or labels.dtype != np.uint8:
    raise ValueError(f"label maps must be (H,W) uint8, got {labels.shape} {labels.dtype}")
  img = Image.fromarray(np.where(labels > 0, 255, 0).astype(np.uint8), mode="L")
  buf = io.BytesIO()
  img.save(buf, format="PNG", compress_level=1)
  return buf.getvalue()


def write_binary_png(path: PathLike, labels: np.ndarray) -> None:
  """Atomically writes the DAVIS-2016 0/255 grayscale PNG of (H,W) uint8 ids."""
  atomic.write_bytes(path, encode_binary_png(labels))


def write_label_png(path: PathLike, labels: np.ndarray) -> None:
  """Atomically writes an indexed PNG (DAVIS palette) of (H,W) uint8 ids."""
  atomic.write_bytes(path, encode_label_png(labels))


def read_label_image(path: PathLike, *, require_palette: bool = False,
                     binary_255_is_one: bool = False) -> np.ndarray:
  """Reads a label image -> (H,W) uint8 ids. Errors (DataError) name the file.

  Accepted: indexed ('P') PNGs; unless `require_palette`, also 8-bit grey ('L', '1') and 16/32-bit
  integer ('I;16', 'I') images whose ids are <= 255. `binary_255_is_one` reads a grey 0/255 mask
  as object 1.
  """
  name = os.fspath(path)
  data = read_bytes(path)
  try:
    img = Image.open(io.BytesIO(data))
    img.load()
  except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, ...
    raise DataError(f"{name}: unreadable or corrupt image ({type(e).__name__}: {e})") from e
  mode = img.mode
  if mode.startswith("I"):
    ids = np.asarray(img).astype(np.int64)
    if ids.size and (ids.max() > 255 or ids.min() < 0):
      raise DataError(f"{name}: object id {int(ids.max())} above 255 (ids must fit 1..255; "
                      "uint8 palette PNGs are the convention)")
    if require_palette:
      raise DataError(f"{name}: annotation must be a palette (indexed) PNG, got mode {mode!r}")
    return ids.astype(np.uint8)
  if mode == "P" or (not require_palette and mode in ("L", "1")):
    ids = np.asarray(img).astype(np.uint8)
    if binary_255_is_one and mode != "P" and set(np.unique(ids).tolist()) <= {0, 255}:
      ids = (ids > 0).astype(np.uint8)
    return ids
  want = "a palette (indexed) PNG" if require_palette else "a palette or grayscale image"
  raise DataError(f"{name}: label image must be {want} holding object ids (0 = background), "
                  f"got mode {mode!r}")


def compact_ids(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Maps the ids present to 1..K: returns (compact (H,W) uint8, lut (256,) uint8 back to ids)."""
  ids = np.unique(labels)
  ids = ids[ids != 0]
  forward = np.zeros(256, np.uint8)
  forward[ids] = np.arange(1, len(ids) + 1)
  lut = np.zeros(256, np.uint8)
  lut[1:len(ids) + 1] = ids
  return forward[labels], lut


def zip_folder(folder: PathLike, zip_path: PathLike, *, arc_prefix: str = "",
               names: Iterable[str] | None = None) -> None:
  """Atomically writes a zip of every file under `folder` (stored as `arc_prefix/<relative>`)."""
  if storage.is_remote(folder) or storage.is_remote(zip_path):
    _zip_remote(folder, zip_path, arc_prefix=arc_prefix, names=names)
    return
  folder, zip_path = pathlib.Path(folder), pathlib.Path(zip_path)
  zip_path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=zip_path.parent, prefix=f".{zip_path.name}.", suffix=".tmp")
  os.fchmod(fd, atomic.file_mode())
  os.close(fd)
  try:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
      for p in files:
        rel = p.relative_to(folder).as_posix()
        if names is None or rel.split("/")[0] in names:
          z.write(p, f"{arc_prefix}/{rel}" if arc_prefix else rel)
    os.replace(tmp, zip_path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def _zip_remote(folder: PathLike, zip_path: PathLike, *, arc_prefix: str,
                names: Iterable[str] | None) -> None:
  """`zip_folder` for object stores: built in a local temporary file, uploaded once."""
  root = storage.as_path(folder)
  with storage.local_copy_for(zip_path) as local:
    with zipfile.ZipFile(local, "w", zipfile.ZIP_DEFLATED) as z:
      for p in storage.files_under(root):
        rel = p.relative_to(root).as_posix()
        if p.name.startswith(".") or (names is not None and rel.split("/")[0] not in names):
          continue
        z.writestr(f"{arc_prefix}/{rel}" if arc_prefix else rel, p.read_bytes())
