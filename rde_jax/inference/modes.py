"""The official memory modes (`inference_memory_bank.py MemoryBank`, flags `use_gt`, `use_last`,
`is_compress`): which stored frames a query frame reads.

Slots of the constant-size state, in the official read order: [RDE, last, first], where first is
the annotated frame, last the latest memory frame and RDE the SAM-compressed embedding. A mode is
the number of times each slot is listed in the read, before and after the first memory frame
(the first frame is held once and listed twice where the official bank lists it twice; its
top-k entries count double). `stm` instead keeps every memory frame (growing).

| mode                | before the first memory frame | after          |
| ------------------- | ----------------------------- | -------------- |
| two-frames-compress | [first, first]                | [RDE, last, first, first] |
| compress            | [first]                       | [RDE]          |
| gt-compress         | [first, first]                | [RDE, first]   |
| last-compress       | [first]                       | [RDE, last]    |
| two-frames          | [first]                       | [last, first, first] |
| gt                  | [first]                       | [first]        |
| last                | [first]                       | [last]         |
| stm                 | [first]                       | [first, m1, m2, ...] (grows) |

Before the first SAM update the RDE slot holds the first frame, so "[first, first]" of the
compress modes is RDE + first.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np


DEFAULT = "two-frames-compress"
# mode -> (copies of [RDE, last, first] before, after the first memory frame)
_COPIES = {
    "two-frames-compress": ((1, 0, 1), (1, 1, 2)),
    "compress": ((1, 0, 0), (1, 0, 0)),
    "gt-compress": ((1, 0, 1), (1, 0, 1)),
    "last-compress": ((1, 0, 0), (1, 1, 0)),
    "two-frames": ((0, 0, 1), (0, 1, 2)),
    "gt": ((0, 0, 1), (0, 0, 1)),
    "last": ((0, 0, 1), (0, 1, 0)),
}
MODES = tuple(_COPIES) + ("stm",)
RDE_SLOTS = 3  # [RDE, last, first]
GROW_SLOTS = 8  # stm: the first capacity, and the growth step up to 64 slots


@dataclasses.dataclass(frozen=True)
class MemoryMode:
  """A memory mode by its official name (hashable: static under jit)."""
  name: str = DEFAULT

  def __post_init__(self) -> None:
    if self.name not in MODES:
      raise ValueError(f"unknown memory mode {self.name!r}; expected one of {', '.join(MODES)}")

  @property
  def compresses(self) -> bool:
    """Memory frames run the SAM update of the RDE (needs a network with mem_compress)."""
    return self.name.endswith("compress")

  @property
  def grows(self) -> bool:
    """Every memory frame is appended (STM/STCN): the state grows with the video."""
    return self.name == "stm"

  @property
  def stores_frames(self) -> bool:
    """Memory frames change the state (not so in `gt`, which reads the first frame only)."""
    return self.name != "gt"

  def capacity(self, need: int = 0) -> int:
    """Slots of a state that holds `need` stored frames. RDE modes: RDE_SLOTS. stm: `need`
    rounded up to a multiple of GROW_SLOTS (8) up to 64 slots, then of 1/8 of the power of two
    above it (80, 96, 112, 128, 160, ...): one compilation per capacity, four per doubling."""
    if not self.grows:
      return RDE_SLOTS
    need = max(int(need), 1)
    step = max(GROW_SLOTS, 1 << max((need - 1).bit_length() - 3, 0))
    return -(-need // step) * step

  def copies(self, filled: jnp.ndarray, capacity: int) -> jnp.ndarray:
    """Times each slot is listed in the read: filled (B,) int -> (B, S) int32.

    RDE modes: filled is 0 before the first memory frame, 1 after; stm: slots in use.
    """
    if self.grows:
      return (jnp.arange(capacity)[None, :] < filled[:, None]).astype(jnp.int32)
    before, after = (jnp.asarray(np.array(c, np.int32)) for c in _COPIES[self.name])
    return jnp.where(filled[:, None] > 0, after[None], before[None])
