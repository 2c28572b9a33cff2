"""Reading and writing the memory state: the only place (with `modes` and `state`) where memory
modes differ.

    state = empty(mode, banks, objects, (h, w), key_dim, value_dim, dtype)  # the mode's shape
    state = reserve(state, mode, n)                           # room for n more memory frames
    readout = read(state, mode, k16, top_k)                   # (K,h,w,Cv)
    state = store(state, mode, k16, values, compress, banks)  # a memory frame
    state = open_banks(state, mode, k16, values, banks)       # an annotated frame starts banks

`compress(key2, value2)` is the network's SAM update ((B,2,h,w,Ck), (K,2,h,w,Cv) -> T = 1), the
official `MemCrompress` applied to [RDE ; new].
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from rde_jax.inference import state as state_lib
from rde_jax.inference.modes import MemoryMode
from rde_jax.inference.state import MemoryState
from rde_jax.model import memory_read


Compress = Callable[[jnp.ndarray, jnp.ndarray], tuple[jnp.ndarray, jnp.ndarray]]


def empty(mode: MemoryMode, num_banks: int, num_objects: int, feature_size: tuple[int, int],
          key_dim: int, value_dim: int, dtype: Any) -> MemoryState:
  """Nothing stored yet, with the mode's first capacity (`MemoryMode.capacity`)."""
  return state_lib.empty_state(num_banks, num_objects, feature_size, key_dim, value_dim,
                               mode.capacity(), dtype)


def reserve(state: MemoryState, mode: MemoryMode, frames: int) -> MemoryState:
  """Room for `frames` more memory frames (host side, between device calls): a growing mode
  (stm) gets `mode.capacity(...)` slots, a new shape; the constant-size modes are unchanged."""
  if not mode.grows or frames == 0:
    return state
  need = int(np.max(np.asarray(state.filled))) + int(frames)
  return state_lib.grow(state, mode.capacity(need)) if need > state.capacity else state


def read(state: MemoryState, mode: MemoryMode, k16: jnp.ndarray, top_k: int) -> jnp.ndarray:
  """Top-k read-out for the query key k16 (1,h,w,Ck) -> (K,h,w,Cv), one affinity per bank.

  The official `MemoryBank.match_memory`: L2 affinity, top-k softmax over the listed slots
  (a slot listed twice holds two top-k entries), weighted sum of their values.
  """
  b, s, h, w, ck = state.keys.shape
  k = state.num_objects
  q = k16.reshape(-1, ck)
  copies = jnp.repeat(mode.copies(state.filled, s), h * w, axis=1)  # (B, S*h*w)
  values = state.values.reshape(b, k // b, s * h * w, -1)

  def one_bank(keys: jnp.ndarray, c: jnp.ndarray, v: jnp.ndarray) -> jnp.ndarray:
    aff = memory_read.l2_affinity(keys.reshape(-1, ck), q)
    wts, idx = memory_read.topk_weights_repeated(aff, top_k, c)
    return memory_read.dense_readout(wts, idx, v)  # (K/B, Q, Cv)

  if b == 1:
    out = one_bank(state.keys[0], copies[0], values[0])
  else:
    out = jax.vmap(one_bank)(state.keys, copies, values)
  return out.reshape(k, h, w, -1)


def _select(mask: jnp.ndarray, new: jnp.ndarray, old: jnp.ndarray) -> jnp.ndarray:
  return jnp.where(mask.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)


def store(state: MemoryState, mode: MemoryMode, k16: jnp.ndarray, values: jnp.ndarray,
          compress: Compress, banks: jnp.ndarray) -> MemoryState:
  """A memory frame with key k16 (1,h,w,Ck) and values (K,h,w,Cv), for the banks (B,) bool.

  Compress modes: RDE := SAM([RDE ; new]), last := new. Other RDE modes: last := new. stm: new
  appended (the state must have a free slot). `gt`: unchanged.
  """
  if not mode.stores_frames:
    return state
  b = state.num_banks
  k = jnp.broadcast_to(k16.astype(state.keys.dtype), (b,) + k16.shape[1:])
  v = values.astype(state.values.dtype)
  obj = state.object_banks(banks)
  if mode.grows:
    pos = state.filled
    keys = state.keys.at[jnp.arange(b), pos].set(k)
    vals = state.values.at[jnp.arange(state.num_objects), state.object_banks(pos)].set(v)
    filled = pos + 1
  else:
    rde_k, rde_v = state.keys[:, 0], state.values[:, 0]
    if mode.compresses:
      nk, nv = compress(jnp.stack([rde_k, k], axis=1), jnp.stack([rde_v, v], axis=1))
      rde_k, rde_v = nk[:, 0].astype(k.dtype), nv[:, 0].astype(v.dtype)
    keys = jnp.stack([rde_k, k, state.keys[:, 2]], axis=1)
    vals = jnp.stack([rde_v, v, state.values[:, 2]], axis=1)
    filled = jnp.ones_like(state.filled)
  return state.replace(keys=_select(banks, keys, state.keys),
                       values=_select(obj, vals, state.values),
                       filled=jnp.where(banks, filled, state.filled))


def open_banks(state: MemoryState, mode: MemoryMode, k16: jnp.ndarray, values: jnp.ndarray,
               banks: jnp.ndarray) -> MemoryState:
  """Annotated frame k16 (1,h,w,Ck), values (K,h,w,Cv) starts the banks (B,) bool: it becomes
  their first frame (and their RDE, as the official first `add_memory`)."""
  b, s = state.num_banks, state.capacity
  k = jnp.broadcast_to(k16.astype(state.keys.dtype)[:, None], (b, s) + k16.shape[1:])
  v = jnp.broadcast_to(values.astype(state.values.dtype)[:, None],
                       (state.num_objects, s) + values.shape[1:])
  if mode.grows:  # slot 0 = first frame; the rest are free
    k = k * (jnp.arange(s) == 0).reshape(1, s, 1, 1, 1).astype(k.dtype)
    v = v * (jnp.arange(s) == 0).reshape(1, s, 1, 1, 1).astype(v.dtype)
  return MemoryState(keys=_select(banks, k, state.keys),
                     values=_select(state.object_banks(banks), v, state.values),
                     filled=jnp.where(banks, 1 if mode.grows else 0, state.filled),
                     active=state.active | banks)
