"""The RDE-VOS network as one Flax module with one method per stage of the per-frame computation.

    model = RDEVOS(architectures.OFFICIAL)
    variables = model.init(rng, image, masks, others)     # or rde_jax.convert.from_torch_state_dict
    feats = model.apply(variables, image, method=RDEVOS.encode_key)

Layouts: image (B,H,W,3) ImageNet-normalised, H and W multiples of 16; masks (N,H,W,1).
"""

from __future__ import annotations

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rde_jax.model import architectures, conv_algorithm
from rde_jax.model.architectures import Arch
from rde_jax.model.blocks import Decoder
from rde_jax.model.encoders import KeyEncoder, ValueEncoder
from rde_jax.model.layers import conv2d
from rde_jax.model.sam import MemCompress


Dtype = Any


class _KeyProjection(nn.Module):
  """3x3 conv f16 -> key (`key_proj.key_proj`)."""
  features: int
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    return conv2d(self.features, 3, dtype=self.dtype, conv_algorithm=self.conv_algorithm,
                  name="key_proj")(x)


class RDEVOS(nn.Module):
  """Key/value encoders, decoder and the SAM memory update of RDE-VOS.

  dtype: compute dtype of convolutions and matmuls (parameters stay float32); conv_algorithm:
  'direct' | 'winograd' for every convolution (`rde_jax.model.conv_algorithm`). Both are static
  fields: a module with other values is another compiled function.
  """
  arch: Arch = architectures.OFFICIAL
  dtype: Dtype = jnp.float32
  conv_algorithm: str = "direct"

  def setup(self) -> None:
    a, d, c = self.arch, self.dtype, conv_algorithm.check(self.conv_algorithm)
    self.key_encoder = KeyEncoder(a.key_blocks, a.key_planes, a.key_stem, d, c)
    self.key_proj = _KeyProjection(a.key_dim, d, c)
    self.key_comp = conv2d(a.value_dim, 3, dtype=d, conv_algorithm=c)
    self.value_encoder = ValueEncoder(a.value_blocks, a.value_planes, a.value_stem, a.value_dim,
                                      a.value_in_channels, a.cbam_reduction, d, c)
    self.decoder = Decoder(a.value_dim, a.decoder_dims, d, c)
    if a.with_mem_compress:
      self.mem_compress = MemCompress(d, c)

  def encode_key(self, image: jnp.ndarray) -> dict[str, jnp.ndarray]:
    """image (B,H,W,3) -> k16 (B,h,w,Ck), qv16 (B,h,w,Cv), f16, f8, f4."""
    f16, f8, f4 = self.key_encoder(image.astype(self.dtype))
    return {"k16": self.key_proj(f16), "qv16": self.key_comp(f16), "f16": f16, "f8": f8,
            "f4": f4}

  def encode_value(self, image: jnp.ndarray, f16: jnp.ndarray, masks: jnp.ndarray,
                   others: jnp.ndarray | None) -> jnp.ndarray:
    """image (1|B|N,H,W,3), f16 (1|B|N,h,w,Cf), masks/others (N,H,W,1), N = B * O objects
    (objects minor) -> value (N,h,w,Cv). A batch-1 or batch-B image / f16 is shared by the
    objects of its frame, not copied."""
    return self.value_encoder(image, f16, masks, others)

  def decode(self, readout: jnp.ndarray, qv16: jnp.ndarray, f8: jnp.ndarray,
             f4: jnp.ndarray) -> jnp.ndarray:
    """readout (K,h,w,Cv), qv16/f8/f4 (1|B|K,...), K = B * O objects (objects minor) -> logits
    (K,H,W,1) float32. A batch-1 or batch-B qv16 / f8 / f4 is shared, not copied."""
    return self.decoder((readout, qv16.astype(readout.dtype)), f8, f4)

  def compress(self, key: jnp.ndarray, value: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """RDE update: key (B,2,h,w,Ck), value (B,2,h,w,Cv) -> (B,1,h,w,Ck), (B,1,h,w,Cv)."""
    return self.mem_compress(key, value)

  def __call__(self, image: jnp.ndarray, masks: jnp.ndarray,
               others: jnp.ndarray | None) -> jnp.ndarray:
    """Touches every parameter once (used by `init`): returns logits (N,H,W,1)."""
    feats = self.encode_key(image)
    v = self.encode_value(image, feats["f16"], masks, others)
    if self.arch.with_mem_compress:
      k2 = jnp.concatenate([feats["k16"][:, None]] * 2, axis=1)
      v2 = jnp.concatenate([v[:, None]] * 2, axis=1)
      _, v1 = self.compress(k2, v2)
      v = v1[:, 0].astype(v.dtype)
    return self.decode(v, feats["qv16"], feats["f8"], feats["f4"])


def abstract_variables(arch: Arch, image_size: tuple[int, int] = (64, 64)) -> Any:
  """ShapeDtypeStructs of the variables of `arch` (no compute; an orbax restore target)."""
  h, w = image_size
  image = jax.ShapeDtypeStruct((1, h, w, 3), jnp.float32)
  masks = jax.ShapeDtypeStruct((1, h, w, 1), jnp.float32)
  others = None if arch.value_in_channels == 4 else masks
  return jax.eval_shape(RDEVOS(arch).init, jax.random.key(0), image, masks, others)


def init_variables(arch: Arch, rng: jax.Array | int = 0,
                   image_size: tuple[int, int] = (64, 64)) -> dict:
  """Freshly initialised variables ({'params', 'batch_stats'}, numpy float32) for `arch`.

  What the official code gets when it builds the network without pretrained weights: ResNet
  trunk convs kaiming-normal (fan_out, ReLU; torchvision's ResNet init), every other conv and
  linear layer PyTorch's default U(+-1/sqrt(fan_in)) for weights and biases; BatchNorm scale 1,
  bias 0, mean 0, var 1; the key projection orthogonal with zero bias. Done in numpy
  from the shapes (compiling a jitted Flax `init` costs tens of seconds on a CPU).
  """
  if not isinstance(rng, int):
    rng = int(np.asarray(jax.random.key_data(rng)).ravel()[-1])
  gen = np.random.default_rng(rng)
  shapes = abstract_variables(arch, image_size)

  def fan_in(path: tuple[str, ...]) -> int:
    kernel = flat_params[path[:-1] + ("kernel",)]
    return int(np.prod(kernel.shape[:-1]))

  flat_params = flax.traverse_util.flatten_dict(shapes["params"])
  params = {}
  for path, sd in flat_params.items():
    if path[-1] == "scale":
      params[path] = np.ones(sd.shape, np.float32)
    elif path[-2:-1] in (("bn1",), ("bn2",), ("bn3",), ("downsample_1",)):
      params[path] = np.zeros(sd.shape, np.float32)  # BatchNorm bias
    elif path[-2] == "key_proj" and path[-1] == "kernel":
      params[path] = orthogonal(gen, sd.shape)
    elif path[-2] == "key_proj":
      params[path] = np.zeros(sd.shape, np.float32)
    elif _is_resnet_conv(path):  # torchvision ResNet init: kaiming normal, fan_out, ReLU gain
      fan_out = int(np.prod(sd.shape[:-2])) * sd.shape[-1]
      params[path] = gen.normal(0.0, np.sqrt(2.0 / fan_out), sd.shape).astype(np.float32)
    else:
      bound = 1.0 / np.sqrt(fan_in(path))
      params[path] = gen.uniform(-bound, bound, sd.shape).astype(np.float32)
  stats = {p: (np.zeros if p[-1] == "mean" else np.ones)(sd.shape, np.float32)
           for p, sd in flax.traverse_util.flatten_dict(shapes["batch_stats"]).items()}
  return {"params": flax.traverse_util.unflatten_dict(params),
          "batch_stats": flax.traverse_util.unflatten_dict(stats)}


def _is_resnet_conv(path: tuple[str, ...]) -> bool:
  """Conv kernels of the two ResNet trunks (not the fuser), initialised like torchvision's."""
  return (path[0] in ("key_encoder", "value_encoder") and path[-1] == "kernel"
          and "fuser" not in path)


def orthogonal(gen: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
  """Orthogonal init of a (..., I, O) kernel, rows of the PyTorch (O, I*k*k) matrix orthonormal."""
  rows, cols = shape[-1], int(np.prod(shape[:-1]))
  a = gen.normal(size=(max(rows, cols), min(rows, cols)))
  q, r = np.linalg.qr(a)
  q = q * np.sign(np.diag(r))
  mat = q if rows >= cols else q.T  # (rows, cols)
  return np.ascontiguousarray(mat.T.reshape(shape)).astype(np.float32)


def count_params(params: Any) -> int:
  """Number of trainable scalars in a params tree."""
  return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))
