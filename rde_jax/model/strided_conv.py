"""3x3 stride-2 convolutions whose input gradient skips the zeros of the dilated output gradient.

The input gradient of a stride-2 convolution is a convolution of the output gradient dilated by
2 (`lhs_dilation`): XLA:CPU's kernels multiply the inserted zeros too, four times the work of
the forward (the stride-2 3x3 convolutions of the ResNets' first blocks, benchmarks/
RESULTS_training.md, "Session 7"). Split by the parity of the input row and column instead,
each quarter of dx is a small stride-1 convolution of dy: with padding 1, forward
y[i] = sum_t x[2i + t - 1] K[t], so
  dx[2m]     = dy[m] K[1]^T                      (one tap per axis)
  dx[2m + 1] = dy[m] K[2]^T + dy[m + 1] K[0]^T   (two taps; dy zero past its end)
per axis: 1 + 2 + 2 + 4 = 9 taps over the four parities, the forward's multiply count, then
interleaved. Same sums, another order. The kernel gradient stays XLA's (as one matrix product
of the nine stride-2 views of x with dy it was slower: 198 vs 124 ms at 6x96x96x128).

    y = strided_conv.conv3x3_s2(x, kernel)   # x (N,H,W,C), kernel (3,3,C,O) -> (N,ceil(H/2),ceil(W/2),O)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

_DN = ("NHWC", "HWIO", "NHWC")


def _forward(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  return lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)), dimension_numbers=_DN)


@jax.custom_vjp
def conv3x3_s2(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  """PyTorch's Conv2d(kernel 3, stride 2, padding 1): x (N,H,W,C), kernel (3,3,C,O) ->
  (N, ceil(H/2), ceil(W/2), O); the input gradient by parity (module docstring)."""
  return _forward(x, kernel)


def _fwd(x: jnp.ndarray, kernel: jnp.ndarray):
  return _forward(x, kernel), (x, kernel)


def _input_gradient(dy: jnp.ndarray, kernel: jnp.ndarray, h: int, w: int) -> jnp.ndarray:
  """dy (N,Ho,Wo,O), kernel (3,3,C,O) -> dx (N,H,W,C) of the stride-2, padding-1 convolution."""
  n, ho, wo, _ = dy.shape
  kt = jnp.swapaxes(kernel, 2, 3)                     # (3,3,O,C)
  taps = {0: [1], 1: [2, 0]}                          # parity -> kernel taps for dy[m], dy[m+1]

  def part(a: int, b: int) -> jnp.ndarray:
    k = kt[jnp.array(taps[a])][:, jnp.array(taps[b])]  # (len a, len b, O, C)
    pad = ((0, len(taps[a]) - 1), (0, len(taps[b]) - 1))
    return lax.conv_general_dilated(dy, k, (1, 1), pad, dimension_numbers=_DN)

  rows = [jnp.stack([part(a, 0), part(a, 1)], 3) for a in (0, 1)]  # (N, Ho, Wo, 2, C) each
  dx = jnp.stack(rows, 2).reshape(n, 2 * ho, 2 * wo, -1)
  return dx[:, :h, :w]


def _bwd(residuals, dy: jnp.ndarray):
  x, kernel = residuals
  dy = dy.astype(x.dtype)
  dk = jax.vjp(lambda k: _forward(x, k), kernel)[1](dy)[0]
  return _input_gradient(dy, kernel, x.shape[1], x.shape[2]), dk


conv3x3_s2.defvjp(_fwd, _bwd)
