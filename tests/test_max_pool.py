"""The stem's MaxPool2d(3, 2, 1) and its derivative: the output of XLA's reduce-window, and
PyTorch's gradient (each window's first maximum in row-major order takes the whole gradient),
ties included, as the linear JVP over the nine taps computes it (the CPU fast path,
`max_pool_3x3_s2(x, 'winograd')`)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rde_jax.model.layers import max_pool_3x3_s2

TAPS = lambda x: max_pool_3x3_s2(x, "winograd")


def _reduce_window_pool(x: jnp.ndarray) -> jnp.ndarray:
  return nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))


def _first_max_gradient(x: np.ndarray, g: np.ndarray) -> np.ndarray:
  """PyTorch's rule by loops: window (i, j) sends g[i, j] to its first maximum (row-major)."""
  n, h, w, c = x.shape
  out = np.zeros_like(x)
  for b in range(n):
    for ch in range(c):
      for i in range(g.shape[1]):
        for j in range(g.shape[2]):
          best = None
          for di in range(3):
            for dj in range(3):
              r, s = 2 * i + di - 1, 2 * j + dj - 1
              if 0 <= r < h and 0 <= s < w and (best is None or x[b, r, s, ch] > x[b, best[0],
                                                                             best[1], ch]):
                best = (r, s)
          out[b, best[0], best[1], ch] += g[b, i, j, ch]
  return out


def _every_max_mask(x: np.ndarray, y: jnp.ndarray) -> np.ndarray:
  """Inputs equal to the maximum of some window holding them (tied maxima all counted)."""
  mask = np.zeros(x.shape, bool)
  y = np.asarray(y)
  for i in range(y.shape[1]):
    for j in range(y.shape[2]):
      r0, s0 = max(2 * i - 1, 0), max(2 * j - 1, 0)
      win = x[:, r0:2 * i + 2, s0:2 * j + 2]
      mask[:, r0:2 * i + 2, s0:2 * j + 2] |= win == y[:, i:i + 1, j:j + 1]
  return mask


@pytest.mark.parametrize("shape", [(2, 7, 9, 3), (1, 8, 6, 2)])
def test_output_and_gradient_follow_pytorch_on_ties(shape):
  rng = np.random.default_rng(0)
  x = rng.integers(0, 3, shape).astype(np.float32)  # three values: ties in most windows
  y = TAPS(jnp.asarray(x))
  np.testing.assert_array_equal(y, _reduce_window_pool(jnp.asarray(x)))
  g = rng.standard_normal(y.shape).astype(np.float32)
  grad = jax.vjp(TAPS, jnp.asarray(x))[1](jnp.asarray(g))[0]
  direct = jax.vjp(max_pool_3x3_s2, jnp.asarray(x))[1](jnp.asarray(g))[0]  # XLA's gradient
  want = _first_max_gradient(x, g)
  np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(direct, want, rtol=1e-6, atol=1e-6)
  # Ties present: a rule that split or re-routed tied gradients would not pass the check above.
  assert np.count_nonzero(want) < np.count_nonzero(_every_max_mask(x, y))


def test_jit_grad_matches_reduce_window_gradient_on_real_values():
  x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 10, 12, 4)).astype(np.float32))
  loss = lambda f: jax.jit(jax.grad(lambda v: jnp.sum(f(v) ** 2)))(x)
  np.testing.assert_allclose(loss(TAPS), loss(_reduce_window_pool), rtol=1e-6)
