"""Which algorithm the network's 3x3 convolutions use: 'auto' (default), 'direct' or 'winograd'.

Every convolution of the network goes through `conv_general_dilated` below (the flax `nn.Conv`s
of `layers.conv2d`, `Conv2DParts`, the 2-D lowering of `Conv3D`). With the algorithm 'winograd'
the ones it pays for (on any backend), 3x3 stride-1 float32 convolutions with padding 1 and at least
`MIN_CHANNELS` input channels over at least `MIN_PIXELS` output positions, run as Winograd
F(4x4, 3x3) (`rde_jax.model.winograd`), and the 1x1 convolutions (any stride, no padding) as one
matrix product (`pointwise_applies`: the same sums, a faster kernel); everything else, and everything under
`jax_default_matmul_precision='highest'` (the exact-arithmetic setting the parity tests use),
stays direct. 'auto' is 'winograd' where JAX's default backend is the CPU (XLA:CPU's direct 3x3
convolutions are the frame's largest cost there: benchmarks/RESULTS_inference.md) and 'direct'
elsewhere (GPU and TPU libraries pick their own convolution algorithms). The choice is read when
a function is traced, so `set_algorithm` clears JAX's compilation caches when it changes it.

    conv_algorithm.set_algorithm("direct")       # or "winograd", "auto" (the default)
    with conv_algorithm.using("direct"): ...     # for a block, restored after
    conv_algorithm.effective()                   # 'direct' | 'winograd' as resolved now

`RDE_JAX_CONV=auto|direct|winograd` sets the starting value of a process.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

import jax
import jax.numpy as jnp
from jax import lax

from rde_jax.model import winograd

ALGORITHMS = ("auto", "direct", "winograd")
ENV_VAR = "RDE_JAX_CONV"
MIN_CHANNELS = 64
MIN_PIXELS = 32 * 32  # below this the kernel transform and the small products cost more

_algorithm = os.environ.get(ENV_VAR, "auto").strip() or "auto"
if _algorithm not in ALGORITHMS:
  raise ValueError(f"{ENV_VAR}={_algorithm!r}: expected one of {', '.join(ALGORITHMS)}")


def get_algorithm() -> str:
  """The setting: 'auto', 'direct' or 'winograd'."""
  return _algorithm


def effective() -> str:
  """What the setting means now: 'winograd' or 'direct' ('auto' resolved for the backend)."""
  if _algorithm == "auto":
    return "winograd" if jax.default_backend() == "cpu" else "direct"
  return _algorithm


def set_algorithm(name: str) -> None:
  """Sets the algorithm for functions traced from now on (clears JAX's caches if it changes)."""
  global _algorithm
  if name not in ALGORITHMS:
    raise ValueError(f"conv algorithm {name!r}: expected one of {', '.join(ALGORITHMS)}")
  if name != _algorithm:
    _algorithm = name
    jax.clear_caches()


@contextlib.contextmanager
def using(name: str) -> Iterator[None]:
  previous = _algorithm
  set_algorithm(name)
  try:
    yield
  finally:
    set_algorithm(previous)


def _exact_requested(precision: Any) -> bool:
  if precision is not None and precision != lax.Precision.DEFAULT:
    return True
  value = jax.config.jax_default_matmul_precision
  return value is not None and str(value).lower() in ("highest", "float32", "precision.highest")


def _plain_nhwc_conv(lhs: jnp.ndarray, rhs: jnp.ndarray, lhs_dilation: Any, rhs_dilation: Any,
                     dimension_numbers: Any, feature_group_count: int, precision: Any) -> bool:
  """The CPU fast path is on and this is an NHWC/HWIO 2-D convolution without dilation/groups."""
  if effective() != "winograd" or _exact_requested(precision):
    return False
  if lhs.ndim != 4 or rhs.ndim != 4 or feature_group_count != 1 or dimension_numbers is None:
    return False
  nhwc = lax.conv_dimension_numbers(lhs.shape, rhs.shape, ("NHWC", "HWIO", "NHWC"))
  if lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) != nhwc:
    return False
  return all(d is None or tuple(d) == (1, 1) for d in (lhs_dilation, rhs_dilation))


def winograd_applies(lhs: jnp.ndarray, rhs: jnp.ndarray, window_strides: Any, padding: Any,
                     lhs_dilation: Any, rhs_dilation: Any, dimension_numbers: Any,
                     feature_group_count: int, precision: Any) -> bool:
  """True where `conv_general_dilated` would run this convolution as Winograd F(4x4, 3x3)."""
  if not _plain_nhwc_conv(lhs, rhs, lhs_dilation, rhs_dilation, dimension_numbers,
                          feature_group_count, precision):
    return False
  if rhs.shape[:2] != (3, 3) or tuple(window_strides) != (1, 1):
    return False
  if isinstance(padding, str) or [tuple(p) for p in padding] != [(1, 1), (1, 1)]:
    return False
  if lhs.dtype != jnp.float32 or rhs.dtype != jnp.float32:
    return False
  return lhs.shape[3] >= MIN_CHANNELS and lhs.shape[1] * lhs.shape[2] >= MIN_PIXELS


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
  sh, sw = window_strides
  x = lhs[:, ::sh, ::sw] if (sh, sw) != (1, 1) else lhs
  return jnp.einsum("nhwc,co->nhwo", x, rhs[0, 0])


def conv_general_dilated(lhs: jnp.ndarray, rhs: jnp.ndarray, window_strides: Any, padding: Any,
                         lhs_dilation: Any = None, rhs_dilation: Any = None,
                         dimension_numbers: Any = None, feature_group_count: int = 1,
                         batch_group_count: int = 1, precision: Any = None,
                         preferred_element_type: Any = None) -> jnp.ndarray:
  """`lax.conv_general_dilated` with the same arguments, Winograd where `winograd_applies`."""
  if batch_group_count == 1 and preferred_element_type is None and winograd_applies(
      lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
      feature_group_count, precision):
    return winograd.conv3x3(lhs, rhs)
  if batch_group_count == 1 and preferred_element_type is None and pointwise_applies(
      lhs, rhs, padding, lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count,
      precision):
    return _pointwise(lhs, rhs, window_strides)
  return lax.conv_general_dilated(
      lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
      dimension_numbers=dimension_numbers, feature_group_count=feature_group_count,
      batch_group_count=batch_group_count, precision=precision,
      preferred_element_type=preferred_element_type)
