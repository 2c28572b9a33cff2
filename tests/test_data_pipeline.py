"""The Grain clip pipeline: batch format, determinism, resume, per-process sharding."""

from __future__ import annotations

import numpy as np
import pytest

from rde_jax.data import pipeline as P
from rde_jax.data.clips import StaticClipConfig, VideoClipConfig
from rde_jax.data.synthetic import SyntheticConfig, SyntheticVideos

S = 48
VIDEOS = SyntheticVideos(6, SyntheticConfig(height=64, width=64, num_frames=12, min_objects=2, max_objects=3))


class _Static:
  def __len__(self):
    return 5

  def __getitem__(self, i):
    rng = np.random.default_rng(i)
    mask = np.zeros((50, 70), np.uint8)
    mask[10:40, 15 + i : 50 + i] = 255
    return {"image": rng.integers(0, 256, (50, 70, 3), dtype=np.uint8), "mask": mask}


def _video_ds(seed=0, batch_size=2, **kw):
  kw.setdefault("process_index", 0)
  kw.setdefault("process_count", 1)
  return P.video_pipeline([P.SourceSpec(VIDEOS)], batch_size=batch_size, seed=seed, max_skip=4,
                          config=VideoClipConfig(crop_size=S), **kw)


def test_video_batch_format():
  b = _video_ds(batch_size=3)[0]
  expect = {"rgb": ((3, 5, S, S, 3), np.float32), "gt": ((3, 5, S, S), np.float32),
            "sec_gt": ((3, 5, S, S), np.float32), "pgt": ((3, S, S), np.float32),
            "sec_pgt": ((3, S, S), np.float32), "cls_gt": ((3, 5, S, S), np.int32),
            "selector": ((3, 2), np.float32)}
  assert {k: (v.shape, v.dtype) for k, v in b.items()} == expect
  assert set(np.unique(b["gt"])) <= {0.0, 1.0} and set(np.unique(b["sec_gt"])) <= {0.0, 1.0}
  np.testing.assert_array_equal(b["cls_gt"], np.where(b["sec_gt"] > 0.5, 2, np.where(b["gt"] > 0.5, 1, 0)))
  assert (b["gt"][:, 0].reshape(3, -1).max(1) == 1).all()  # target visible in frame 0
  for i in range(3):
    assert b["selector"][i, 0] == 1
    assert b["selector"][i, 1] == float(b["sec_gt"][i, 0].any())
    if not b["selector"][i, 1]:
      assert not b["sec_gt"][i].any() and not b["sec_pgt"][i].any()
  # ImageNet normalisation: (x/255 - mean)/std stays within these bounds
  assert b["rgb"].min() >= -2.2 and b["rgb"].max() <= 2.7 and b["rgb"].std() > 0.1


def test_static_batch_format():
  ds = P.static_pipeline([P.SourceSpec(_Static(), repeat=2)], batch_size=2, seed=0,
                         config=StaticClipConfig(crop_size=S, tps_prob=0.5), process_index=0, process_count=1)
  b = ds[1]
  expect = {"rgb": ((2, 3, S, S, 3), np.float32), "gt": ((2, 3, S, S), np.float32),
            "pgt": ((2, S, S), np.float32), "cls_gt": ((2, 3, S, S), np.int32)}
  assert {k: (v.shape, v.dtype) for k, v in b.items()} == expect
  assert 0 <= b["gt"].min() and b["gt"].max() <= 1 and b["gt"].max() == 1
  np.testing.assert_array_equal(b["cls_gt"], (b["gt"] > 0.5).astype(np.int32))


def test_same_seed_same_batches_and_different_seed_differs():
  a, b, c = _video_ds(seed=1), _video_ds(seed=1), _video_ds(seed=2)
  for step in (0, 3):
    for k in a[step]:
      np.testing.assert_array_equal(a[step][k], b[step][k])
  assert not np.array_equal(a[0]["rgb"], c[0]["rgb"])
  assert not np.array_equal(a[0]["rgb"], a[1]["rgb"])


def test_iterator_resume_is_bit_identical():
  ds = _video_ds()
  it = P.make_iterator(ds, num_threads=2)
  batches = [next(it) for _ in range(3)]
  state = it.get_state()
  assert state == {"next_index": 3}
  want = next(it)
  resumed = P.make_iterator(ds, num_threads=0)
  resumed.set_state(state)
  got = next(resumed)
  for k in want:
    np.testing.assert_array_equal(got[k], want[k])
    np.testing.assert_array_equal(batches[1][k], ds[1][k])
  started = next(P.make_iterator(ds, start_step=3))
  np.testing.assert_array_equal(started["rgb"], want["rgb"])


@pytest.mark.parametrize("repeat", [1, 2])
def test_processes_read_disjoint_parts_that_cover_the_split(repeat):
  n, batch = len(VIDEOS), 1
  specs = [P.SourceSpec(VIDEOS, repeat=repeat)]
  plans = [P.sample_plan(specs, batch_size=batch, seed=3, process_index=p, process_count=2) for p in range(2)]
  steps = n * repeat // (2 * batch)  # one epoch
  seen = [[item for s in range(steps) for _, item in plan.step_items(s)] for plan in plans]
  ids = [[plan.sample_id(pos) for pos in range(steps * batch)] for plan in plans]
  assert not set(ids[0]) & set(ids[1])
  assert sorted(ids[0] + ids[1]) == list(range(n * repeat))
  assert sorted(seen[0] + seen[1]) == sorted(list(range(n)) * repeat)
  # and the pipelines really produce different batches
  d0, d1 = (_video_ds(batch_size=batch, process_index=p, process_count=2) for p in range(2))
  assert not np.array_equal(d0[0]["rgb"], d1[0]["rgb"])


def test_mixture_repeats_and_skip_divisor():
  other = SyntheticVideos(2, SyntheticConfig(height=64, width=64, num_frames=6), seed=9)
  specs = [P.SourceSpec(VIDEOS, repeat=2), P.SourceSpec(other, skip_divisor=5)]
  plan = P.sample_plan(specs, batch_size=2, seed=0, process_index=0, process_count=1)
  epoch = [plan.item(i) for i in range(plan.epoch_size)]
  assert sorted(epoch) == sorted([(0, i) for i in range(6)] * 2 + [(1, 0), (1, 1)])
  assert [plan.item(i) for i in range(plan.epoch_size, 2 * plan.epoch_size)] != epoch  # reshuffled
  b = P.video_pipeline(specs, batch_size=2, seed=0, max_skip=lambda step: 25, config=VideoClipConfig(crop_size=S),
                       process_index=0, process_count=1)[0]
  assert b["rgb"].shape == (2, 5, S, S, 3)
