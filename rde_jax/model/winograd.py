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
# The transformed tiles and kernels are stacked column position first (p = 6 col + row): the
# input transform's last pass (over the columns) then writes its positions in order, without a
# transposing copy of the 36/16-larger tiles (benchmarks/RESULTS_training.md, "Session 7").
_COL_MAJOR = np.arange(A * A).reshape(A, A).T.reshape(-1)  # p = 6 col + row -> 6 row + col
_KRON_G_COL_MAJOR = _KRON_G[_COL_MAJOR]  # (36, 9), row 6 col + row


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
  return _transform_kernel(kernel, _KRON_G)


def _transform_kernel(kernel: jnp.ndarray, kron: np.ndarray) -> jnp.ndarray:
  c, o = kernel.shape[2:]
  taps = kernel.reshape(9, c * o)
  u = jnp.dot(jnp.asarray(kron, kernel.dtype), taps, precision=lax.Precision.HIGHEST)
  return u.reshape(A * A, c, o)


def _transform_kernel_col_major(kernel: jnp.ndarray) -> jnp.ndarray:
  """transform_kernel with positions p = 6 col + row (the order of `_input_tiles`)."""
  return _transform_kernel(kernel, _KRON_G_COL_MAJOR)


MAX_TRANSFORMED_BYTES = 256 << 20  # larger batches run in groups (lax.map) to bound memory


def conv3x3(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  """3x3 convolution, stride 1, zero padding 1 (PyTorch's padding=1): x (N,H,W,C) -> (N,H,W,O).

  The transformed tiles take 36/16 of the input's size (plus the same for the output); a batch
  whose transforms would pass MAX_TRANSFORMED_BYTES runs a group of images at a time.
  """
  n = x.shape[0]
  u = _transform_kernel_col_major(kernel)
  group = _group_size(x, kernel.shape[3])
  if n <= group:
    return _conv3x3_transformed(x, u)
  y = lax.map(lambda xi: _conv3x3_transformed(xi, u), _grouped(x, group))
  return y.reshape((-1,) + y.shape[2:])[:n]


def _group_size(x: jnp.ndarray, out_channels: int) -> int:
  """Images per group so that one group's transformed tiles stay under MAX_TRANSFORMED_BYTES."""
  _, h, w, c = x.shape
  per_image = A * A * -(-h // M) * -(-w // M) * max(c, out_channels) * x.dtype.itemsize
  return max(1, MAX_TRANSFORMED_BYTES // per_image)


def _grouped(x: jnp.ndarray, group: int) -> jnp.ndarray:
  """(N, ...) -> (groups, group, ...), zero-padded to whole groups."""
  n = x.shape[0]
  groups = -(-n // group)
  x = jnp.pad(x, ((0, groups * group - n),) + ((0, 0),) * (x.ndim - 1))
  return x.reshape((groups, group) + x.shape[1:])


def _output_gradient_tiles(dy: jnp.ndarray) -> jnp.ndarray:
  """A dY A^T of dy's non-overlapping 4x4 tiles: (N,H,W,O) -> dM (36, N*th*tw, O), p = 6 col + row,
  zero past H and W."""
  n, h, w, o = dy.shape
  th, tw = -(-h // M), -(-w // M)
  d = jnp.pad(dy, ((0, 0), (0, M * th - h), (0, M * tw - w), (0, 0)))
  rows = _transform_axis(d, AT.T, 1, M, th)           # (6, N, th, 4tw, O)
  g = _transform_axis(rows, AT.T, 3, M, tw)           # (6 cols, 6 rows, N, th, tw, O)
  return g.reshape(A * A, n * th * tw, o)


def _transformed_kernel_gradient(x: jnp.ndarray, dy: jnp.ndarray) -> jnp.ndarray:
  """dU = V^T dM per position: x (N,H,W,C), dy (N,H,W,O) -> (36, C, O), p = 6 col + row."""
  v, _, _ = _input_tiles(x)
  return lax.dot_general(v, _output_gradient_tiles(dy), (((1,), (1,)), ((0,), (0,))))


@jax.custom_vjp
def conv3x3_winograd_grad(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  """`conv3x3` whose backward is two Winograd computations too (the CPU training default).

  The input gradient of a 3x3 convolution with padding 1 is the same convolution of the output
  gradient with the kernel turned 180 degrees and its channel axes swapped: computed by
  `conv3x3`, i.e. with the forward's tile transforms. autodiff would transpose the forward's
  strided tile views instead: a chain of padded additions over the input, one per view, XLA:CPU's
  slowest fusions in the step (benchmarks/RESULTS_training.md, "Session 7"). The kernel gradient
  is V^T dM per tile position (dM = A dY A^T of the output gradient's 4x4 tiles), brought back
  through G: the products autodiff would form. Same sums as the direct convolution's gradients,
  rounded differently (tests/test_winograd.py). x (N,H,W,C), kernel (3,3,C,O) -> (N,H,W,O).
  """
  return conv3x3(x, kernel)


def _winograd_grad_forward(x: jnp.ndarray, kernel: jnp.ndarray):
  return conv3x3(x, kernel), (x, kernel)


def _winograd_grad_backward(residuals, dy: jnp.ndarray):
  x, kernel = residuals
  c, o = kernel.shape[2:]
  dy = dy.astype(x.dtype)
  dx = conv3x3(dy, jnp.swapaxes(kernel[::-1, ::-1], 2, 3))
  group = _group_size(x, o)
  if x.shape[0] <= group:
    du = _transformed_kernel_gradient(x, dy)
  else:  # zero-padded images add nothing to the sum
    du = jnp.sum(lax.map(lambda pair: _transformed_kernel_gradient(*pair),
                         (_grouped(x, group), _grouped(dy, group))), 0)
  dk = jnp.dot(jnp.asarray(_KRON_G_COL_MAJOR.T, du.dtype), du.reshape(A * A, c * o),
               precision=lax.Precision.HIGHEST)
  return dx, dk.reshape(3, 3, c, o).astype(kernel.dtype)


conv3x3_winograd_grad.defvjp(_winograd_grad_forward, _winograd_grad_backward)


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


def _input_tiles(x: jnp.ndarray) -> tuple[jnp.ndarray, int, int]:
  """B^T d B of x's overlapping 6x6 tiles: x (N,H,W,C) -> V (36, N*th*tw, C), th, tw;
  p = 6 col + row."""
  n, h, w, c = x.shape
  th, tw = -(-h // M), -(-w // M)
  xp = jnp.pad(x, ((0, 0), (1, M * th - h + 1), (1, M * tw - w + 1), (0, 0)))
  rows = _transform_axis(xp, BT, 1, M, th)            # (6, N, th, Wp, C)
  v = _transform_axis(rows, BT, 3, M, tw)            # (6 cols, 6 rows, N, th, tw, C)
  return v.reshape(A * A, n * th * tw, c), th, tw


def _conv3x3_transformed(x: jnp.ndarray, u: jnp.ndarray) -> jnp.ndarray:
  """conv3x3 with the kernel already transformed: x (N,H,W,C), u (36,C,O) -> (N,H,W,O),
  positions p = 6 col + row (`_transform_kernel_col_major`)."""
  n, h, w, _ = x.shape
  v, th, tw = _input_tiles(x)
  m = lax.dot_general(v, u, (((2,), (1,)), ((0,), (0,))))
  m = m.reshape(A, A, n, th, tw, -1)                 # (col pos, row pos, N, th, tw, O)
  r = jnp.stack([_combine(col, [m[p] for p in range(A)]) for col in AT], 0)  # (4j, 6, ...)
  y = jnp.stack([_combine(row, [r[:, q] for q in range(A)]) for row in AT], 0)  # (4i, 4j, ...)
  y = jnp.transpose(y, (2, 3, 0, 4, 1, 5)).reshape(n, M * th, M * tw, -1)
  return y[:, :h, :w]
