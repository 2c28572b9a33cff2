"""PyTorch-equivalent building blocks in NHWC / NTHWC: convs with explicit symmetric padding,
frozen BatchNorm, max pooling and half-pixel bilinear resizing (align_corners=False)."""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from rde_jax.model import channel_ops
from rde_jax.model.conv_algorithm import conv_function, fast_path


Dtype = Any


def conv2d(features: int, kernel: int, *, stride: int = 1, padding: int | None = None,
           bias: bool = True, dtype: Dtype = jnp.float32, conv_algorithm: str = "direct",
           name: str | None = None) -> "Conv2D":
  """Conv2d like PyTorch's: symmetric zero padding (default kernel // 2), never 'SAME'.
  `conv_algorithm`: 'direct' | 'winograd' (`rde_jax.model.conv_algorithm`)."""
  p = kernel // 2 if padding is None else padding
  return Conv2D(features, kernel, stride, p, bias, dtype, conv_algorithm, name=name)


class Conv2D(nn.Module):
  """flax `nn.Conv` for NHWC 2-D convolutions (same parameters 'kernel' (k,k,I,O), 'bias' (O,),
  same forward ops), its bias gradient a matrix-vector product (`channel_ops.bias_add`).
  x (N,H,W,I) -> (N,H',W',features)."""
  features: int
  kernel: int
  stride: int = 1
  padding: int = 0
  use_bias: bool = True
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    k, p, s = self.kernel, self.padding, self.stride
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (k, k, x.shape[-1], self.features), jnp.float32)
    bias = (self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
            if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    y = conv_function(self.conv_algorithm)(x, kernel, (s, s), ((p, p), (p, p)),
                                           dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y if bias is None else add_bias(y, bias, self.conv_algorithm)


def add_bias(y: jnp.ndarray, bias: jnp.ndarray, conv_algorithm: str) -> jnp.ndarray:
  """y + bias; on the CPU fast path ('winograd') with the bias gradient as a ones-vector
  product (`channel_ops.bias_add`). Elsewhere ('direct' on accelerators, 'winograd_forward' in
  the memory-limited `official8` preset) autodiff's reduction, which keeps fewer buffers alive."""
  return channel_ops.bias_add(y, bias) if fast_path(conv_algorithm) else y + bias


class Conv2DParts(nn.Module):
  """`nn.Conv` (same parameters) over the channel concatenation of `parts`, without building it.

  conv(cat[p_1, ..., p_n]) = sum_i conv_i(p_i) + bias with the kernel split along its input
  channels. A part may have batch 1 or B while others have batch K = B * O (e.g. a frame's key
  features shared by its O objects, objects minor): it is convolved once and repeated
  (`expand_batch`), instead of K times. Parts (B_i,H,W,C_i) -> (max B_i, H', W', features).
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
    outs, start = [], 0
    for x, c in zip(parts, channels):
      outs.append(conv(x, kernel[:, :, start:start + c], (self.stride,) * 2, ((p, p), (p, p)),
                       dimension_numbers=("NHWC", "HWIO", "NHWC")))
      start += c
    k_batch = max(o.shape[0] for o in outs)
    y, *rest = [expand_batch(o, k_batch, broadcast=True) for o in outs]
    for o in rest:
      y = y + o  # a batch-1 term broadcasts
    return y if bias is None else add_bias(y, bias, self.conv_algorithm)


def expand_batch(x: jnp.ndarray, k: int, *, broadcast: bool = False) -> jnp.ndarray:
  """x (N,...) -> (K,...) for N in (1, K) or K = N * O (each item repeated O times, objects
  minor: the layout of a clip's or a frame's objects). `broadcast`: leave a batch 1 as it is
  (the caller's sum broadcasts it). ValueError when N divides neither."""
  n = x.shape[0]
  if n == k or (n == 1 and broadcast):
    return x
  if n == 1:
    return jnp.broadcast_to(x, (k,) + x.shape[1:])
  if k % n:
    raise ValueError(f"a batch of {n} does not divide the batch {k} it is shared with")
  return jnp.repeat(x, k // n, axis=0)


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
    return y if bias is None else add_bias(y, bias, self.conv_algorithm)


def batch_norm(dtype: Dtype = jnp.float32, name: str | None = None,
               conv_algorithm: str = "direct") -> "FrozenBatchNorm":
  """BatchNorm2d in inference mode (running statistics, eps 1e-5); scale/bias stay trainable."""
  return FrozenBatchNorm(1e-5, dtype, conv_algorithm, name=name)


class FrozenBatchNorm(nn.Module):
  """flax `nn.BatchNorm(use_running_average=True)` (same variables: params 'scale', 'bias',
  batch_stats 'mean', 'var'; same forward ops), its scale/bias gradients matrix-vector
  products (`channel_ops.normalize`) on the CPU fast path (`conv_algorithm='winograd'`; see
  `add_bias`). x (..., C) -> (..., C) in `dtype`."""
  epsilon: float = 1e-5
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    c = x.shape[-1]
    mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32)).value
    var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32)).value
    scale = self.param("scale", nn.initializers.ones_init(), (c,), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros_init(), (c,), jnp.float32)
    mul = lax.rsqrt(var + self.epsilon) * scale
    if fast_path(self.conv_algorithm):
      return jnp.asarray(channel_ops.normalize(x, mean, mul, bias), self.dtype)
    return jnp.asarray((x - mean) * mul + bias, self.dtype)


def max_pool_3x3_s2(x: jnp.ndarray, conv_algorithm: str = "direct") -> jnp.ndarray:
  """MaxPool2d(3, stride 2, padding 1) on NHWC (padding is -inf, like PyTorch). On the CPU fast
  path ('winograd') its gradient is `max_pool_3x3_s2_taps`'s; elsewhere XLA's (select-and-
  scatter: the same values, fewer live buffers in the memory-limited `official8` step, whose
  'winograd_forward' is not the fast path)."""
  if fast_path(conv_algorithm):
    return max_pool_3x3_s2_taps(x)
  return _reduce_window_pool(x)


def _reduce_window_pool(x: jnp.ndarray) -> jnp.ndarray:
  return nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))


@jax.custom_jvp
def max_pool_3x3_s2_taps(x: jnp.ndarray) -> jnp.ndarray:
  """MaxPool2d(3, stride 2, padding 1) on NHWC (padding is -inf, like PyTorch).

  Its derivative is PyTorch's: each output's gradient goes to the first maximum of its window
  in row-major order (`max_pool2d_with_indices`); ties (flat image regions) are not split. It is
  written as a linear JVP over the nine strided taps, so the backward is elementwise selects
  and pads, where XLA:CPU lowers the reduce-window gradient (select-and-scatter) to index
  planes and a variadic reduce-window (benchmarks/RESULTS_training.md)."""
  return _reduce_window_pool(x)


def _pool_taps(x: jnp.ndarray, fill: float, out_hw: tuple[int, int]) -> list[jnp.ndarray]:
  """The nine (di, dj) strided views of x padded by 1 with `fill`, row-major order."""
  ho, wo = out_hw
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=fill)
  return [xp[:, di:di + 2 * ho - 1:2, dj:dj + 2 * wo - 1:2] for di in range(3) for dj in range(3)]


@max_pool_3x3_s2_taps.defjvp
def _max_pool_3x3_s2_jvp(primals: tuple[jnp.ndarray], tangents: tuple[jnp.ndarray]):
  (x,), (t,) = primals, tangents
  y = max_pool_3x3_s2_taps(x)
  out_hw = y.shape[1:3]
  taken = jnp.zeros(y.shape, bool)
  ty = jnp.zeros(y.shape, t.dtype)
  for vx, vt in zip(_pool_taps(x, -jnp.inf, out_hw), _pool_taps(t, 0.0, out_hw)):
    first = (vx == y) & ~taken
    ty = ty + jnp.where(first, vt, jnp.zeros_like(vt))
    taken = taken | first
  return y, ty


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
