"""Architectures: the official RDE-VOS network and a tiny variant for tests and the demo.

Every width and depth of the network is defined here, once, so the tiny model runs the very
same code path as the official one. `OFFICIAL` is exactly the released architecture
(64,020,836 parameters, asserted in the tests).

    arch = Arch.from_config(architectures.get("tiny"))   # or architectures.TINY
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping

import ml_collections


@dataclasses.dataclass(frozen=True)
class Arch:
  """Hashable architecture description (static under jit)."""
  key_blocks: tuple[int, ...]  # ResNet-50 layer1..3 (layer1 is registered as `res2`)
  key_planes: tuple[int, ...]  # bottleneck widths; outputs are 4x (f4, f8, f16)
  key_stem: int
  value_blocks: tuple[int, ...]  # ResNet-18 layer1..3
  value_planes: tuple[int, ...]
  value_stem: int
  value_in_channels: int  # RGB, own mask, sum of the other masks (4 for stage-0 weights)
  key_dim: int  # key projection channels (CK)
  value_dim: int  # value / key_comp channels (CV)
  decoder_dims: tuple[int, ...]  # outputs of up_16_8 and up_8_4
  cbam_reduction: int
  with_mem_compress: bool  # False for the stage-0 network (no SAM)

  def __post_init__(self) -> None:
    validate(self)

  @classmethod
  def from_config(cls, cfg: ml_collections.ConfigDict | Mapping[str, Any]) -> "Arch":
    kw = {}
    for f in dataclasses.fields(cls):
      v = cfg[f.name]
      kw[f.name] = tuple(v) if isinstance(v, (list, tuple)) else v
    return cls(**kw)

  def to_config(self) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dataclasses.asdict(self))

  @property
  def f16_dim(self) -> int:
    return self.key_planes[2] * 4


def validate(a: Any) -> None:
  """Raises ValueError naming the first inconsistent field of an Arch or arch config."""
  if len(a.key_blocks) != 3 or len(a.key_planes) != 3:
    raise ValueError("key_blocks and key_planes need 3 entries (layer1..3)")
  if len(a.value_blocks) != 3 or len(a.value_planes) != 3:
    raise ValueError("value_blocks and value_planes need 3 entries (layer1..3)")
  if a.value_in_channels not in (4, 5):
    raise ValueError(f"value_in_channels must be 4 or 5, got {a.value_in_channels}")
  for field in ("key_dim", "value_dim"):
    if getattr(a, field) % 4:
      raise ValueError(f"{field} must be divisible by 4 (SAM widths C/2, C/4), got "
                       f"{getattr(a, field)}")
  if a.value_dim // a.cbam_reduction < 1:
    raise ValueError("value_dim // cbam_reduction must be >= 1")


def from_variables(variables: Mapping[str, Any]) -> Arch:
  """Reads the architecture off Flax variables ({'params', ...}; shapes only, no copies)."""
  p = variables["params"]
  shape = lambda *path: tuple(functools.reduce(lambda d, k: d[k], path, p).shape)
  blocks = lambda enc, name: sum(1 for k in p[enc] if k.startswith(f"{name}_"))
  key_names, value_names = ("res2", "layer2", "layer3"), ("layer1", "layer2", "layer3")
  vdim = shape("value_encoder", "fuser", "block1", "conv1", "kernel")[-1]
  return Arch(
      key_blocks=tuple(blocks("key_encoder", n) for n in key_names),
      key_planes=tuple(shape("key_encoder", f"{n}_0", "conv1", "kernel")[-1] for n in key_names),
      key_stem=shape("key_encoder", "conv1", "kernel")[-1],
      value_blocks=tuple(blocks("value_encoder", n) for n in value_names),
      value_planes=tuple(shape("value_encoder", f"{n}_0", "conv1", "kernel")[-1]
                         for n in value_names),
      value_stem=shape("value_encoder", "conv1", "kernel")[-1],
      value_in_channels=shape("value_encoder", "conv1", "kernel")[2],
      key_dim=shape("key_proj", "key_proj", "kernel")[-1], value_dim=vdim,
      decoder_dims=(shape("decoder", "up_16_8", "out_conv", "conv1", "kernel")[-1],
                    shape("decoder", "up_8_4", "out_conv", "conv1", "kernel")[-1]),
      cbam_reduction=vdim // shape("value_encoder", "fuser", "attention", "ChannelGate", "mlp_1",
                                   "kernel")[-1],
      with_mem_compress="mem_compress" in p)


OFFICIAL = Arch(key_blocks=(3, 4, 6), key_planes=(64, 128, 256), key_stem=64,
                value_blocks=(2, 2, 2), value_planes=(64, 128, 256), value_stem=64,
                value_in_channels=5, key_dim=64, value_dim=512, decoder_dims=(256, 256),
                cbam_reduction=16, with_mem_compress=True)
TINY = dataclasses.replace(OFFICIAL, key_blocks=(1, 1, 1), key_planes=(8, 16, 32), key_stem=16,
                           value_blocks=(1, 1, 1), value_planes=(16, 16, 32), value_stem=16,
                           key_dim=16, value_dim=64, decoder_dims=(32, 32), cbam_reduction=8)
_TABLE = {"official": OFFICIAL, "tiny": TINY}


def get(name: str) -> ml_collections.ConfigDict:
  """The named architecture ('official' or 'tiny') as an editable config (fields of Arch)."""
  if name not in _TABLE:
    raise ValueError(f"unknown architecture {name!r}; expected one of {sorted(_TABLE)}")
  return _TABLE[name].to_config()


def official() -> ml_collections.ConfigDict:
  """The official RDE-VOS eval network (ResNet-50 keys, ResNet-18 values, 512-d values)."""
  return get("official")


def tiny() -> ml_collections.ConfigDict:
  """A few-channel variant for logic tests and the CPU demo (same code path)."""
  return get("tiny")
