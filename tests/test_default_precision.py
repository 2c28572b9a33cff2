"""End to end at what a CPU user gets by default: JAX's default matmul precision, under which the
CPU fast path of the convolutions (`rde_jax.model.conv_algorithm`: Winograd 3x3, 1x1 as one
product) runs; the rest of the suite runs at 'highest', which keeps that path off."""

import jax
import numpy as np
import pytest

from rde_jax import api
from rde_jax.data.synthetic import generate_video
from rde_jax.model import winograd
from rde_jax.model.architectures import TINY
from rde_jax.model.network import init_variables

# 256x256: the tiny model's f8 skip convolution (64 channels at 32x32) qualifies for Winograd.
SIZE = 256

pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu",
                                reason="the fast path is the CPU default only")


def test_segment_takes_the_fast_path_and_matches_the_exact_run(default_precision, monkeypatch):
  frames, labels = generate_video(7, height=SIZE, width=SIZE, num_frames=5, min_objects=2,
                                  max_objects=2)
  variables = init_variables(TINY, 0)
  traced = []
  conv3x3 = winograd.conv3x3
  monkeypatch.setattr(winograd, "conv3x3", lambda *a: traced.append(a[0].shape) or conv3x3(*a))

  fast = api.VOSModel(TINY, variables).segment(frames, labels[0])
  assert traced, "no convolution ran as Winograd at the default precision"
  traced.clear()
  with jax.default_matmul_precision("highest"):
    exact = api.VOSModel(TINY, variables).segment(frames, labels[0])
  assert not traced  # 'highest' keeps every convolution direct: the reference run

  assert fast.shape == exact.shape == (5, SIZE, SIZE) and fast.dtype == np.uint8
  np.testing.assert_array_equal(fast[0], labels[0])
  assert {1, 2} <= set(np.unique(exact[1:]).tolist())  # both objects tracked: labels to compare
  assert np.mean(fast == exact) >= 0.999  # only near-ties may flip
