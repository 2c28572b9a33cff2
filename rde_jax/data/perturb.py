"""Perturbed first-frame masks: random local dilations/erosions until IoU < target.

As the official `dataset/vos_dataset.py perturb_mask` (same in `static_dataset.py`):

    pgt = perturb_mask(gt0, iou_target=rng.uniform(0.85, 1.0), rng=rng)

Each round applies 4 operations on random sub-rectangles: with probability 0.1 the centre
pixel is set to 0 or 1 (seeds holes and islands), then a grey dilation or erosion (50/50) with
a random structuring element (size 3..9; square, ellipse, or half-height / half-width ellipse,
the ellipses exactly OpenCV's `getStructuringElement(MORPH_ELLIPSE, ...)`). The loop stops as
soon as IoU(seg, gt) < target, after at most 250 rounds. Pixels outside the sub-rectangle do not
influence it (as OpenCV's default border). Works on soft masks too. Random draws come in the
official order (corner, opposite corner, centre-pixel coin and value, dilate coin, size, shape).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage


@functools.lru_cache(maxsize=None)
def ellipse_kernel(width: int, height: int) -> np.ndarray:
  """(height, width) bool: OpenCV `getStructuringElement(MORPH_ELLIPSE, (width, height))`.

  OpenCV's rule (imgproc `getStructuringElement`), written out: with r = height // 2 and
  c = width // 2, row i holds columns [max(c - dx, 0), min(c + dx + 1, width)) where
  dy = i - r and dx = round(c * sqrt((r² - dy²) / r²)) (round half to even; dx = 0 when r = 0);
  a 1x1 ellipse is a single pixel. Not the continuous ellipse: e.g. (5, 5) is a plus-shaped
  "diamond with flat sides", and even sizes are not symmetric about their centre.
  """
  if width < 1 or height < 1:
    raise ValueError(f"kernel size must be positive, got {width}x{height}")
  r, c = height // 2, width // 2
  out = np.zeros((height, width), bool)
  if (width, height) == (1, 1):
    out[0, 0] = True
    return out
  for i in range(height):
    dy = i - r
    if abs(dy) <= r:
      dx = int(np.rint(c * np.sqrt((r * r - dy * dy) / (r * r)))) if r else 0
      out[i, max(c - dx, 0):min(c + dx + 1, width)] = True
  return out


def structuring_element(kind: int, size: int) -> np.ndarray:
  """The official `get_random_structure` kernels (choice 1..4 there = kind 0..3 here):
  0: square size x size; 1: ellipse (size, size); 2: ellipse width size, height size // 2;
  3: ellipse width size // 2, height size. Ellipses as OpenCV's (`ellipse_kernel`)."""
  if kind == 0:
    return np.ones((size, size), bool)
  w, h = {1: (size, size), 2: (size, size // 2), 3: (size // 2, size)}[kind]
  return ellipse_kernel(w, h)


def dilate(region: np.ndarray, kernel: np.ndarray) -> np.ndarray:
  """`cv2.dilate(region, kernel)`: max over the kernel anchored at (h // 2, w // 2), no
  reflection; pixels outside the region never win (OpenCV's default border)."""
  return ndimage.maximum_filter(region, footprint=kernel, mode="constant", cval=-np.inf)


def erode(region: np.ndarray, kernel: np.ndarray) -> np.ndarray:
  """`cv2.erode(region, kernel)` (see `dilate`)."""
  return ndimage.minimum_filter(region, footprint=kernel, mode="constant", cval=np.inf)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
  """IoU of the non-zero supports, with the official +1e-6 smoothing (empty vs empty = 1)."""
  a, b = a != 0, b != 0
  return (np.count_nonzero(a & b) + 1e-6) / (np.count_nonzero(a | b) + 1e-6)


def perturb_mask(mask: np.ndarray, iou_target: float, rng: np.random.Generator, *,
                 max_rounds: int = 250, ops_per_round: int = 4, min_size: int = 3,
                 max_size: int = 9) -> np.ndarray:
  """mask (H, W) float in [0, 1] (binary or soft) -> perturbed float32 copy.

  Tiny masks (H or W <= 2) and `iou_target >= 1` are returned unchanged. An empty mask runs
  the same loop, as the official code: its IoU stays 1 until a centre-pixel draw sets a pixel,
  which the following dilations grow into a blob, so the perturbed mask of an empty target is
  usually a small blob, not empty.
  """
  seg = np.asarray(mask, np.float32).copy()
  h, w = seg.shape
  if iou_target >= 1.0 or h <= 2 or w <= 2:
    return seg
  gt = seg.copy()
  for _ in range(max_rounds):
    for _ in range(ops_per_round):
      lx, ly = int(rng.integers(w)), int(rng.integers(h))
      rx, ry = int(rng.integers(lx + 1, w + 1)), int(rng.integers(ly + 1, h + 1))
      if rng.random() < 0.1:
        seg[(ly + ry) // 2, (lx + rx) // 2] = float(rng.integers(2))
      grow = rng.random() < 0.5
      size = int(rng.integers(min_size, max_size + 1))
      footprint = structuring_element(int(rng.integers(4)), size)
      region = seg[ly:ry, lx:rx]
      region[...] = (dilate if grow else erode)(region, footprint)
    if mask_iou(seg, gt) < iou_target:
      break
  return seg
