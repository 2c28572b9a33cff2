"""Winograd F(4x4, 3x3) convolution: the 3x3 stride-1 convolutions with 4x fewer multiplications.

A 3x3 convolution computes each 4x4 output tile from a 6x6 input tile with 144 multiply-adds per
channel pair; Winograd's minimal filtering (Lavin & Gray, "Fast Algorithms for Convolutional
Neural Networks", 2016) computes the same tile as A^T [(G g G^T) * (B^T d B)] A with 36: the
input tiles and the kernel are transformed, the channel contraction becomes 36 matrix products
(one per transform position), and the output is transformed back. Interpolation points 0, +-1,
+-2 (the paper's F(4x4, 3x3) matrices).

The sums are the same as the direct convolution's but rounded differently: in float32 the
outputs differ by about 1e-5 of their magnitude (measured in tests/test_winograd.py). That is why
it is a CPU speed setting (`rde_jax.cpu_settings`), never on where the user asks for the exact
algorithm (`jax_default_matmul_precision='highest'`, which the parity tests use) and never for
float16 / bfloat16 inputs (the transforms would lose their precision).

    y = winograd.conv3x3(x, kernel)     # x (N,H,W,C), kernel (3,3,C,O) -> (N,H,W,O), padding 1
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

M = 4  # output tile
A = M + 2  # input tile

# B^T (6x6), G (6x3), A^T (4x6) of F(4x4, 3x3) with points 0, 1, -1, 2, -2, infinity.
BT = np.array([[4, 0, -5, 0, 1, 0],
               [0, -4, -4, 1, 1, 0],
               [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0],
               [0, 2, -1, -2, 1, 0],
               [0, 4, 0, -5, 0, 1]], np.float64)
G = np.array([[1 / 4, 0, 0],
              [-1 / 6, -1 / 6, -1 / 6],
              [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6],
              [1 / 24, -1 / 12, 1 / 6],
              [0, 0, 1]], np.float64)
AT = np.array([[1, 1, 1, 1, 1, 0],
               [0, 1, -1, 2, -2, 0],
               [0, 1, 1, 4, 4, 0],
               [0, 1, -1, 8, -8, 1]], np.float64)


_KRON_G = np.kron(G, G)  # (36, 9): row 6a + b, column 3i + j


def _combine(coeffs: Sequence[float], xs: Sequence[jnp.ndarray]) -> jnp.ndarray:
  """sum_k coeffs[k] * xs[k], skipping zeros and multiplications by +-1."""
  out = None
  for c, x in zip(coeffs, xs):
    if c == 0:
      continue
    term = x if c == 1 else (-x if c == -1 else x * np.float32(c))
    out = term if out is None else out + term
  return out


def _transform_axis(x: jnp.ndarray, matrix: np.ndarray, axis: int, stride: int,
                    tiles: int) -> jnp.ndarray:
  """Applies `matrix` (r, k) to the k strided views of `axis` -> stacked on a new axis 0.

  View k holds the elements k, k + stride, ..., i.e. position k of every tile along the axis.
  """
  def view(k: int) -> jnp.ndarray:
    index = [slice(None)] * x.ndim
    index[axis] = slice(k, k + stride * tiles, stride)
    return x[tuple(index)]
  views = [view(k) for k in range(matrix.shape[1])]
  return jnp.stack([_combine(row, views) for row in matrix], 0)


def transform_kernel(kernel: jnp.ndarray) -> jnp.ndarray:
  """G g G^T of a (3,3,C,O) kernel -> (36, C, O), position index 6 * row + col.

  One (36, 9) x (9, C*O) product with kron(G, G): XLA:CPU runs it at memory speed, unlike an
  einsum over the 3-long axes or 36 separate sums.
  """
  c, o = kernel.shape[2:]
  taps = kernel.reshape(9, c * o)
  u = jnp.dot(jnp.asarray(_KRON_G, kernel.dtype), taps, precision=lax.Precision.HIGHEST)
  return u.reshape(A * A, c, o)


MAX_TRANSFORMED_BYTES = 256 << 20  # larger batches run in groups (lax.map) to bound memory


def conv3x3(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  """3x3 convolution, stride 1, zero padding 1 (PyTorch's padding=1): x (N,H,W,C) -> (N,H,W,O).

  The transformed tiles take 36/16 of the input's size (plus the same for the output); a batch
  whose transforms would pass MAX_TRANSFORMED_BYTES runs a group of images at a time.
  """
  n, h, w, c = x.shape
  u = transform_kernel(kernel)
  per_image = A * A * -(-h // M) * -(-w // M) * max(c, kernel.shape[3]) * x.dtype.itemsize
  group = max(1, MAX_TRANSFORMED_BYTES // per_image)
  if n <= group:
    return _conv3x3_transformed(x, u)
  groups = -(-n // group)
  xg = jnp.pad(x, ((0, groups * group - n),) + ((0, 0),) * 3).reshape((groups, group) + x.shape[1:])
  y = lax.map(lambda xi: _conv3x3_transformed(xi, u), xg)
  return y.reshape((groups * group,) + y.shape[2:])[:n]


def _direct_conv3x3(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  return lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)),
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))


@jax.custom_vjp
def conv3x3_direct_grad(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  """`conv3x3` in the forward, the direct convolution's gradients in the backward.

  The memory-lean training form (`conv_algorithm='winograd_forward'`): the backward keeps only
  x and the kernel (as a direct convolution does) and computes the input and kernel gradients
  as XLA's convolution transposes, not through autodiff's transpose of the tile transforms,
  whose padded accumulations were most of the 8-clip step's peak (benchmarks/RESULTS_training.md).
  The gradients are the direct convolution's at the same cotangent, so they differ from
  `conv3x3`'s by rounding only. x (N,H,W,C), kernel (3,3,C,O) -> (N,H,W,O).
  """
  return conv3x3(x, kernel)


def _direct_grad_forward(x: jnp.ndarray, kernel: jnp.ndarray):
  return conv3x3(x, kernel), (x, kernel)


def _direct_grad_backward(residuals, dy: jnp.ndarray):
  x, kernel = residuals
  return jax.vjp(_direct_conv3x3, x, kernel)[1](dy)


conv3x3_direct_grad.defvjp(_direct_grad_forward, _direct_grad_backward)


def _conv3x3_transformed(x: jnp.ndarray, u: jnp.ndarray) -> jnp.ndarray:
  """conv3x3 with the kernel already transformed: x (N,H,W,C), u (36,C,O) -> (N,H,W,O)."""
  n, h, w, c = x.shape
  th, tw = -(-h // M), -(-w // M)
  xp = jnp.pad(x, ((0, 0), (1, M * th - h + 1), (1, M * tw - w + 1), (0, 0)))
  rows = _transform_axis(xp, BT, 1, M, th)            # (6, N, th, Wp, C)
  v = _transform_axis(rows, BT, 3, M, tw)            # (6 cols, 6 rows, N, th, tw, C)
  v = jnp.swapaxes(v, 0, 1).reshape(A * A, n * th * tw, c)
  m = lax.dot_general(v, u, (((2,), (1,)), ((0,), (0,))))
  m = m.reshape(A, A, n, th, tw, -1)                 # (row pos, col pos, N, th, tw, O)
  r = jnp.stack([_combine(row, [m[p] for p in range(A)]) for row in AT], 0)  # (4, 6, ...)
  y = jnp.stack([_combine(col, [r[:, q] for q in range(A)]) for col in AT], 0)  # (4j, 4i, ...)
  y = jnp.transpose(y, (2, 3, 1, 4, 0, 5)).reshape(n, M * th, M * tw, -1)
  return y[:, :h, :w]
