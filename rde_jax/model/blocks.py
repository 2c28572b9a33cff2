"""Generic STCN blocks: pre-activation ResBlock, CBAM, feature fusion, upsampling and the decoder.

All NHWC. Names follow the official keys (`block1`, `attention/ChannelGate/mlp_1`, `up_16_8`, ...).
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from rde_jax.model.layers import conv2d, Conv2DParts, expand_batch, upsample_bilinear


Dtype = Any


class ResBlock(nn.Module):
  """out = skip(x) + conv2(relu(conv1(relu(x)))); skip is a 3x3 conv when widths differ.

  x may be a tuple of parts standing for their channel concatenation; a part with batch 1 or
  B is shared by the K = B * O items of the batch (computed once, see `Conv2DParts`).
  """
  features: int
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray | tuple[jnp.ndarray, ...]) -> jnp.ndarray:
    kw = dict(dtype=self.dtype, conv_algorithm=self.conv_algorithm)
    if isinstance(x, tuple):
      conv = lambda name: Conv2DParts(self.features, 3, **kw, name=name)
      r = conv("conv1")(tuple(nn.relu(p) for p in x))
      width = sum(p.shape[-1] for p in x)
      skip = (conv("downsample")(x) if width != self.features
              else jnp.concatenate([expand_batch(p, max(q.shape[0] for q in x)) for p in x], -1))
    else:
      r = conv2d(self.features, 3, **kw, name="conv1")(nn.relu(x))
      skip = (conv2d(self.features, 3, **kw, name="downsample")(x)
              if x.shape[-1] != self.features else x)
    r = conv2d(self.features, 3, **kw, name="conv2")(nn.relu(r))
    return skip + r


class ChannelGate(nn.Module):
  """sigmoid(MLP(avg pool) + MLP(max pool)) scaling of channels (state_dict `mlp.1`, `mlp.3`)."""
  reduction: int = 16
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    c = x.shape[-1]
    fc1 = nn.Dense(c // self.reduction, dtype=self.dtype, param_dtype=jnp.float32, name="mlp_1")
    fc2 = nn.Dense(c, dtype=self.dtype, param_dtype=jnp.float32, name="mlp_3")
    mlp = lambda v: fc2(nn.relu(fc1(v)))
    att = mlp(jnp.mean(x, axis=(1, 2))) + mlp(jnp.max(x, axis=(1, 2)))
    return x * nn.sigmoid(att)[:, None, None, :]


class _SpatialConv(nn.Module):
  """Holds the 7x7 conv under the official name `spatial.conv`."""
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    return conv2d(1, 7, dtype=self.dtype, conv_algorithm=self.conv_algorithm, name="conv")(x)


class SpatialGate(nn.Module):
  """sigmoid(conv7x7([max_c, mean_c])) scaling of positions (`spatial.conv`, no BN)."""
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    pooled = jnp.concatenate([jnp.max(x, -1, keepdims=True), jnp.mean(x, -1, keepdims=True)], -1)
    conv = _SpatialConv(self.dtype, self.conv_algorithm, name="spatial")
    return x * nn.sigmoid(conv(pooled))


class CBAM(nn.Module):
  """Channel gate then spatial gate."""
  reduction: int = 16
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    x = ChannelGate(self.reduction, self.dtype, name="ChannelGate")(x)
    return SpatialGate(self.dtype, self.conv_algorithm, name="SpatialGate")(x)


class FeatureFusionBlock(nn.Module):
  """cat[value feats, key f16] -> ResBlock -> x + CBAM(x) -> ResBlock: (N,h,w,Cv)."""
  features: int = 512
  reduction: int = 16
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray, key_f16: jnp.ndarray) -> jnp.ndarray:
    """x (N,h,w,C), key_f16 (1|B|N,h,w,Cf), N = B * O -> (N,h,w,features); a batch-1 or
    batch-B f16 is convolved once per frame, not once per object."""
    d, a = self.dtype, self.conv_algorithm
    x = ResBlock(self.features, d, a, name="block1")((x, key_f16.astype(x.dtype)))
    r = CBAM(self.reduction, d, a, name="attention")(x)
    return ResBlock(self.features, d, a, name="block2")(x + r)


class UpsampleBlock(nn.Module):
  """out = ResBlock(skip_conv(skip) + up2(up)).

  skip (N,2h,2w,Cs), up (K,h,w,Cu) -> (K,2h,2w,out_features). N is K, 1 (broadcast over the
  objects) or K / O for K = N * O objects, objects minor (the training clip: one skip per clip,
  its objects' decoder inputs consecutive): the skip is convolved once and repeated, not once per
  object (official STCN/RDE-VOS `Decoder` convolves it per object; the same sums).
  """
  up_features: int
  out_features: int
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, skip: jnp.ndarray, up: jnp.ndarray) -> jnp.ndarray:
    d, a = self.dtype, self.conv_algorithm
    s = conv2d(self.up_features, 3, dtype=d, conv_algorithm=a, name="skip_conv")(skip.astype(d))
    x = expand_batch(s, up.shape[0], broadcast=True) + upsample_bilinear(up, 2)
    return ResBlock(self.out_features, d, a, name="out_conv")(x)


class Decoder(nn.Module):
  """cat[readout, qv16] (K,h,w,2Cv) + skips f8, f4 -> logits (K,4h*4,4w*4,1).

  The skips have batch K, 1 or K / O (one per clip, O objects each, objects minor: UpsampleBlock).

  x may also be the pair (readout (K,h,w,Cv), qv16 (1|K,h,w,Cv)) for their concatenation; a
  batch-1 qv16 is then convolved once for all objects.
  """
  value_dim: int = 512
  dims: Sequence[int] = (256, 256)
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray | tuple[jnp.ndarray, jnp.ndarray], f8: jnp.ndarray,
               f4: jnp.ndarray) -> jnp.ndarray:
    d, a = self.dtype, self.conv_algorithm
    x = tuple(p.astype(d) for p in x) if isinstance(x, tuple) else x.astype(d)
    x = ResBlock(self.value_dim, d, a, name="compress")(x)
    self.sow("intermediates", "compress_out", x)
    x = UpsampleBlock(self.value_dim, self.dims[0], d, a, name="up_16_8")(f8, x)
    self.sow("intermediates", "up_16_8_out", x)
    x = UpsampleBlock(self.dims[0], self.dims[1], d, a, name="up_8_4")(f4, x)
    self.sow("intermediates", "up_8_4_out", x)
    x = conv2d(1, 3, dtype=d, conv_algorithm=a, name="pred")(nn.relu(x))
    return upsample_bilinear(x, 4).astype(jnp.float32)
