"""Video sources over stored records, decoding frames lazily with Pillow.

A stored video record (see `builders.py`) holds encoded images, not pixels:

* `name` str, `frame_ids` (T,) int32 (numbers of the frame files), `height`, `width`;
* `frames` (T,) encoded images (the original JPEG files, or PNG for synthetic videos);
* `labels` (L,) PNG label maps of the annotated frames, `label_positions` (L,) int32 indices
  into `frames`.

`VideoRecords` turns any random-access sequence of such records (e.g. a TFDS
`ArrayRecordDataSource`) into the pipeline's video source: item i is
`{"frames": (T,H,W,3) uint8, "labels": (T,H,W) uint8, "name": str}` where both arrays are
`LazyImages`: indexing decodes only the frames asked for (a clip needs 5 of ~100), and
`np.asarray` decodes all of them.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from rde_jax.fileio.imageio import decode_grey, decode_labels, decode_rgb


class LazyImages:
  """A (T, H, W[, 3]) uint8 array-like of encoded images, decoded on indexing."""

  def __init__(self, blobs: Sequence[bytes], decode: Callable[[bytes], np.ndarray],
               shape: tuple[int, ...], name: str = ""):
    self._blobs, self._decode, self.shape, self._name = blobs, decode, tuple(shape), name
    self.dtype = np.dtype(np.uint8)

  def __len__(self) -> int:
    return self.shape[0]

  def _one(self, i: int) -> np.ndarray:
    img = self._decode(self._blobs[i], name=f"{self._name}[{i}]")
    if img.shape != self.shape[1:]:
      raise ValueError(f"{self._name}[{i}]: decoded shape {img.shape} "
                       f"!= record shape {self.shape[1:]}")
    return img

  def __getitem__(self, index: Any) -> np.ndarray:
    if isinstance(index, (int, np.integer)):
      return self._one(int(index))
    positions = np.arange(len(self))[index]
    return np.stack([self._one(int(i)) for i in positions]) if positions.size else np.zeros(
        (0,) + self.shape[1:], np.uint8)

  def __array__(self, dtype=None, copy=None) -> np.ndarray:
    out = self[:]
    return out if dtype is None else out.astype(dtype)


def _text(value: Any) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class VideoRecords:
  """Video source over stored video records (`__len__`, `__getitem__`).

  With `annotated_only` (the default, what training wants) a video is restricted to its
  annotated frames, so `frames` and `labels` have the same length. Otherwise `frames`
  has every frame and `labels` only the annotated ones (`label_positions` says where).
  """

  def __init__(self, records: Sequence[Mapping[str, Any]], *, annotated_only: bool = True):
    self.records, self.annotated_only = records, annotated_only

  def __len__(self) -> int:
    return len(self.records)

  def __getitem__(self, index: int) -> dict[str, Any]:
    r = self.records[int(index)]
    name, hw = _text(r["name"]), (int(r["height"]), int(r["width"]))
    positions = np.asarray(r["label_positions"], np.int32)
    frames, frame_ids = list(r["frames"]), np.asarray(r["frame_ids"], np.int32)
    if self.annotated_only:
      frames, frame_ids = [frames[p] for p in positions], frame_ids[positions]
    return {
        "name": name,
        "frame_ids": frame_ids,
        "label_positions": (np.arange(len(positions), dtype=np.int32) if self.annotated_only
                            else positions),
        "frames": LazyImages(frames, decode_rgb, (len(frames),) + hw + (3,), f"{name}/frames"),
        "labels": LazyImages(list(r["labels"]), _decode_ids, (len(positions),) + hw,
                             f"{name}/labels"),
    }


def _decode_ids(data: bytes, *, name: str) -> np.ndarray:
  return decode_labels(data, name=name, require_palette=False)


class StaticRecords:
  """Static-image source over stored records: item i is `{"image": (H,W,3) uint8,
  "mask": (H,W) uint8 0..255, "name": str}` (decoded on access)."""

  def __init__(self, records: Sequence[Mapping[str, Any]]):
    self.records = records

  def __len__(self) -> int:
    return len(self.records)

  def __getitem__(self, index: int) -> dict[str, Any]:
    r = self.records[int(index)]
    name = _text(r["name"])
    return {
        "name": name,
        "image": decode_rgb(r["image"], name=f"{name}/image"),
        "mask": decode_grey(r["mask"], name=f"{name}/mask"),
    }
