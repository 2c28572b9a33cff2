"""Thin-plate-spline warp of the static stage (official dataset/tps.py)."""

from __future__ import annotations

import numpy as np
import pytest

from rde_jax.data import tps


def test_control_points_lie_on_distinct_rows_and_columns():
  rng = np.random.default_rng(0)
  for _ in range(20):
    src, dst = tps.random_control_points(rng, 16, 24, 12, 0.02)
    rows, cols = src[:, 0] * 16, src[:, 1] * 24
    np.testing.assert_allclose(rows, np.round(rows), atol=1e-9)
    np.testing.assert_allclose(cols, np.round(cols), atol=1e-9)
    assert len(set(np.round(rows))) == 12 and len(set(np.round(cols))) == 12
    assert 0 < np.abs(dst - src).max() < 0.2
  with pytest.raises(ValueError, match="distinct rows"):
    tps.random_control_points(rng, 8, 40, 12, 0.02)


def test_zero_displacement_is_the_official_grid_with_a_black_last_row_and_column():
  rng = np.random.default_rng(1)
  src, _ = tps.random_control_points(rng, 20, 30, 12, 0.02)
  map_x, map_y = tps.tps_source_coords(src, src, 20, 30)
  np.testing.assert_allclose(map_x, np.broadcast_to(np.arange(30) * 30 / 29, (20, 30)), atol=1e-4)
  np.testing.assert_allclose(map_y, np.broadcast_to((np.arange(20) * 20 / 19)[:, None], (20, 30)), atol=1e-4)
  img = np.full((20, 30, 3), 200, np.uint8)
  mask = np.full((20, 30), 255, np.uint8)
  w_img, w_mask = tps.remap_bilinear(img, map_x, map_y), tps.remap_nearest(mask, map_x, map_y)
  assert (w_mask[-1] == 0).all() and (w_mask[:, -1] == 0).all() and (w_mask[:-1, :-1] == 255).all()
  assert (w_img[-1] == 0).all() and (w_img[:, -1] == 0).all()


def test_mask_is_warped_with_nearest_sampling():
  rng = np.random.default_rng(2)
  mask = np.zeros((48, 48), np.uint8)
  mask[10:30, 12:40] = 255
  mask[20:25, 5:15] = 128
  img = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
  w_img, w_mask = tps.random_tps_warp(img, mask, rng, scale=0.05)
  assert set(np.unique(w_mask)) <= {0, 128, 255}  # no blended values
  assert not np.array_equal(w_mask, mask) and w_img.shape == img.shape and w_img.dtype == np.uint8


def test_remap_equals_opencv():
  cv2 = pytest.importorskip("cv2", reason="opencv-python-headless (requirements.txt, tests) not installed")
  rng = np.random.default_rng(3)
  for h, w in ((64, 64), (40, 72)):
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = ((rng.random((h, w)) < 0.3) * 255).astype(np.uint8)
    src, dst = tps.random_control_points(rng, h, w, 12, 0.05)
    map_x, map_y = tps.tps_source_coords(src, dst, h, w)
    np.testing.assert_array_equal(tps.remap_nearest(mask, map_x, map_y),
                                  cv2.remap(mask, map_x, map_y, cv2.INTER_NEAREST))
    diff = tps.remap_bilinear(img, map_x, map_y).astype(int) - cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR)
    assert np.abs(diff).max() <= 1
