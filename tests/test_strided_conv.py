"""3x3 stride-2 convolutions with the input gradient by parity (rde_jax.model.strided_conv),
the 'winograd' fast path's form of the ResNets' downsampling convolutions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from rde_jax.model import conv_algorithm, layers, strided_conv


def _xla(x: jnp.ndarray, k: jnp.ndarray) -> jnp.ndarray:
  return lax.conv_general_dilated(x, k, (2, 2), ((1, 1), (1, 1)),
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                  precision=lax.Precision.HIGHEST)


@pytest.mark.parametrize("shape", [(1, 8, 8, 3, 2), (2, 7, 9, 4, 5), (1, 1, 1, 2, 3),
                                   (3, 10, 5, 6, 1), (1, 2, 3, 5, 4)])
def test_parity_input_gradient_is_xlas(shape):
  """Even and odd sides (the last odd row has no dy[m + 1] partner), one pixel, one channel:
  outputs equal XLA's stride-2 convolution, both gradients equal its to rounding, and only
  (x, kernel) are kept for the backward."""
  n, h, w, c, o = shape
  rng = np.random.default_rng(sum(shape))
  x = jnp.asarray(rng.normal(size=(n, h, w, c)).astype(np.float32))
  k = jnp.asarray(rng.normal(size=(3, 3, c, o)).astype(np.float32) / np.sqrt(9 * c))
  y = jax.jit(strided_conv.conv3x3_s2)(x, k)
  assert y.shape == (n, -(-h // 2), -(-w // 2), o)
  np.testing.assert_allclose(y, jax.jit(_xla)(x, k), rtol=1e-5, atol=1e-5)
  r = jnp.asarray(rng.normal(size=y.shape).astype(np.float32))
  linear = lambda f: (lambda x, k: jnp.sum(f(x, k) * r))
  got = jax.jit(jax.grad(linear(strided_conv.conv3x3_s2), (0, 1)))(x, k)
  want = jax.jit(jax.grad(linear(_xla), (0, 1)))(x, k)
  for a, b in zip(got, want):  # a misplaced parity or tap is O(1) of the scale
    scale = max(float(np.max(np.abs(np.asarray(b)))), 1e-3)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5 * scale)
  _, residuals = jax.vjp(strided_conv.conv3x3_s2, x, k)
  assert sorted(a.size for a in jax.tree_util.tree_leaves(residuals)) == sorted((x.size, k.size))


def test_input_gradient_has_no_dilated_convolution():
  x = jnp.zeros((2, 16, 16, 8), jnp.float32)
  k = jnp.zeros((3, 3, 8, 8), jnp.float32)
  text = lambda f: jax.jit(jax.grad(lambda x: jnp.sum(f(x, k)))).lower(x).as_text()
  assert "lhs_dilate = [2, 2]" in text(_xla)  # XLA's own form
  assert "lhs_dilate = [2, 2]" not in text(strided_conv.conv3x3_s2)


def test_winograd_field_takes_it_for_stride_2_3x3_only(default_precision):
  x = jnp.zeros((1, 16, 16, 8), jnp.float32)
  k = jnp.zeros((3, 3, 8, 4), jnp.float32)
  args = dict(lhs_dilation=None, rhs_dilation=None,
              dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=1, precision=None)
  assert conv_algorithm.strided_applies(x, k, (2, 2), ((1, 1), (1, 1)), **args)
  assert not conv_algorithm.strided_applies(x, k, (1, 1), ((1, 1), (1, 1)), **args)
  assert not conv_algorithm.strided_applies(x, k, (2, 2), ((0, 0), (0, 0)), **args)
  assert not conv_algorithm.strided_applies(x, jnp.zeros((7, 7, 8, 4)), (2, 2), ((3, 3),) * 2,
                                            **args)
  assert not conv_algorithm.strided_applies(x.astype(jnp.bfloat16), k.astype(jnp.bfloat16),
                                            (2, 2), ((1, 1), (1, 1)), **args)
  with jax.default_matmul_precision("highest"):
    assert not conv_algorithm.strided_applies(x, k, (2, 2), ((1, 1), (1, 1)), **args)
  m = layers.conv2d(4, 3, stride=2, conv_algorithm="winograd")
  v = m.init(jax.random.PRNGKey(0), x)
  grad = lambda m: jax.jit(jax.grad(lambda x: jnp.sum(m.apply(v, x)))).lower(x).as_text()
  assert "lhs_dilate = [2, 2]" not in grad(m)
  assert "lhs_dilate = [2, 2]" in grad(layers.conv2d(4, 3, stride=2, conv_algorithm="direct"))
