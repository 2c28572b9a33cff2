"""PyTorch-equivalent building blocks in NHWC / NTHWC: convs with explicit symmetric padding,
frozen BatchNorm, max pooling and half-pixel bilinear resizing (align_corners=False)."""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
from jax import lax

from rde_jax.model.conv_algorithm import conv_function


Dtype = Any


def conv2d(features: int, kernel: int, *, stride: int = 1, padding: int | None = None,
           bias: bool = True, dtype: Dtype = jnp.float32, conv_algorithm: str = "direct",
           name: str | None = None) -> nn.Conv:
  """Conv2d like PyTorch's: symmetric zero padding (default kernel // 2), never 'SAME'.
  `conv_algorithm`: 'direct' | 'winograd' (`rde_jax.model.conv_algorithm`)."""
  p = kernel // 2 if padding is None else padding
  return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding=((p, p), (p, p)),
                 use_bias=bias, dtype=dtype, param_dtype=jnp.float32,
                 conv_general_dilated=conv_function(conv_algorithm), name=name)


class Conv2DParts(nn.Module):
  """`nn.Conv` (same parameters) over the channel concatenation of `parts`, without building it.

  conv(cat[p_1, ..., p_n]) = sum_i conv_i(p_i) + bias with the kernel split along its input
  channels. A part may have batch 1 while others have batch N (e.g. key features shared by all
  objects): it is convolved once and broadcast, instead of N times. Parts (B_i,H,W,C_i) ->
  (max B_i, H', W', features).
  """
  features: int
  kernel: int
  stride: int = 1
  padding: int | None = None
  use_bias: bool = True
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, parts: Sequence[jnp.ndarray]) -> jnp.ndarray:
    k, p = self.kernel, self.kernel // 2 if self.padding is None else self.padding
    channels = [x.shape[-1] for x in parts]
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (k, k, sum(channels), self.features), jnp.float32)
    bias = (self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
            if self.use_bias else None)
    *parts, kernel, bias = nn.dtypes.promote_dtype(*parts, kernel, bias, dtype=self.dtype)
    conv = conv_function(self.conv_algorithm)
    y, start = None, 0
    for x, c in zip(parts, channels):
      out = conv(x, kernel[:, :, start:start + c], (self.stride,) * 2,
                                 ((p, p), (p, p)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
      y, start = out if y is None else y + out, start + c
    return y if bias is None else y + bias


def conv3d(features: int, kernel: Sequence[int], *, padding: Sequence[int] = (0, 0, 0),
           dilation: Sequence[int] = (1, 1, 1), bias: bool = True, dtype: Dtype = jnp.float32,
           conv_algorithm: str = "direct", name: str | None = None) -> "Conv3D":
  """Conv3d over (T, H, W) of an NTHWC tensor, symmetric padding per axis."""
  return Conv3D(features, tuple(kernel), tuple(padding), tuple(dilation), bias, dtype,
                conv_algorithm, name=name)


class Conv3D(nn.Module):
  """Conv3d with `nn.Conv`'s parameters (kernel (kt,kh,kw,I,O), bias (O,)), run as 2-D convs.

  XLA:CPU has fast kernels for 2-D convolutions only, so the two shapes SAM uses are lowered
  to 2-D: kt == 1 (time folded into the batch) and kt == T with no time padding (the time steps
  folded into the channels: one output step). Both are the same sums as the 3-D conv.
  x (B,T,H,W,I) -> (B,T',H',W',O).
  """
  features: int
  kernel_size: tuple[int, int, int]
  padding: tuple[int, int, int] = (0, 0, 0)
  dilation: tuple[int, int, int] = (1, 1, 1)
  use_bias: bool = True
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    conv_general_dilated = conv_function(self.conv_algorithm)
    kt, kh, kw = self.kernel_size
    pt, ph, pw = self.padding
    b, t, h, w, c = x.shape
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (kt, kh, kw, c, self.features), jnp.float32)
    bias = (self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
            if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    spatial = dict(padding=((ph, ph), (pw, pw)), rhs_dilation=self.dilation[1:],
                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
    if kt == 1 and pt == 0:
      y = conv_general_dilated(x.reshape(b * t, h, w, c), kernel[0], (1, 1), **spatial)
      y = y.reshape((b, t) + y.shape[1:])
    elif kt == t and pt == 0 and self.dilation[0] == 1:
      xc = jnp.moveaxis(x, 1, 3).reshape(b, h, w, t * c)  # channels ordered (t, c)
      y = conv_general_dilated(xc, kernel.transpose(1, 2, 0, 3, 4).reshape(kh, kw, t * c, -1),
                               (1, 1), **spatial)[:, None]
    else:
      y = lax.conv_general_dilated(x, kernel, (1, 1, 1), ((pt, pt), (ph, ph), (pw, pw)),
                                   rhs_dilation=self.dilation,
                                   dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
    return y if bias is None else y + bias


def batch_norm(dtype: Dtype = jnp.float32, name: str | None = None) -> nn.BatchNorm:
  """BatchNorm2d in inference mode (running statistics, eps 1e-5); scale/bias stay trainable."""
  return nn.BatchNorm(use_running_average=True, epsilon=1e-5, momentum=0.9, dtype=dtype,
                      param_dtype=jnp.float32, name=name)


def max_pool_3x3_s2(x: jnp.ndarray) -> jnp.ndarray:
  """MaxPool2d(3, stride 2, padding 1) on NHWC (padding is -inf, like PyTorch)."""
  return nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))


def _upsample_axis(x: jnp.ndarray, factor: int, axis: int) -> jnp.ndarray:
  """Integer-factor half-pixel linear upsampling along one axis (edges clamp, as PyTorch)."""
  n = x.shape[axis]
  prev = jnp.concatenate([jax_take(x, [0], axis), jax_take(x, range(n - 1), axis)], axis)
  nxt = jnp.concatenate([jax_take(x, range(1, n), axis), jax_take(x, [n - 1], axis)], axis)
  phases = []
  for r in range(factor):
    d = (r + 0.5) / factor - 0.5  # source offset of this output phase, in (-0.5, 0.5)
    if d < 0:
      phases.append((-d) * prev + (1.0 + d) * x)
    else:
      phases.append((1.0 - d) * x + d * nxt)
  y = jnp.stack(phases, axis=axis + 1)
  shape = list(x.shape)
  shape[axis] = n * factor
  return y.reshape(shape)


def jax_take(x: jnp.ndarray, idx: Any, axis: int) -> jnp.ndarray:
  """Static-index slice along an axis (indices known at trace time)."""
  idx = list(idx)
  if idx and idx == list(range(idx[0], idx[-1] + 1)):
    sl = [slice(None)] * x.ndim
    sl[axis] = slice(idx[0], idx[-1] + 1)
    return x[tuple(sl)]
  return jnp.take(x, np.asarray(idx, dtype=np.int32), axis=axis)


def upsample_bilinear(x: jnp.ndarray, factor: int) -> jnp.ndarray:
  """F.interpolate(scale_factor=factor, mode='bilinear', align_corners=False) on NHWC."""
  return _upsample_axis(_upsample_axis(x, factor, 1), factor, 2)
