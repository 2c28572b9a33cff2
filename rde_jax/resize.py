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


def resize_hw(x: np.ndarray, rh: np.ndarray, rw: np.ndarray, *, channels_last: bool) -> np.ndarray:
  """Applies (h', H) and (w', W) matrices to (..., H, W, C) or (..., H, W) arrays (numpy)."""
  if channels_last:
    return np.einsum("ah,...hwc,bw->...abc", rh, x, rw)
  return np.einsum("ah,...hw,bw->...ab", rh, x, rw)
