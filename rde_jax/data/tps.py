"""Thin-plate-spline warp of the static stage, as the official `dataset/tps.py random_tps_warp`.

    rgb, mask = random_tps_warp(rgb, mask, rng, scale=0.02)   # (H,W,3) uint8, (H,W) uint8

What the official code does (it calls the `thinplatespline` package and OpenCV's `remap`),
written out here with numpy:

* control points (`pick_random_points`): 12 distinct rows and 12 distinct columns, each drawn
  without replacement, normalised by the image size; the official `np.stack((rows/h, cols/w), 1)`
  hands the *row* fraction to the spline as its x coordinate (crops are square, so this only
  matters for non-square inputs, and it is kept);
* destinations = sources + N(0, scale) (`scale` 0.02 of the image size);
* one spline per axis fitted at the destinations to the displacement (source - destination),
  kernel U(r) = r² log(r + 1e-6) with an affine part (`tps_theta_from_points`);
* evaluated on the grid `linspace(0, 1, W) x linspace(0, 1, H)` and scaled by (W, H)
  (`tps_grid`, `tps_grid_to_remap`): even a zero displacement maps output pixel j to input
  j * W / (W - 1), so the last row and column sample just past the image;
* the image is resampled bilinearly, the mask with **nearest** sampling, both with a **black
  (zero)** border (`cv2.remap` defaults: `BORDER_CONSTANT`, value 0). The bilinear weights are
  exact, as OpenCV 5's remap (bit-identical, tests/test_data_tps.py); OpenCV 4, which the
  official runs used, rounded coordinates to 1/32 pixel (a few grey levels apart on noise).
"""

from __future__ import annotations

import numpy as np

def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """U(|a_i - b_j|) = r² log(r + 1e-6) for points a (N, 2), b (M, 2) -> (N, M)."""
  r = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
  return r ** 2 * np.log(r + 1e-6)


def _fit(ctrl: np.ndarray, values: np.ndarray) -> np.ndarray:
  """Spline coefficients (N + 3, K): N kernel weights, then [1, x, y] affine terms."""
  n = len(ctrl)
  p = np.concatenate([np.ones((n, 1)), ctrl], 1)
  system = np.zeros((n + 3, n + 3))
  system[:n, :n] = _kernel(ctrl, ctrl)
  system[:n, n:] = p
  system[n:, :n] = p.T
  rhs = np.concatenate([values, np.zeros((3, values.shape[1]))])
  return np.linalg.solve(system, rhs)


def tps_source_coords(src: np.ndarray, dst: np.ndarray, height: int,
                      width: int) -> tuple[np.ndarray, np.ndarray]:
  """Remap maps of the warp taking `src` control points to `dst` ((N, 2) fractions, (x, y)).

  Returns (map_x, map_y), each (height, width) float32: the input pixel each output pixel reads.
  """
  coef = _fit(dst, src - dst)
  xs, ys = np.meshgrid(np.linspace(0, 1, width, dtype=np.float32).astype(np.float64),
                       np.linspace(0, 1, height, dtype=np.float32).astype(np.float64))
  grid = np.stack([xs.ravel(), ys.ravel()], 1)
  n = len(dst)
  disp = _kernel(grid, dst) @ coef[:n] + coef[n] + grid @ coef[n + 1:]
  mapped = (grid + disp).reshape(height, width, 2)
  return (mapped[..., 0] * width).astype(np.float32), (mapped[..., 1] * height).astype(np.float32)


def _sample(img: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
  """img[rows, cols] with zeros outside the image (float64)."""
  h, w = img.shape[:2]
  inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
  out = img[np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)].astype(np.float64)
  out[~inside] = 0
  return out


def remap_nearest(img: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
  """`cv2.remap(img, map_x, map_y, INTER_NEAREST)` with a zero border: coordinates rounded."""
  rows, cols = np.rint(map_y).astype(np.int64), np.rint(map_x).astype(np.int64)
  return _sample(img, rows, cols).astype(img.dtype)


def remap_bilinear(img: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
  """`cv2.remap(img, map_x, map_y, INTER_LINEAR)` with a zero border, uint8 in and out."""
  x0, y0 = np.floor(map_x).astype(np.int64), np.floor(map_y).astype(np.int64)
  fx, fy = map_x - x0, map_y - y0
  if img.ndim == 3:
    fx, fy = fx[..., None], fy[..., None]
  out = ((1 - fy) * ((1 - fx) * _sample(img, y0, x0) + fx * _sample(img, y0, x0 + 1))
         + fy * ((1 - fx) * _sample(img, y0 + 1, x0) + fx * _sample(img, y0 + 1, x0 + 1)))
  return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def random_control_points(rng: np.random.Generator, height: int, width: int, points: int,
                          scale: float) -> tuple[np.ndarray, np.ndarray]:
  """(src, dst) control points (points, 2) as the official `pick_random_points` + noise."""
  if points > min(height, width):
    raise ValueError(f"TPS warp needs {points} distinct rows and columns, "
                     f"image is {height}x{width}")
  rows = rng.choice(height, size=points, replace=False) / height
  cols = rng.choice(width, size=points, replace=False) / width
  src = np.stack([rows, cols], 1)  # official order: the row fraction is the spline's x
  return src, src + rng.normal(0.0, scale, src.shape)


def random_tps_warp(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator, *,
                    points: int = 12, scale: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
  """img (H, W, 3) uint8, mask (H, W) uint8 -> warped copies (bilinear image, nearest mask)."""
  h, w = mask.shape
  src, dst = random_control_points(rng, h, w, points, scale)
  map_x, map_y = tps_source_coords(src, dst, h, w)
  return remap_bilinear(img, map_x, map_y), remap_nearest(mask, map_x, map_y)
