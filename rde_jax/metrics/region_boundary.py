"""DAVIS region (J) and contour (F) measures and their per-object statistics.

Numpy-only re-implementation of the official DAVIS 2017 toolkit's measures
(`davis2017/metrics.py db_eval_iou`, `db_eval_boundary`, `davis2017/utils.py`), giving
identical numbers:

* J: intersection over union; 1 when both masks are empty.
* F: boundary precision/recall F-measure. Boundaries come from the BSDS
  `seg2bmap` rule (1 px wide, no contour along the image border); a boundary
  pixel is matched when a boundary pixel of the other mask lies within the
  disk of radius `ceil(0.008 * image diagonal)` (the toolkit dilates with
  that disk; we test the disk directly at the boundary pixels, which is the
  same set). Empty-boundary cases follow the toolkit's table.
* Statistics: mean, recall (fraction of frames with value > 0.5) and decay
  (mean of the first quarter minus mean of the last quarter, with the
  toolkit's MATLAB-style rounded, overlapping bins).
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import NamedTuple, Sequence

import numpy as np


BOUNDARY_THRESHOLD = 0.008


def boundary_radius(shape: Sequence[int], bound_th: float = BOUNDARY_THRESHOLD) -> int:
  """Matching radius in pixels for frames of `shape` = (H, W).

  `bound_th >= 1` is taken as a pixel count; otherwise the radius is
  `ceil(bound_th * sqrt(H^2 + W^2))` (8 for 480x854).
  """
  if bound_th >= 1:
    if bound_th != int(bound_th):
      raise ValueError(f"a pixel radius must be an integer, got {bound_th}")
    return int(bound_th)
  height, width = shape[-2], shape[-1]
  return int(math.ceil(bound_th * np.linalg.norm((height, width))))


def boundary_map(mask: np.ndarray) -> np.ndarray:
  """One-pixel boundary of a binary mask (BSDS `seg2bmap`), shape kept.

  Args:
    mask: (..., H, W) array; non-zero is foreground.

  Returns:
    (..., H, W) bool: pixels that differ from their right, lower or
    lower-right neighbour (outside = 0); the last row compares only with the
    right neighbour, the last column only with the lower one, and the
    bottom-right pixel is never a boundary.
  """
  m = np.asarray(mask, dtype=bool)
  east = np.zeros_like(m)
  south = np.zeros_like(m)
  south_east = np.zeros_like(m)
  east[..., :, :-1] = m[..., :, 1:]
  south[..., :-1, :] = m[..., 1:, :]
  south_east[..., :-1, :-1] = m[..., 1:, 1:]
  diff_east = m ^ east
  diff_south = m ^ south
  bmap = diff_east | diff_south | (m ^ south_east)
  bmap[..., -1, :] = diff_east[..., -1, :]
  bmap[..., :, -1] = diff_south[..., :, -1]
  bmap[..., -1, -1] = False
  return bmap


@functools.lru_cache(maxsize=None)
def disk_rows(radius: int) -> tuple[np.ndarray, np.ndarray]:
  """The disk {(dy, dx): dy² + dx² <= r²} as rows: (2r+1,) offsets dy = -r..r and half-widths
  max |dx|."""
  dys = np.arange(-radius, radius + 1)
  half_widths = np.array([math.isqrt(radius * radius - dy * dy) for dy in dys])
  dys.flags.writeable = half_widths.flags.writeable = False  # shared through the cache
  return dys, half_widths


def count_matched(src: np.ndarray, dst: np.ndarray, radius: int) -> int:
  """Number of True pixels of (H, W) `src` with a True pixel of `dst` in their disk.

  Equal to `count_nonzero(src & binary_dilation(dst, disk(radius)))` with
  zero padding outside the frame, but only looks at `src`'s pixels: a
  row-wise prefix sum of `dst` (zero-padded by r on every side) answers
  each of the 2r+1 disk rows with two look-ups.
  """
  src, dst = np.asarray(src, dtype=bool), np.asarray(dst, dtype=bool)
  same = np.count_nonzero(src & dst)  # distance 0: matched
  ys, xs = np.nonzero(src & ~dst)
  if ys.size == 0:
    return same
  height, width = dst.shape
  r = radius
  stride = width + 2 * r + 1
  prefix = np.zeros((height + 2 * r, stride), np.int32)
  np.cumsum(dst, axis=1, out=prefix[r:r + height, r + 1:r + width + 1])
  prefix[r:r + height, r + width + 1:] = prefix[r:r + height, r + width:r + width + 1]
  prefix = prefix.ravel()
  dys, half_widths = disk_rows(r)
  starts = (ys[:, None] + (r + dys)) * stride + xs[:, None] + r  # (n, 2r+1): disk row centres
  hits = prefix.take(starts + (half_widths + 1)) > prefix.take(starts - half_widths)
  return same + int(np.count_nonzero(hits.any(axis=1)))


def _f_from_boundaries(gt_b: np.ndarray, pred_b: np.ndarray, radius: int) -> float:
  """F of two (h, w) boundary maps, with the toolkit's empty-boundary table."""
  n_pred = int(np.count_nonzero(pred_b))
  n_gt = int(np.count_nonzero(gt_b))
  if n_pred == 0 and n_gt == 0:
    return 1.0
  if n_pred == 0 or n_gt == 0:
    return 0.0  # (P, R) is (1, 0) or (0, 1).
  precision = count_matched(pred_b, gt_b, radius) / n_pred
  recall = count_matched(gt_b, pred_b, radius) / n_gt
  if precision + recall == 0:
    return 0.0
  return 2 * precision * recall / (precision + recall)


def crop_to_content(gt: np.ndarray, pred: np.ndarray) -> tuple[slice, slice] | None:
  """Bounding box of the non-zero pixels of two (H, W) arrays plus a 1-px margin (clipped).

  Cropping both to it keeps J and F exact: every boundary pixel lies inside,
  and a crop edge that is not the frame edge only borders zeros, where the
  boundary map's last-row/column rules give the same answer. None if both are empty.
  """
  rows = np.flatnonzero(gt.any(axis=1) | pred.any(axis=1))
  if rows.size == 0:
    return None
  cols = np.flatnonzero(gt.any(axis=0) | pred.any(axis=0))
  height, width = gt.shape
  return (slice(max(rows[0] - 1, 0), min(rows[-1] + 2, height)),
          slice(max(cols[0] - 1, 0), min(cols[-1] + 2, width)))


def _check_pair(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  gt = np.asarray(gt, dtype=bool)
  pred = np.asarray(pred, dtype=bool)
  if gt.shape != pred.shape or gt.ndim != 2:
    raise ValueError(f"gt and pred must have the same (H, W) shape, "
                     f"got {gt.shape} and {pred.shape}")
  return gt, pred


def jaccard(gt: np.ndarray, pred: np.ndarray) -> float:
  """Region similarity J of two (H, W) masks (non-zero = foreground).

  J = |gt ∧ pred| / |gt ∨ pred|, and 1 when both are empty.
  """
  gt, pred = _check_pair(gt, pred)
  union = np.count_nonzero(gt | pred)
  if union == 0:
    return 1.0
  return np.count_nonzero(gt & pred) / union


def boundary_f(gt: np.ndarray, pred: np.ndarray, radius: int) -> float:
  """Contour accuracy F of two (H, W) masks with an explicit matching radius in pixels.

  The masks must be whole frames or crops from `crop_to_content` (the
  boundary map treats the array edge as the image edge).
  """
  gt, pred = _check_pair(gt, pred)
  crop = crop_to_content(gt, pred)
  if crop is None:
    return 1.0  # both empty: both boundary maps empty
  return _f_from_boundaries(boundary_map(gt[crop]), boundary_map(pred[crop]), radius)


def f_measure(gt: np.ndarray, pred: np.ndarray, bound_th: float = BOUNDARY_THRESHOLD) -> float:
  """Contour accuracy F of two (H, W) masks; the radius follows from (H, W) (`boundary_radius`)."""
  return boundary_f(gt, pred, boundary_radius(np.shape(gt), bound_th))


class Statistics(NamedTuple):
  """Per-object statistics of N per-frame values (floats; NaN when N = 0)."""

  mean: float
  recall: float
  decay: float


def decay_bin_edges(n: int) -> np.ndarray:
  """(5,) int: 0-based edges of the 4 decay bins, MATLAB `round(linspace(1, n, 5)) - 1`.

  Bin i is `values[edges[i] : edges[i+1] + 1]` (adjacent bins share a frame).
  The +1e-10 makes exact halves round up, as MATLAB does (numpy rounds to even).
  """
  return (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(np.int64)


def statistics(values: np.ndarray) -> Statistics:
  """Mean, recall (share of values > 0.5, strictly) and decay of (N,) per-frame values."""
  values = np.asarray(values, np.float64)
  if values.ndim != 1:
    raise ValueError(f"expected (N,) values, got shape {values.shape}")
  if values.size == 0:
    return Statistics(math.nan, math.nan, math.nan)
  edges = decay_bin_edges(values.size)
  first = values[edges[0]:edges[1] + 1]
  last = values[edges[3]:edges[4] + 1]
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, as in the toolkit
    mean = np.nanmean(values)
    decay = np.nanmean(first) - np.nanmean(last)
  recall = np.mean(values > 0.5)
  return Statistics(float(mean), float(recall), float(decay))
