"""PyTorch-compatible resampling as (out, in) weight matrices, applied separably (host or device).

The official YouTube-VOS protocol resizes the ImageNet-normalised frames with torchvision
`Resize(480, BICUBIC)` on tensors (`F.interpolate(mode='bicubic', align_corners=False)`, a = -0.75,
no antialiasing: the torchvision of the official code) and brings the probabilities back with
`F.interpolate(mode='bilinear', align_corners=False)`. Both are linear maps along each axis,
so one (out, in) matrix per axis reproduces them: y = Rh @ x @ Rw^T.

    rh = bicubic_matrix(720, 480); rw = bicubic_matrix(1280, 853)
"""

from __future__ import annotations

import functools

import numpy as np


CUBIC_A = -0.75  # PyTorch's bicubic coefficient (PIL and jax.image use other kernels)


def short_side_size(height: int, width: int, short: int) -> tuple[int, int]:
  """torchvision `Resize(short)` output size: the short side becomes `short`, the long side
  int(short * long / short_side) (truncated)."""
  if height <= width:
    return short, int(short * width / height)
  return int(short * height / width), short


def _cubic(x: np.ndarray) -> tuple[np.ndarray, ...]:
  a = np.float32(CUBIC_A)
  c1 = lambda t: ((a + 2) * t - (a + 3)) * t * t + 1  # |t| <= 1
  c2 = lambda t: ((a * t - 5 * a) * t + 8 * a) * t - 4 * a  # 1 < |t| < 2
  return c2(x + 1), c1(x), c1(1 - x), c2(2 - x)


def _source_index(size_in: int, size_out: int) -> np.ndarray:
  """Source coordinate of each output pixel, in float32 like PyTorch's CPU/GPU kernels."""
  scale = np.float32(size_in) / np.float32(size_out)
  return scale * (np.arange(size_out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)


@functools.lru_cache(maxsize=64)
def bicubic_matrix(size_in: int, size_out: int) -> np.ndarray:
  """(out, in) float32 weights of PyTorch bicubic (align_corners=False, border clamped)."""
  real = _source_index(size_in, size_out)
  base = np.floor(real).astype(np.int64)
  weights = _cubic(real - base.astype(np.float32))
  m = np.zeros((size_out, size_in), np.float64)
  rows = np.arange(size_out)
  for offset, w in zip((-1, 0, 1, 2), weights):
    np.add.at(m, (rows, np.clip(base + offset, 0, size_in - 1)), w)
  return m.astype(np.float32)


@functools.lru_cache(maxsize=64)
def bilinear_matrix(size_in: int, size_out: int) -> np.ndarray:
  """(out, in) float32 weights of PyTorch bilinear (align_corners=False)."""
  real = np.maximum(_source_index(size_in, size_out), np.float32(0.0))
  i0 = np.minimum(np.floor(real).astype(np.int64), size_in - 1)
  i1 = np.minimum(i0 + 1, size_in - 1)
  l1 = real - i0.astype(np.float32)
  m = np.zeros((size_out, size_in), np.float64)
  rows = np.arange(size_out)
  np.add.at(m, (rows, i0), 1.0 - l1)
  np.add.at(m, (rows, i1), l1)
  return m.astype(np.float32)


def nearest_indices(size_in: int, size_out: int) -> np.ndarray:
  """Source index of every output pixel of PyTorch `F.interpolate(mode='nearest')`.

  `aten/src/ATen/native/UpSample.h nearest_idx`: identity when the sizes are equal, i >> 1 when
  the output is exactly twice the input, else min(floor(i * scale), in - 1) with
  scale = in / out and the product both in float32 (not PIL's pixel-centred rule).
  """
  i = np.arange(size_out)
  if size_out == size_in:
    return i
  if size_out == 2 * size_in:
    return i >> 1
  scale = np.float32(size_in) / np.float32(size_out)
  src = np.floor(i.astype(np.float32) * scale).astype(np.int64)
  return np.minimum(src, size_in - 1)


def nearest_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  """(H,W) label map -> (h,w) with PyTorch nearest (`nearest_indices` per axis).

  The official YouTube-VOS test set resizes the one-hot annotation tensor with torchvision
  `Resize(480, NEAREST)` (`dataset/yv_test_dataset.py`); picking source pixels of the one-hot
  planes is the same as picking them from the label map.
  """
  rows = nearest_indices(labels.shape[0], int(size[0]))
  cols = nearest_indices(labels.shape[1], int(size[1]))
  return labels[rows[:, None], cols[None, :]]
