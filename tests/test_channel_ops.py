"""Conv2D and FrozenBatchNorm against flax's nn.Conv / nn.BatchNorm(use_running_average=True):
the same variables, the same outputs, the same gradients (their bias / scale sums computed as
matrix-vector products by rde_jax.model.channel_ops)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rde_jax.model import channel_ops, layers


def _close_trees(a, b, tol):
  jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=tol, atol=tol), a, b)


# 'winograd': the CPU fast path, whose bias gradient is channel_ops.bias_add (the convolution
# itself stays direct under 'highest' precision); 'direct': plain autodiff.
@pytest.mark.parametrize("algorithm", ["winograd", "direct"])
@pytest.mark.parametrize("stride,bias", [(1, True), (2, False)])
def test_conv2d_equals_flax_conv(stride, bias, algorithm):
  x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 9, 7, 5)), jnp.float32)
  ours = layers.conv2d(6, 3, stride=stride, bias=bias, conv_algorithm=algorithm)
  ref = nn.Conv(6, (3, 3), strides=(stride, stride), padding=((1, 1), (1, 1)), use_bias=bias)
  v = ref.init(jax.random.PRNGKey(0), x)
  if bias:
    v = {"params": dict(v["params"], bias=jnp.arange(6, dtype=jnp.float32) / 7)}
  assert jax.tree_util.tree_structure(ours.init(jax.random.PRNGKey(0), x)) == \
      jax.tree_util.tree_structure(v)
  with jax.default_matmul_precision("highest"):
    np.testing.assert_array_equal(ours.apply(v, x), ref.apply(v, x))
    loss = lambda m: jax.grad(lambda p, x: jnp.sum(jnp.sin(m.apply(p, x))), (0, 1))(v, x)
    _close_trees(loss(ours), loss(ref), 1e-5)


@pytest.mark.parametrize("algorithm", ["winograd", "direct"])
def test_frozen_batch_norm_equals_flax_batch_norm(algorithm):
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.standard_normal((3, 5, 4, 6)), jnp.float32)
  ref = nn.BatchNorm(use_running_average=True, epsilon=1e-5)
  v = ref.init(jax.random.PRNGKey(0), x)
  v = {"params": {"scale": jnp.asarray(rng.uniform(0.5, 2, 6), jnp.float32),
                  "bias": jnp.asarray(rng.standard_normal(6), jnp.float32)},
       "batch_stats": {"mean": jnp.asarray(rng.standard_normal(6), jnp.float32),
                       "var": jnp.asarray(rng.uniform(0.5, 2, 6), jnp.float32)}}
  ours = layers.batch_norm(conv_algorithm=algorithm)
  assert jax.tree_util.tree_structure(ours.init(jax.random.PRNGKey(0), x)) == \
      jax.tree_util.tree_structure(ref.init(jax.random.PRNGKey(0), x))
  np.testing.assert_array_equal(ours.apply(v, x), ref.apply(v, x))
  grads = lambda m: jax.grad(lambda p, x: jnp.sum(jnp.sin(m.apply(
      {"params": p, "batch_stats": v["batch_stats"]}, x)) * x), (0, 1))(v["params"], x)
  _close_trees(grads(ours), grads(ref), 1e-5)


def test_channel_sum_is_the_sum_over_all_but_the_last_axis():
  t = jnp.asarray(np.random.default_rng(2).standard_normal((2, 3, 4, 5)), jnp.float32)
  np.testing.assert_allclose(channel_ops.channel_sum(t), np.asarray(t).sum((0, 1, 2)), rtol=1e-5,
                             atol=1e-5)
