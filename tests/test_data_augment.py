"""Sampling, perturbation and augmentation pieces."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rde_jax.data import augment as A
from rde_jax.data.perturb import mask_iou, perturb_mask
from rde_jax.data.sampling import max_skip_at, sample_frame_indices, select_objects
from rde_jax.data.synthetic import generate_video


def test_perturbed_mask_iou_in_range():
  rng = np.random.default_rng(0)
  gt = np.zeros((96, 96), np.float32)
  gt[20:70, 30:80] = 1
  gt[40:50, 10:30] = 1
  ious = []
  for _ in range(40):
    u = rng.uniform(0.85, 1.0)
    p = perturb_mask(gt, u, rng)
    assert p.shape == gt.shape and p.dtype == np.float32 and set(np.unique(p)) <= {0.0, 1.0}
    ious.append(mask_iou(p, gt))
    assert ious[-1] < u  # stops as soon as IoU < target
  assert 0.6 < min(ious) and max(ious) < 1.0
  assert np.mean(ious) > 0.8


def test_max_skip_curriculum():
  assert [max_skip_at(s, 100, 3) for s in (0, 9, 10, 25, 39, 40, 89, 90, 99)] == [5, 5, 10, 15, 20, 25, 25, 5, 5]
  assert max_skip_at(85, 100, 1) == 5 and max_skip_at(79, 100, 1) == 25
  with pytest.raises(ValueError):
    max_skip_at(0, 100, 0)


@pytest.mark.parametrize("length,jump", [(80, 5), (80, 25), (30, 25), (6, 25), (3, 1), (1, 5)])
def test_frame_indices_rules(length, jump):
  rng = np.random.default_rng(length * 100 + jump)
  j = min(length, jump)

  def follows_rules(f):  # f_k = f_{k-1} + U{1..j+1}, clipped to <= min(L - j//k, L - 1)
    return all(f[k] == min(f[k], length - j // k, length - 1) and f[k] <= f[k - 1] + j + 1
               and (f[k] > f[k - 1] or f[k] == min(length - j // k, length - 1)) for k in range(1, 5))

  for _ in range(200):
    idx = sample_frame_indices(length, jump, rng)
    assert len(idx) == 5 and idx.min() >= 0 and idx.max() < length
    assert follows_rules(idx) or follows_rules(idx[::-1]), idx


def test_frame_indices_reverse_half_the_time():
  rng = np.random.default_rng(0)
  flips = sum(int(i[0] > i[-1]) for i in (sample_frame_indices(100, 10, rng) for _ in range(400)))
  assert 150 < flips < 250


def test_select_objects():
  rng = np.random.default_rng(0)
  labels = np.array([[0, 3], [5, 0]], np.uint8)
  picks = {select_objects(labels, rng) for _ in range(50)}
  assert picks == {(3, 5), (5, 3)}
  assert select_objects(np.zeros((2, 2), np.uint8), rng) == (-1, -1)
  assert select_objects(np.array([[0, 7]], np.uint8), rng) == (7, -1)


def test_resized_crop_params_within_image():
  rng = np.random.default_rng(0)
  for _ in range(100):
    top, left, h, w = A.sample_resized_crop(rng, 48, 85, (0.36, 1.0))
    assert 0 <= top and top + h <= 48 and 0 <= left and left + w <= 85
    assert 0.3 * 48 * 85 <= h * w <= 48 * 85


def test_affine_nearest_keeps_ids_and_identity():
  _, labels = generate_video(1, height=40, width=40, num_frames=1, min_objects=2, max_objects=2)
  lab = Image.fromarray(labels[0])
  out = np.asarray(A.apply_affine(lab, A.AffineParams(12.0, 1.1, -7.0), A.NEAREST, 0))
  assert set(np.unique(out)) <= set(np.unique(labels[0]))
  same = A.apply_affine(lab, A.AffineParams(360.0, 1.0, 0.0), A.NEAREST, 0)
  assert (np.asarray(same) == labels[0]).mean() > 0.97


def test_pad_crop_pads_small_images():
  img = Image.new("L", (10, 20), 200)
  rng = np.random.default_rng(0)
  top, left = A.sample_crop(rng, 20, 10, 16)
  out = np.asarray(A.pad_crop(img, top, left, 16, 7))
  assert out.shape == (16, 16) and set(np.unique(out)) <= {7, 200}


def test_jitter_and_grayscale():
  rng = np.random.default_rng(0)
  frames, labels = generate_video(2, height=32, width=32, num_frames=1)
  img = Image.fromarray(frames[0])
  p = A.sample_jitter(rng, 0.1, 0.05, 0.05, 0.05)
  assert sorted(p.order) == [0, 1, 2, 3] and 0.9 <= p.factors[0] <= 1.1 and abs(p.factors[3]) <= 0.05
  out = np.asarray(A.apply_jitter(img, p))
  assert out.shape == frames[0].shape and not np.array_equal(out, frames[0])
  assert np.array_equal(np.asarray(A.apply_jitter(img, A.JitterParams((0, 1, 2, 3), (1.0, 1.0, 1.0, 0.0)))), frames[0])
  g = np.asarray(A.grayscale(img))
  assert (g[..., 0] == g[..., 1]).all()


def test_normalize():
  x = np.array([[0, 128, 255]], np.uint8).repeat(3, 0).T
  y = A.normalize(x)
  np.testing.assert_allclose(y[0], (0 - A.IMAGENET_MEAN) / A.IMAGENET_STD, rtol=1e-6)
  assert y.dtype == np.float32
