"""Per-channel affine ops (conv bias, frozen BatchNorm) whose gradients sum over the batch and
positions as matrix-vector products.

The gradient of a per-channel bias or scale is a sum over every axis but the last (N, H, W) of
an NHWC tensor. Autodiff writes it as a reduction, and XLA:CPU runs such reductions (the channel
axis kept, minor) at under 1 GB/s: 73 ms for a (5, 96, 96, 256) float32 tensor on 2 cores,
where the same sum as a ones-vector product takes 5 ms (benchmarks/RESULTS_training.md;
the tree-reduction rewrite, `--xla_disable_hlo_passes=tree_reduction_rewriter`, is slower
still). They were a fifth of the training step. The forward computations here are the ones
flax's `nn.Conv` and `nn.BatchNorm(use_running_average=True)` run, op for op; only the
backward's sums change (`channel_sum`), which is also what PyTorch's conv/BatchNorm backward
computes (same sums, another order). Used on the CPU fast path only (`layers.add_bias`,
`layers.FrozenBatchNorm` with conv_algorithm 'winograd'): the materialised products cost memory
that the direct, memory-limited step does not have (benchmarks/RESULTS_training.md).

    y = bias_add(conv_out, bias)                   # (..., C) + (C,)
    y = normalize(x, mean, mul, bias)              # (x - mean) * mul + bias, each (C,)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def channel_sum(t: jnp.ndarray) -> jnp.ndarray:
  """sum of t (..., C) over every axis but the last -> (C,), float32, as ones (M,) @ t (M, C)."""
  c = t.shape[-1]
  rows = t.reshape(-1, c)
  ones = jnp.ones((rows.shape[0],), rows.dtype)
  return jnp.dot(ones, rows, preferred_element_type=jnp.float32)


@jax.custom_vjp
def bias_add(y: jnp.ndarray, bias: jnp.ndarray) -> jnp.ndarray:
  """y (..., C) + bias (C,), flax `nn.Conv`'s `y += bias` (bias already in y's dtype)."""
  return y + bias


def _bias_add_fwd(y, bias):
  return y + bias, None


def _bias_add_bwd(_, g):
  return g, channel_sum(g).astype(g.dtype)  # bias was promoted to y's dtype, g's


bias_add.defvjp(_bias_add_fwd, _bias_add_bwd)


@jax.custom_vjp
def normalize(x: jnp.ndarray, mean: jnp.ndarray, mul: jnp.ndarray,
              bias: jnp.ndarray) -> jnp.ndarray:
  """(x - mean) * mul + bias with per-channel (C,) mean / mul / bias: flax BatchNorm's
  `_normalize` with running statistics (mul = rsqrt(var + eps) * scale). x (..., C) -> the
  promoted dtype of x and the (float32) statistics."""
  return (x - mean) * mul + bias


def _normalize_fwd(x, mean, mul, bias):
  return normalize(x, mean, mul, bias), (x, mean, mul)


def _normalize_bwd(res, g):
  x, mean, mul = res
  d_bias = channel_sum(g)
  d_mul = channel_sum(g * (x - mean))
  dx = (g * mul).astype(x.dtype)
  return dx, (-mul * d_bias).astype(mean.dtype), d_mul.astype(mul.dtype), d_bias


normalize.defvjp(_normalize_fwd, _normalize_bwd)
