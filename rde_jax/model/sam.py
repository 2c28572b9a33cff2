"""Spatio-temporal Aggregation Module (SAM) and the RDE update (`mem_compress`), NTHWC.

SAM(x) = z + ASPP3D(z) with z = NonLocal(x); the squeeze conv (2,3,3) then collapses T=2 -> 1.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from rde_jax.model.layers import conv3d


Dtype = Any


class NonLocal(nn.Module):
  """Embedded dot-product non-local block with sub-sampling, no softmax, no norm.

  y = (theta phi^T / n') g with n' pooled positions; computed as theta (phi^T g) / n', which is
  the same product re-associated (O(n C^2) instead of O(n n' C)). Returns W(y) + x.
  """
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    b, t, h, w, c = x.shape
    inter = c // 2
    kw = dict(dtype=self.dtype, conv_algorithm=self.conv_algorithm)
    theta = conv3d(inter, (1, 1, 1), **kw, name="theta")(x).reshape(b, -1, inter)
    pool = lambda v: nn.max_pool(v, (1, 2, 2), strides=(1, 2, 2), padding="VALID")
    phi = pool(conv3d(inter, (1, 1, 1), **kw, name="phi_0")(x)).reshape(b, -1, inter)
    g = pool(conv3d(inter, (1, 1, 1), **kw, name="g_0")(x)).reshape(b, -1, inter)
    n_pooled = phi.shape[1]
    ctx = jnp.einsum("bmc,bmd->bcd", phi, g) / n_pooled
    y = jnp.einsum("bnc,bcd->bnd", theta, ctx).reshape(b, t, h, w, inter)
    return conv3d(c, (1, 1, 1), **kw, name="W")(y) + x


class _AtrousBranch(nn.Module):
  """ReLU(Conv3d C -> C/4) with kernel (1,k,k), dilation (1,d,d), no bias (`atrous_conv`)."""
  features: int
  dilation: int
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    d = self.dilation
    k = 1 if d == 1 else 3
    p = 0 if d == 1 else d
    conv = conv3d(self.features, (1, k, k), padding=(0, p, p), dilation=(1, d, d), bias=False,
                  dtype=self.dtype, conv_algorithm=self.conv_algorithm, name="atrous_conv")
    return nn.relu(conv(x))


class ASPP3D(nn.Module):
  """Four branches (rates 1, 2, 4, 6) concatenated, then ReLU(Conv3d (1,3,3)); no BN, no bias."""
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    c = x.shape[-1]
    d, a = self.dtype, self.conv_algorithm
    branches = [_AtrousBranch(c // 4, rate, d, a, name=f"aspp{i + 1}")(x)
                for i, rate in enumerate((1, 2, 4, 6))]
    y = jnp.concatenate(branches, axis=-1)
    conv = conv3d(c, (1, 3, 3), padding=(0, 1, 1), bias=False, dtype=d, conv_algorithm=a,
                  name="conv1")
    return nn.relu(conv(y))


class SAM(nn.Module):
  """extract (non-local) + enhance (ASPP with residual): (B,T,h,w,C) -> same shape."""
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    z = NonLocal(self.dtype, self.conv_algorithm, name="non_local")(x)
    self.sow("intermediates", "nonlocal", z)
    a = ASPP3D(self.dtype, self.conv_algorithm, name="conv1")(z)
    self.sow("intermediates", "aspp", a)
    return z + a


class MemCompress(nn.Module):
  """The RDE update: [RDE ; new] over T=2 -> SAM -> squeeze conv (2,3,3) -> new RDE (T=1).

  key (B,2,h,w,Ck) -> (B,1,h,w,Ck); value (B,2,h,w,Cv) -> (B,1,h,w,Cv) (objects folded in B).
  """
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, key: jnp.ndarray, value: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    d, a = self.dtype, self.conv_algorithm
    k = SAM(d, a, name="key_encoder")(key.astype(d))
    v = SAM(d, a, name="value_encoder")(value.astype(d))
    kw = dict(padding=(0, 1, 1), dtype=d, conv_algorithm=a)
    k = conv3d(k.shape[-1], (2, 3, 3), **kw, name="compress_key")(k)
    v = conv3d(v.shape[-1], (2, 3, 3), **kw, name="compress_value")(v)
    return k, v
