"""Perturbed first-frame masks (SPEC §4): random local dilations/erosions until IoU < target.

    pgt = perturb_mask(gt0, iou_target=rng.uniform(0.85, 1.0), rng=rng)

Each round applies 4 operations on random sub-rectangles: with probability 0.1 the centre
pixel is set to 0 or 1 (seeds holes and islands), then a grey dilation or erosion (50/50) with
a random structuring element (size 3..9; square, ellipse, or half-height / half-width ellipse).
The loop stops as soon as IoU(seg, gt) < target, after at most 250 rounds. Pixels outside the
sub-rectangle do not influence it (as OpenCV's default border). Works on soft masks too.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage


@functools.lru_cache(maxsize=None)
def structuring_element(kind: int, size: int) -> np.ndarray:
  """kind 0: square s×s; 1: ellipse s×s; 2: ellipse w=s, h=s//2; 3: ellipse w=s//2, h=s."""
  if kind == 0:
    return np.ones((size, size), bool)
  w, h = {1: (size, size), 2: (size, size // 2), 3: (size // 2, size)}[kind]
  w, h = max(w, 1), max(h, 1)
  y = (np.arange(h) - (h - 1) / 2) / max(h / 2, 0.5)
  x = (np.arange(w) - (w - 1) / 2) / max(w / 2, 0.5)
  return (y[:, None] ** 2 + x[None, :] ** 2) <= 1.0 + 1e-6


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
  """IoU of the non-zero supports, with the official +1e-6 smoothing (empty vs empty = 1)."""
  a, b = a != 0, b != 0
  return (np.count_nonzero(a & b) + 1e-6) / (np.count_nonzero(a | b) + 1e-6)


def perturb_mask(mask: np.ndarray, iou_target: float, rng: np.random.Generator, *, max_rounds: int = 250,
                 ops_per_round: int = 4, min_size: int = 3, max_size: int = 9) -> np.ndarray:
  """mask (H, W) float in [0, 1] (binary or soft) -> perturbed float32 copy.

  Empty masks, tiny masks (H or W <= 2) and ``iou_target >= 1`` are returned unchanged.
  """
  seg = np.asarray(mask, np.float32).copy()
  h, w = seg.shape
  if iou_target >= 1.0 or h <= 2 or w <= 2 or not seg.any():
    return seg
  gt = seg.copy()
  for _ in range(max_rounds):
    for _ in range(ops_per_round):
      lx, ly = int(rng.integers(w)), int(rng.integers(h))
      rx, ry = int(rng.integers(lx + 1, w + 1)), int(rng.integers(ly + 1, h + 1))
      if rng.random() < 0.1:
        seg[(ly + ry) // 2, (lx + rx) // 2] = float(rng.integers(2))
      dilate = rng.random() < 0.5
      size = int(rng.integers(min_size, max_size + 1))
      footprint = structuring_element(int(rng.integers(4)), size)
      region = seg[ly:ry, lx:rx]
      if dilate:
        region[...] = ndimage.grey_dilation(region, footprint=footprint, mode="constant", cval=0.0)
      else:
        region[...] = ndimage.grey_erosion(region, footprint=footprint, mode="constant", cval=1.0)
    if mask_iou(seg, gt) < iou_target:
      break
  return seg
