"""Loss terms against values computed by hand (numpy, independent of the JAX code)."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from rde_jax.train import losses
from rde_jax.train import trainer

from configs_helper import load_config


def test_bootstrap_schedule_is_the_official_one():
  assert losses.bootstrap_k(999, 4096, 1000, 2000) == 4096  # before start_warm: plain mean
  assert losses.bootstrap_fraction(1000, 1000, 2000) == 1.0  # boundary takes the ramp: p = 1
  assert losses.bootstrap_k(11250, 4096, 5000, 17500) == 2355  # p = 0.575, int(2355.2)
  assert losses.bootstrap_k(17500, 4096, 5000, 17500) == 614  # p = 0.15 at end_warm
  assert losses.bootstrap_k(30000, 4096, 5000, 17500) == 614  # int(614.4)


def test_bootstrapped_ce_keeps_the_k_hardest_pixels_per_sample():
  # Two classes, logits [0, a]: CE = log(1 + e^a) for label 0 and log(1 + e^-a) for label 1.
  a = np.array([[0.0, 1.0, 2.0, 3.0], [-1.0, 0.0, 1.0, 5.0]], np.float32)  # (B=2, 4 pixels)
  logits = np.stack([np.zeros_like(a), a], axis=1).reshape(2, 2, 2, 2)
  labels = np.zeros((2, 2, 2), np.int32)
  ce = np.log1p(np.exp(a))
  k = 2
  expected = np.mean([np.mean(np.sort(row)[-k:]) for row in ce])
  got = float(losses.bootstrapped_ce(jnp.asarray(logits), jnp.asarray(labels), jnp.int32(k)))
  assert got == pytest.approx(expected, rel=1e-6)
  # k = all pixels is the plain mean.
  got_all = float(losses.bootstrapped_ce(jnp.asarray(logits), jnp.asarray(labels), jnp.int32(4)))
  assert got_all == pytest.approx(float(ce.mean()), rel=1e-6)


def test_kl_is_mean_over_all_elements_with_softmax_over_channels():
  teacher = np.zeros((1, 2, 2), np.float32)  # softmax -> (0.5, 0.5) at both positions
  student = np.tile(np.array([0.0, math.log(3.0)], np.float32), (1, 2, 1))  # (0.25, 0.75)
  per_position = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
  expected = per_position * 2 / 4  # summed over 2 positions, divided by all 4 elements
  got = float(losses.kl_divergence(jnp.asarray(student), jnp.asarray(teacher)))
  assert got == pytest.approx(expected, rel=1e-6)
  assert float(losses.kl_divergence(jnp.asarray(student), jnp.asarray(student))) == 0.0


def test_frame_weights_quirk_and_switch():
  np.testing.assert_array_equal(losses.frame_weights(4), [1 / 16, 1 / 8, 1 / 4, 1 / 2])
  np.testing.assert_array_equal(losses.frame_weights(2), [1 / 4, 1 / 2])
  np.testing.assert_array_equal(losses.frame_weights(4, equal=True), [0.25] * 4)


def test_multistep_lr_matches_torch_semantics():
  cfg = load_config("synthetic", None)
  cfg.lr, cfg.lr_steps = 1.0, (10, 20)
  sched = trainer.lr_schedule(cfg)
  # torch MultiStepLR stepped after every update: update i uses 0.1^(#milestones <= i).
  assert [float(sched(i)) for i in (0, 9, 10, 19, 20)] == pytest.approx(
      [1.0, 1.0, 0.1, 0.1, 0.01])
