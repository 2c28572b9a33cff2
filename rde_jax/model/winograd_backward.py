"""The backward of a Winograd F(4x4, 3x3) convolution (`winograd._conv3x3_transformed`).

With tiles T = N * th * tw, transformed input tiles V_p = (B^T d B)_p (T, C) and transformed
kernel U_p (C, O) for the 36 positions p, the forward is Y = A^T [V_p U_p]_p A per tile. Its
gradients for an output gradient dY:
  * dM_p = (A dY A^T)_p: gathers of the non-overlapping 4x4 tiles of dY;
  * dU_p = V_p^T dM_p, V recomputed from x: the forward keeps x (which the network keeps
    anyway), not V (36/16 of x per convolution; benchmarks/RESULTS_training.md, "Session 5");
  * dV_p = dM_p U_p^T, and dx = (B dV B^T) added back where the 6x6 input tiles overlap
    (2 of every 6 rows and columns): per axis, the 6 positions' sums, the last two shifted one
    tile on and added to the first two, interleaved (`_overlap_add`).
The same sums autodiff would write, in another order: its transpose of the forward's strided
views is a chain of padded additions, one pass over the padded input per view.

The 36 products of each kind run as one batched product over the stacked positions. (36
separate products on the unstacked tiles were faster for the largest convolutions alone, but not
in the whole step, and the 8-clip step did not compile within 24 GiB of host memory.)
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from rde_jax.model.winograd_tiles import A, AT, BT, M, combine, padded_input, transform_views


def input_tiles(xp: jnp.ndarray, th: int, tw: int) -> jnp.ndarray:
  """Padded input (N, 4th+2, 4tw+2, C) -> the transformed tiles V (36, T, C), p = 6 row + col."""
  c = xp.shape[-1]
  out = []
  for rows in transform_views(xp, BT, 1, th):          # (N, th, Wp, C) per row position
    out += [v.reshape(-1, c) for v in transform_views(rows, BT, 2, tw)]
  return jnp.stack(out)


def output_gradient_tiles(dy: jnp.ndarray, th: int, tw: int) -> jnp.ndarray:
  """dy (N,H,W,O) -> dM = (A dY A^T) (36, T, O) of its 4x4 tiles (zero past H, W)."""
  _, h, w, o = dy.shape
  d = jnp.pad(dy, ((0, 0), (0, M * th - h), (0, M * tw - w), (0, 0)))
  out = []
  for rows in transform_views(d, AT.T, 1, th):         # (N, th, 4tw, O) per row position
    out += [g.reshape(-1, o) for g in transform_views(rows, AT.T, 2, tw)]
  return jnp.stack(out)


def _overlap_add(parts: list[jnp.ndarray], axis: int) -> jnp.ndarray:
  """The 6 tile positions' arrays (tile index on `axis`, `tiles` long) -> the axis itself,
  4 * (tiles + 1) long: element 4t + k gets position k of tile t, plus position k + 4 of tile
  t - 1 for k < 2 (where consecutive 6-wide tiles overlap)."""
  def shift(y: jnp.ndarray, before: int) -> jnp.ndarray:
    pad = [(0, 0)] * y.ndim
    pad[axis] = (before, 1 - before)
    return jnp.pad(y, pad)
  cols = [shift(parts[0], 0) + shift(parts[4], 1), shift(parts[1], 0) + shift(parts[5], 1),
          shift(parts[2], 0), shift(parts[3], 0)]
  y = jnp.stack(cols, axis + 1)
  return y.reshape(y.shape[:axis] + (-1,) + y.shape[axis + 2:])


def gradients(x: jnp.ndarray, u: jnp.ndarray, dy: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """x (N,H,W,C), u (36,C,O), dy (N,H,W,O) -> (dx (N,H,W,C), du (36,C,O))."""
  n, h, w, c = x.shape
  xp, th, tw = padded_input(x)
  dm = output_gradient_tiles(dy.astype(x.dtype), th, tw)
  du = lax.dot_general(input_tiles(xp, th, tw), dm, (((1,), (1,)), ((0,), (0,))))
  dv = lax.dot_general(dm, u, (((2,), (2,)), ((0,), (0,)))).reshape(A, A, n, th, tw, c)
  rows = [_overlap_add([combine(BT[:, k], list(dv[p])) for k in range(A)], 2)
          for p in range(A)]                            # (N, th, 4tw+4, C) per row position
  dxp = _overlap_add([combine(BT[:, k], rows) for k in range(A)], 1)  # (N, 4th+4, 4tw+4, C)
  return dxp[:, 1:h + 1, 1:w + 1], du.astype(u.dtype)
