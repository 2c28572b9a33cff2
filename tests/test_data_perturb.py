"""Mask perturbation: OpenCV's elliptical kernels and morphology, empty targets."""

from __future__ import annotations

import numpy as np
import pytest

from rde_jax.data import perturb


SIZES = range(3, 10)  # official random_dilate / random_erode: np.random.randint(3, 10)


def _cv2():
  return pytest.importorskip("cv2", reason="opencv-python-headless (requirements.txt, tests) not installed")


def test_ellipse_kernels_match_the_hand_derived_opencv_rule():
  # r = h // 2, c = w // 2, row i spans c -/+ round(c * sqrt(1 - (i - r)^2 / r^2)).
  np.testing.assert_array_equal(perturb.ellipse_kernel(5, 5).astype(int), [
      [0, 0, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 1, 0, 0]])
  # width 3, height 1 (size 3, half height): r = 0 gives dx = 0, only the centre pixel.
  np.testing.assert_array_equal(perturb.ellipse_kernel(3, 1).astype(int), [[0, 1, 0]])
  # height 4 (even): r = 2, rows dy = -2..1, so the last row is not the mirror of the first.
  np.testing.assert_array_equal(perturb.ellipse_kernel(4, 4).astype(int), [
      [0, 0, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]])


def test_every_kernel_used_equals_opencv():
  cv2 = _cv2()
  shapes = {0: cv2.MORPH_RECT, 1: cv2.MORPH_ELLIPSE, 2: cv2.MORPH_ELLIPSE, 3: cv2.MORPH_ELLIPSE}
  for size in SIZES:
    for kind, (w, h) in enumerate([(size, size), (size, size), (size, size // 2), (size // 2, size)]):
      ref = cv2.getStructuringElement(shapes[kind], (w, h)).astype(bool)
      np.testing.assert_array_equal(perturb.structuring_element(kind, size), ref, err_msg=f"{kind} {size}")
  for w in range(1, 16):  # and the rule beyond the sizes used
    for h in range(1, 16):
      ref = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (w, h)).astype(bool)
      np.testing.assert_array_equal(perturb.ellipse_kernel(w, h), ref, err_msg=f"{w}x{h}")


def test_dilate_and_erode_equal_opencv_on_sub_rectangles():
  cv2 = _cv2()
  rng = np.random.default_rng(0)
  for size in SIZES:
    for kind in range(4):
      k = perturb.structuring_element(kind, size)
      for shape in ((1, 1), (2, 7), (13, 17)):
        x = ((rng.random(shape) < 0.3) * 255 * rng.random(shape)).astype(np.float32)
        ku = k.astype(np.uint8)
        np.testing.assert_array_equal(perturb.dilate(x, k), cv2.dilate(x, ku))
        np.testing.assert_array_equal(perturb.erode(x, k), cv2.erode(x, ku))


def test_empty_target_gets_a_blob_as_the_official_loop():
  rng = np.random.default_rng(3)
  outs = [perturb.perturb_mask(np.zeros((40, 40), np.float32), 0.9, rng) for _ in range(5)]
  # The official loop never returns early on an empty mask: a centre-pixel draw (p = 0.1 per
  # operation) seeds a pixel, then IoU = 1e-6 / (n + 1e-6) < target ends the round.
  assert all(o.any() for o in outs)
  assert all(o.sum() < 40 * 40 / 2 for o in outs)
  assert perturb.perturb_mask(np.zeros((2, 9), np.float32), 0.9, rng).sum() == 0  # too small: unchanged
