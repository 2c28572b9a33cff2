"""synthetic_vos: determinism, format, visibility, motion, speed."""

from __future__ import annotations


import numpy as np

from rde_jax.data.synthetic import SyntheticConfig, SyntheticVideos, generate_video


def test_format_and_determinism():
  f, l = generate_video(3, height=64, width=80, num_frames=7)
  assert f.shape == (7, 64, 80, 3) and f.dtype == np.uint8
  assert l.shape == (7, 64, 80) and l.dtype == np.uint8
  f2, l2 = generate_video(3, height=64, width=80, num_frames=7)
  np.testing.assert_array_equal(f, f2)
  np.testing.assert_array_equal(l, l2)
  f3, _ = generate_video(4, height=64, width=80, num_frames=7)
  assert not np.array_equal(f, f3)


def test_objects_visible_in_first_frame_and_moving():
  counts, moved = [], []
  for seed in range(30):
    _, labels = generate_video(seed, height=64, width=64, num_frames=8, min_objects=1, max_objects=3)
    k = int(labels.max())
    assert 1 <= k <= 3
    assert set(np.unique(labels[0])) == set(range(k + 1))  # every object visible in frame 0
    counts.append(k)
    for obj in range(1, k + 1):
      a, b = labels[0] == obj, labels[4] == obj
      moved.append((a != b).mean())
  assert set(counts) == {1, 2, 3}
  assert 0.002 < np.median(moved) < 0.2  # moderate motion


def test_objects_differ_in_colour_from_background():
  frames, labels = generate_video(11, min_objects=2, max_objects=2)
  means = [frames[0][labels[0] == k].mean(0) for k in range(3)]
  assert np.linalg.norm(means[1] - means[0]) > 20 and np.linalg.norm(means[2] - means[1]) > 20


def test_source_protocol():
  src = SyntheticVideos(3, SyntheticConfig(height=32, width=32, num_frames=4), seed=5)
  assert len(src) == 3
  v = src[2]
  np.testing.assert_array_equal(v["frames"], generate_video(src.video_seed(2), config=src.config)[0])
  assert v["name"] == "synthetic_5_000002"
