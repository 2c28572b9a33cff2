"""Architecture configs: the official RDE-VOS network and a tiny variant for tests and the demo.

Every width and depth of the network comes from here, so the tiny model runs the very same code
path as the official one. `official()` gives exactly the released architecture (64,020,836
parameters, asserted in the tests).
"""

from __future__ import annotations

import ml_collections


def official() -> ml_collections.ConfigDict:
  """The official RDE-VOS eval network (ResNet-50 keys, ResNet-18 values, 512-d values)."""
  c = ml_collections.ConfigDict()
  c.name = "official"
  c.key_blocks = (3, 4, 6)  # ResNet-50 layer1..3 (layer1 is registered as `res2`)
  c.key_planes = (64, 128, 256)  # bottleneck widths; outputs are 4x (f4, f8, f16)
  c.key_stem = 64
  c.value_blocks = (2, 2, 2)  # ResNet-18 layer1..3
  c.value_planes = (64, 128, 256)
  c.value_stem = 64
  c.value_in_channels = 5  # RGB, own mask, sum of the other masks (4 for stage-0 weights)
  c.key_dim = 64  # key projection channels (CK)
  c.value_dim = 512  # value / key_comp channels (CV)
  c.decoder_dims = (256, 256)  # outputs of up_16_8 and up_8_4
  c.cbam_reduction = 16
  c.with_mem_compress = True  # False for the stage-0 network (no SAM)
  return c


def tiny() -> ml_collections.ConfigDict:
  """A few-channel variant for logic tests and the CPU demo (same code path)."""
  c = official()
  c.name = "tiny"
  c.key_blocks = (1, 1, 1)
  c.key_planes = (8, 16, 32)
  c.key_stem = 16
  c.value_blocks = (1, 1, 1)
  c.value_planes = (16, 16, 32)
  c.value_stem = 16
  c.key_dim = 16
  c.value_dim = 64
  c.decoder_dims = (32, 32)
  c.cbam_reduction = 8
  return c


def get(name: str) -> ml_collections.ConfigDict:
  """Looks up an architecture by name ('official' or 'tiny')."""
  table = {"official": official, "tiny": tiny}
  if name not in table:
    raise ValueError(f"unknown architecture {name!r}; expected one of {sorted(table)}")
  return table[name]()


def validate(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the first inconsistent field."""
  if len(c.key_blocks) != 3 or len(c.key_planes) != 3:
    raise ValueError("key_blocks and key_planes need 3 entries (layer1..3)")
  if len(c.value_blocks) != 3 or len(c.value_planes) != 3:
    raise ValueError("value_blocks and value_planes need 3 entries (layer1..3)")
  if c.value_in_channels not in (4, 5):
    raise ValueError(f"value_in_channels must be 4 or 5, got {c.value_in_channels}")
  for field in ("key_dim", "value_dim"):
    if c[field] % 4:
      raise ValueError(f"{field} must be divisible by 4 (SAM widths C/2, C/4), got {c[field]}")
  if c.value_dim // c.cbam_reduction < 1:
    raise ValueError("value_dim // cbam_reduction must be >= 1")
