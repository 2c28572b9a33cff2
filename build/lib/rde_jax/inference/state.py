"""The recurrent memory state, kept apart from the model (as Cutie keeps its memory manager).

B banks of S slots each and K objects: B = 1 is one memory shared by all objects (DAVIS, the
official `InferenceCore`), B = K one bank per object (YouTube-VOS, `inference_core_yv.py`,
objects may start at different frames). Keys belong to banks, values to objects.
"""

from __future__ import annotations

import flax
import jax
import jax.numpy as jnp
import numpy as np


@flax.struct.dataclass
class MemoryState:
  """keys (B,S,h,w,Ck), values (K,S,h,w,Cv); filled (B,) int32 (RDE modes: 0 until the first
  memory frame, then 1; stm: slots in use); active (B,) bool (the bank has been annotated)."""
  keys: jnp.ndarray
  values: jnp.ndarray
  filled: jnp.ndarray
  active: jnp.ndarray

  @property
  def num_banks(self) -> int:
    return self.keys.shape[0]

  @property
  def num_objects(self) -> int:
    return self.values.shape[0]

  @property
  def capacity(self) -> int:
    return self.keys.shape[1]

  def object_banks(self, x: jnp.ndarray) -> jnp.ndarray:
    """Per-bank (B,...) -> per-object (K,...): the entry of each object's bank."""
    return jnp.repeat(x, self.num_objects // self.num_banks, axis=0)


def empty_state(num_banks: int, num_objects: int, feature_size: tuple[int, int], key_dim: int,
                value_dim: int, slots: int, dtype: jnp.dtype) -> MemoryState:
  """Zeros, nothing active. feature_size (h, w) = padded frame size / 16."""
  if num_banks not in (1, num_objects):
    raise ValueError(f"banks must be 1 (shared) or one per object ({num_objects}), got "
                     f"{num_banks}")
  h, w = feature_size
  return MemoryState(np.zeros((num_banks, slots, h, w, key_dim), dtype),
                     np.zeros((num_objects, slots, h, w, value_dim), dtype),
                     np.zeros(num_banks, np.int32), np.zeros(num_banks, bool))


def grow(state: MemoryState, capacity: int) -> MemoryState:
  """The same state with `capacity` slots (stm; new slots are zero and unused)."""
  pad = capacity - state.capacity
  if pad <= 0:
    return state
  widen = lambda x: jnp.pad(x, [(0, 0), (0, pad)] + [(0, 0)] * 3)
  return state.replace(keys=widen(state.keys), values=widen(state.values))


def state_bytes(tree: object) -> int:
  """Bytes held by the arrays of a state pytree."""
  return int(sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(tree)))
