"""Key encoder (ResNet-50 stem + layer1..3) and value encoder (ResNet-18 with conv biases + fuser).

Submodule names mirror the official PyTorch keys ('res2.0.conv1' -> 'res2_0/conv1'), so weight
conversion is a rename table. All tensors are NHWC.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from rde_jax.model.blocks import FeatureFusionBlock
from rde_jax.model.layers import batch_norm, conv2d, Conv2DParts, max_pool_3x3_s2


Dtype = Any


class Bottleneck(nn.Module):
  """torchvision ResNet v1.5 bottleneck (stride on the 3x3 conv), no conv biases."""
  planes: int
  stride: int = 1
  downsample: bool = False
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    d, a = self.dtype, self.conv_algorithm
    kw = dict(bias=False, dtype=d, conv_algorithm=a)
    out = nn.relu(batch_norm(d, "bn1", a)(conv2d(self.planes, 1, **kw, name="conv1")(x)))
    out = conv2d(self.planes, 3, stride=self.stride, **kw, name="conv2")(out)
    out = nn.relu(batch_norm(d, "bn2", a)(out))
    out = batch_norm(d, "bn3", a)(conv2d(self.planes * 4, 1, **kw, name="conv3")(out))
    if self.downsample:
      x = conv2d(self.planes * 4, 1, stride=self.stride, **kw, name="downsample_0")(x)
      x = batch_norm(d, "downsample_1", a)(x)
    return nn.relu(out + x)


class BasicBlock(nn.Module):
  """ResNet-18 basic block whose convs all carry biases (the repo's own mod_resnet)."""
  planes: int
  stride: int = 1
  downsample: bool = False
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    d, a = self.dtype, self.conv_algorithm
    kw = dict(dtype=d, conv_algorithm=a)
    out = conv2d(self.planes, 3, stride=self.stride, **kw, name="conv1")(x)
    out = nn.relu(batch_norm(d, "bn1", a)(out))
    out = batch_norm(d, "bn2", a)(conv2d(self.planes, 3, **kw, name="conv2")(out))
    if self.downsample:
      x = conv2d(self.planes, 1, stride=self.stride, **kw, name="downsample_0")(x)
      x = batch_norm(d, "downsample_1", a)(x)
    return nn.relu(out + x)


def _stage(block: type[nn.Module], x: jnp.ndarray, name: str, planes: int, blocks: int,
           stride: int, in_ch: int, expansion: int, dtype: Dtype,
           conv_algorithm: str) -> jnp.ndarray:
  for i in range(blocks):
    first = i == 0
    needs_ds = first and (stride != 1 or in_ch != planes * expansion)
    x = block(planes, stride if first else 1, needs_ds, dtype, conv_algorithm,
              name=f"{name}_{i}")(x)
  return x


class KeyEncoder(nn.Module):
  """ResNet-50 stem + layer1..3: image (B,H,W,3) -> f16 (1024, /16), f8 (512, /8), f4 (256, /4)."""
  blocks: Sequence[int] = (3, 4, 6)
  planes: Sequence[int] = (64, 128, 256)
  stem: int = 64
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    d, a = self.dtype, self.conv_algorithm
    x = conv2d(self.stem, 7, stride=2, bias=False, dtype=d, conv_algorithm=a, name="conv1")(x)
    x = max_pool_3x3_s2(nn.relu(batch_norm(d, "bn1", a)(x)), a)
    names = ("res2", "layer2", "layer3")
    feats = []
    in_ch = self.stem
    for i, name in enumerate(names):
      x = _stage(Bottleneck, x, name, self.planes[i], self.blocks[i], 1 if i == 0 else 2, in_ch,
                 4, d, a)
      in_ch = self.planes[i] * 4
      feats.append(x)
    f4, f8, f16 = feats
    return f16, f8, f4


class ValueEncoder(nn.Module):
  """ResNet-18 (biased convs) on [RGB, mask, others] + FeatureFusionBlock with the key's f16.

  image (1|B|N,H,W,3), key_f16 (1|B|N,h,w,Cf), masks (N,H,W,1), others (N,H,W,1) -> value
  (N,h,w,Cv).
  With `in_channels == 4` (stage-0 network) the `others` channel is not used.
  """
  blocks: Sequence[int] = (2, 2, 2)
  planes: Sequence[int] = (64, 128, 256)
  stem: int = 64
  value_dim: int = 512
  in_channels: int = 5
  cbam_reduction: int = 16
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, image: jnp.ndarray, key_f16: jnp.ndarray, masks: jnp.ndarray,
               others: jnp.ndarray | None) -> jnp.ndarray:
    d, a = self.dtype, self.conv_algorithm
    parts = (image, masks) if self.in_channels == 4 else (image, masks, others)
    # A batch-1 or batch-B image is convolved once for its objects (its share of conv1).
    x = Conv2DParts(self.stem, 7, stride=2, dtype=d, conv_algorithm=a, name="conv1")(parts)
    x = max_pool_3x3_s2(nn.relu(batch_norm(d, "bn1", a)(x)), a)
    in_ch = self.stem
    for i in range(3):
      x = _stage(BasicBlock, x, f"layer{i + 1}", self.planes[i], self.blocks[i],
                 1 if i == 0 else 2, in_ch, 1, d, a)
      in_ch = self.planes[i]
    self.sow("intermediates", "layer3", x)
    return FeatureFusionBlock(self.value_dim, self.cbam_reduction, d, a, name="fuser")(x, key_f16)
