"""The matrices of Winograd F(4x4, 3x3) and the tile views both directions of the convolution use.

B^T (6x6) transforms a 6x6 input tile, G (6x3) the 3x3 kernel, A^T (4x6) brings the 36 products
back to a 4x4 output tile (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
2016; interpolation points 0, 1, -1, 2, -2, infinity). A tile transform is applied one axis at a
time as sums of strided views (`transform_views`): on XLA:CPU these fuse into loops that read
each input once, where a small matrix product over a 6-long axis does not.
"""

from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
import numpy as np

M = 4  # output tile
A = M + 2  # input tile

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


def padded_input(x: jnp.ndarray) -> tuple[jnp.ndarray, int, int]:
  """x (N,H,W,C) zero-padded to whole tiles: (N, 4th+2, 4tw+2, C), th, tw (tiles per axis)."""
  _, h, w, _ = x.shape
  th, tw = -(-h // M), -(-w // M)
  return jnp.pad(x, ((0, 0), (1, M * th - h + 1), (1, M * tw - w + 1), (0, 0))), th, tw


def combine(coeffs: Sequence[float], xs: Sequence[jnp.ndarray]) -> jnp.ndarray:
  """sum_k coeffs[k] * xs[k], skipping zeros and multiplications by +-1."""
  out = None
  for c, x in zip(coeffs, xs):
    if c == 0:
      continue
    term = x if c == 1 else (-x if c == -1 else x * np.float32(c))
    out = term if out is None else out + term
  return out


def strided_views(x: jnp.ndarray, axis: int, count: int, tiles: int) -> list[jnp.ndarray]:
  """The `count` views k = 0 .. count-1 of `axis`: elements k, k + M, ..., k + M (tiles - 1),
  i.e. position k of every tile (tiles start every M elements)."""
  out = []
  for k in range(count):
    index = [slice(None)] * x.ndim
    index[axis] = slice(k, k + M * tiles, M)
    out.append(x[tuple(index)])
  return out


def transform_views(x: jnp.ndarray, matrix: np.ndarray, axis: int, tiles: int
                    ) -> list[jnp.ndarray]:
  """`matrix` (r, k) applied to the k strided views of `axis`: r arrays, `axis` now `tiles` long."""
  views = strided_views(x, axis, matrix.shape[1], tiles)
  return [combine(row, views) for row in matrix]
