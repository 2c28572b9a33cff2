"""Which algorithm the network's convolutions use: 'direct' or 'winograd', a static field of
every module (`conv_algorithm`, like `dtype`; the way flax's imagenet example injects its conv).

Every convolution of the network goes through `conv_general_dilated` below (the `Conv2D`s
of `layers.conv2d`, `Conv2DParts`, the 2-D lowering of `Conv3D`). With 'winograd' the ones it
pays for (on any backend), 3x3 stride-1 float32 convolutions with padding 1 and at least
`MIN_CHANNELS` input channels over at least `MIN_PIXELS` output positions (the batch's), run
as Winograd F(4x4, 3x3) (`rde_jax.model.winograd`), and the 1x1 convolutions (any stride, no
padding) as one matrix product (`pointwise_applies`: the same sums, a faster kernel), the 3x3
stride-2 ones with an input gradient that skips the dilated zeros (`strided_applies`); everything
else, and everything under `jax_default_matmul_precision='highest'` (the exact-arithmetic setting
the parity tests use), stays direct. Who builds the network picks the algorithm, 'auto' resolved
by `resolve` (Winograd where the backend is the CPU, direct elsewhere): the inference Engine from
`InferenceSettings.conv_algorithm` (the CPU's direct 3x3 convolutions are the frame's largest
cost: benchmarks/RESULTS_inference.md), the Trainer from `config.conv_algorithm` (the backward
of the fast path is matrix products, where XLA:CPU's convolution weight gradients are slow:
benchmarks/RESULTS_training.md, docs/training.md). A training step that rematerialises (a
`config.remat` policy: memory matters) gets 'winograd_forward' from 'auto' on the CPU: the
Winograd forward with the direct convolution's gradients, whose backward keeps no transformed
tiles (the 8-clip step: 48.2 GiB with autodiff's Winograd backward, 17.7 GiB with it; the
written-out backward of 'winograd' keeps no tiles either, its 8-clip memory is not measured yet).

    RDEVOS(arch, dtype=jnp.float32, conv_algorithm="winograd")
    layers.conv2d(64, 3, conv_algorithm="winograd")    # Conv2D through `conv_function`
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax

from rde_jax.model import strided_conv, winograd

ALGORITHMS = ("auto", "direct", "winograd")  # what a user may ask for ('auto': by backend)
# Training only: Winograd in the forward, the direct convolution's gradients in the backward
# (`winograd.conv3x3_direct_grad`), 1x1 convolutions direct: the CPU's memory-lean setting,
# what 'auto' picks for a training step with rematerialisation (`resolve(..., memory_lean=True)`).
WINOGRAD_FORWARD = "winograd_forward"
TRAIN_ALGORITHMS = ALGORITHMS + (WINOGRAD_FORWARD,)
RESOLVED = ("direct", "winograd", WINOGRAD_FORWARD)  # what a module field holds
MIN_CHANNELS = 64
# Output positions (N * H * W) below which the kernel transform (C * O * 36 values, whatever
# the batch) and the small products cost more than the multiplications saved (N * H * W * C * O
# * 13.5). Counted over the batch: the training step's 1/16-scale convolutions (24x24 at 384^2
# crops, two objects or five frames) pay, a single 24x24 image does not
# (benchmarks/RESULTS_training.md).
MIN_PIXELS = 32 * 32


def resolve(algorithm: str, backend: str, memory_lean: bool = False) -> str:
  """'auto' -> 'winograd' on the CPU backend ('winograd_forward' where `memory_lean`: the
  Trainer's rule for a step with rematerialisation), 'direct' on the others; the others as they
  are (the rule of the inference Engine and the Trainer)."""
  if algorithm not in TRAIN_ALGORITHMS:
    raise ValueError(f"conv_algorithm {algorithm!r}: expected one of {', '.join(TRAIN_ALGORITHMS)}")
  if algorithm == "auto":
    if backend != "cpu":
      return "direct"
    return WINOGRAD_FORWARD if memory_lean else "winograd"
  return algorithm


def check(algorithm: str) -> str:
  """A module's `conv_algorithm` field: 'direct', 'winograd' or 'winograd_forward' (ValueError
  otherwise)."""
  if algorithm not in RESOLVED:
    raise ValueError(f"conv_algorithm {algorithm!r}: expected one of {', '.join(RESOLVED)} "
                     "('auto' is resolved by the Engine / Trainer for the backend)")
  return algorithm


def fast_path(algorithm: str) -> bool:
  """Whether modules built with `algorithm` take the CPU fast path: Winograd / 1x1 products
  here, and in `layers` the gradient forms that pay only there (channel sums as products, the
  tap max-pool gradient). 'winograd' does; 'direct' and 'winograd_forward' (the memory-lean
  setting: those forms keep more buffers alive) keep autodiff's forms everywhere."""
  return check(algorithm) == "winograd"


@functools.lru_cache(maxsize=None)
def conv_function(algorithm: str) -> Callable[..., jnp.ndarray]:
  """`conv_general_dilated` bound to `algorithm` (one object per algorithm: a module field)."""
  return functools.partial(conv_general_dilated, algorithm=check(algorithm))


def _exact_requested(precision: Any) -> bool:
  if precision is not None and precision != lax.Precision.DEFAULT:
    return True
  value = jax.config.jax_default_matmul_precision
  return value is not None and str(value).lower() in ("highest", "float32", "precision.highest")


def _plain_nhwc_conv(lhs: jnp.ndarray, rhs: jnp.ndarray, lhs_dilation: Any, rhs_dilation: Any,
                     dimension_numbers: Any, feature_group_count: int, precision: Any) -> bool:
  """An NHWC/HWIO 2-D convolution without dilation/groups, not asked for exact arithmetic."""
  if _exact_requested(precision):
    return False
  if lhs.ndim != 4 or rhs.ndim != 4 or feature_group_count != 1 or dimension_numbers is None:
    return False
  nhwc = lax.conv_dimension_numbers(lhs.shape, rhs.shape, ("NHWC", "HWIO", "NHWC"))
  if lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) != nhwc:
    return False
  return all(d is None or tuple(d) == (1, 1) for d in (lhs_dilation, rhs_dilation))


def _float32_3x3_pad1(lhs: jnp.ndarray, rhs: jnp.ndarray, window_strides: Any, padding: Any,
                      stride: int, *plain: Any) -> bool:
  """A plain NHWC float32 3x3 convolution with padding 1 and this stride on both axes."""
  if not _plain_nhwc_conv(lhs, rhs, *plain):
    return False
  if rhs.shape[:2] != (3, 3) or tuple(window_strides) != (stride, stride):
    return False
  if isinstance(padding, str) or [tuple(p) for p in padding] != [(1, 1), (1, 1)]:
    return False
  return lhs.dtype == jnp.float32 and rhs.dtype == jnp.float32


def winograd_applies(lhs: jnp.ndarray, rhs: jnp.ndarray, window_strides: Any, padding: Any,
                     lhs_dilation: Any, rhs_dilation: Any, dimension_numbers: Any,
                     feature_group_count: int, precision: Any) -> bool:
  """True where `conv_general_dilated(..., algorithm='winograd')` runs this convolution as
  Winograd F(4x4, 3x3)."""
  if not _float32_3x3_pad1(lhs, rhs, window_strides, padding, 1, lhs_dilation, rhs_dilation,
                           dimension_numbers, feature_group_count, precision):
    return False
  n, h, w, c = lhs.shape
  return c >= MIN_CHANNELS and n * h * w >= MIN_PIXELS


def strided_applies(lhs: jnp.ndarray, rhs: jnp.ndarray, window_strides: Any, padding: Any,
                    lhs_dilation: Any, rhs_dilation: Any, dimension_numbers: Any,
                    feature_group_count: int, precision: Any) -> bool:
  """True where `conv_general_dilated(..., algorithm='winograd')` runs a 3x3 stride-2 padding-1
  float32 convolution as `strided_conv.conv3x3_s2` (its input gradient by parity, without the
  zeros of the dilated output gradient)."""
  return _float32_3x3_pad1(lhs, rhs, window_strides, padding, 2, lhs_dilation, rhs_dilation,
                           dimension_numbers, feature_group_count, precision)


def pointwise_applies(lhs: jnp.ndarray, rhs: jnp.ndarray, padding: Any, lhs_dilation: Any,
                      rhs_dilation: Any, dimension_numbers: Any, feature_group_count: int,
                      precision: Any) -> bool:
  """True where a 1x1 convolution (any stride, no padding) runs as one matrix product.

  XLA:CPU's convolution kernels run 1x1 convolutions at 47-123 GFLOP/s on the Zen 3 of
  benchmarks/RESULTS_inference.md, its matrix product at 113-143: the same sums, one product.
  """
  if not _plain_nhwc_conv(lhs, rhs, lhs_dilation, rhs_dilation, dimension_numbers,
                          feature_group_count, precision) or rhs.shape[:2] != (1, 1):
    return False
  return padding == "VALID" or (not isinstance(padding, str)
                                and all(tuple(p) == (0, 0) for p in padding))


def _pointwise(lhs: jnp.ndarray, rhs: jnp.ndarray, window_strides: Any) -> jnp.ndarray:
  """(N*H*W, C) @ (C, O) on the flattened positions. Not `einsum('nhwc,co->nhwo')`: XLA:CPU
  computes that one's weight gradient through a transposed copy of the output gradient, 2.5x
  slower for the whole backward (benchmarks/step_kernels.py)."""
  sh, sw = window_strides
  x = lhs[:, ::sh, ::sw] if (sh, sw) != (1, 1) else lhs
  n, h, w, c = x.shape
  return jnp.matmul(x.reshape(n * h * w, c), rhs[0, 0]).reshape(n, h, w, -1)


def conv_general_dilated(lhs: jnp.ndarray, rhs: jnp.ndarray, window_strides: Any, padding: Any,
                         lhs_dilation: Any = None, rhs_dilation: Any = None,
                         dimension_numbers: Any = None, feature_group_count: int = 1,
                         batch_group_count: int = 1, precision: Any = None,
                         preferred_element_type: Any = None, *,
                         algorithm: str = "direct") -> jnp.ndarray:
  """`lax.conv_general_dilated` with the same arguments; with `algorithm='winograd'`, Winograd
  where `winograd_applies` and one matrix product where `pointwise_applies`; with
  'winograd_forward' Winograd with the direct convolution's gradients
  (`winograd.conv3x3_direct_grad`) where `winograd_applies`, and the 1x1 convolutions as
  convolutions (the matrix-product form's gradients kept 1.1 GiB more alive in the 2-clip
  memory-limited step: benchmarks/RESULTS_training.md)."""
  fast = (check(algorithm) != "direct" and batch_group_count == 1
          and preferred_element_type is None)
  if fast and winograd_applies(
      lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
      feature_group_count, precision):
    if algorithm == WINOGRAD_FORWARD:
      return winograd.conv3x3_direct_grad(lhs, rhs)
    return winograd.conv3x3_winograd_grad(lhs, rhs)
  if algorithm == "winograd" and fast and strided_applies(
      lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
      feature_group_count, precision):
    return strided_conv.conv3x3_s2(lhs, rhs)
  if algorithm == "winograd" and fast and pointwise_applies(
      lhs, rhs, padding, lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count,
      precision):
    return _pointwise(lhs, rhs, window_strides)
  return lax.conv_general_dilated(
      lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
      dimension_numbers=dimension_numbers, feature_group_count=feature_group_count,
      batch_group_count=batch_group_count, precision=precision,
      preferred_element_type=preferred_element_type)
