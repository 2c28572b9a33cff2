"""Top-k read-out over a memory with repeated slots, and the dense read-out, against the
plain (expanded memory, gathered) versions."""

import jax.numpy as jnp
import numpy as np
import pytest

from rde_jax.model import memory_read


def _expand(aff, mv, copies):
  cols = np.repeat(np.arange(aff.shape[1]), copies)
  return aff[:, cols], mv[:, cols]


@pytest.mark.parametrize("k", [1, 5, 8, 40])
def test_repeated_slots_match_the_expanded_memory(k):
  rng = np.random.default_rng(k)
  q, m, c = 12, 30, 6
  aff = rng.normal(size=(q, m)).astype(np.float32)
  mv = rng.normal(size=(2, m, c)).astype(np.float32)
  copies = np.repeat([1, 0, 2], m // 3).astype(np.int32)  # [RDE, last (absent), GT twice]
  w, idx = memory_read.topk_weights_repeated(jnp.asarray(aff), k, jnp.asarray(copies))
  ours = memory_read.dense_readout(w, idx, jnp.asarray(mv))
  aff_x, mv_x = _expand(aff, mv, copies)
  w_x, idx_x = memory_read.topk_weights(jnp.asarray(aff_x), k)
  ref = memory_read.topk_readout(w_x, idx_x, jnp.asarray(mv_x))
  np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, rtol=1e-6)


def test_kth_place_can_take_one_copy_of_a_pair():
  aff = jnp.asarray([[3.0, 2.0, 1.0]])
  w, idx = memory_read.topk_weights_repeated(aff, 2, jnp.asarray([2, 2, 1]))
  np.testing.assert_allclose(np.asarray(w), [[1.0, 0.0]], atol=1e-7)  # both places: slot 0
  w, idx = memory_read.topk_weights_repeated(aff, 3, jnp.asarray([2, 2, 1]))
  e = np.exp([0.0, -1.0])
  np.testing.assert_allclose(np.asarray(w), np.array([[2 * e[0], e[1], 0.0]]) / (2 * e[0] + e[1]),
                             rtol=1e-6)


def test_dense_readout_matches_gather():
  rng = np.random.default_rng(0)
  aff = jnp.asarray(rng.normal(size=(9, 20)).astype(np.float32))
  mv = jnp.asarray(rng.normal(size=(3, 20, 4)).astype(np.float32))
  w, idx = memory_read.topk_weights(aff, 6)
  np.testing.assert_allclose(np.asarray(memory_read.dense_readout(w, idx, mv)),
                             np.asarray(memory_read.topk_readout(w, idx, mv)), rtol=1e-5, atol=1e-6)
