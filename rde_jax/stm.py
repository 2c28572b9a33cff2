"""STM/STCN-style growing memory: the baseline whose cost RDE's constant-size memory avoids.

Every memory frame (the first frame, then every `mem_every`-th one) is appended to the bank and
read with the same L2 affinity and top-k softmax as RDE's `Propagator`; no SAM update. The bank
grows in steps of `grow_slots` frames: arrays are preallocated to the next multiple of
`grow_slots` with a validity mask, and the per-frame step is compiled once per capacity. So the
work per frame grows with the video (stepwise, as the capacity does), memory grows, and every
growth step costs one recompilation (timed separately). `grow_slots=1` is plain growth (one
compile per memory size).

    stm = GrowingMemory(variables, arch, top_k=40)
    state, prob0 = stm.init(frame0, onehot)        # frame (Hp,Wp,3) normalised and padded
    state, prob = stm.step(state, frame, add=True)  # prob (K+1,Hp,Wp); = run(prepare(...))
"""

from __future__ import annotations

import time
from typing import Any

import flax
import jax
import jax.numpy as jnp

from rde_jax import memory
from rde_jax.inference import Propagator
from rde_jax.network import Arch, RDEVOS


@flax.struct.dataclass
class BankState:
  """Keys (S,h,w,Ck), values (K,S,h,w,Cv) for capacity S; `count` () int32 valid slots."""
  keys: jnp.ndarray
  values: jnp.ndarray
  count: jnp.ndarray

  @property
  def capacity(self) -> int:
    return self.keys.shape[0]


class GrowingMemory:
  """Per-frame jitted STM step over a bank that grows by `grow_slots` frames at a time."""

  def __init__(self, variables: Any, arch: Arch | None = None, *, top_k: int = 40,
               dtype: Any = jnp.float32, grow_slots: int = 8):
    self.prop = Propagator(variables, arch, top_k=top_k, dtype=dtype)  # shared encoders/decoder
    self.variables = variables
    self.top_k = top_k
    self.grow_slots = grow_slots
    self._compiled: dict[int, Any] = {}
    self.compile_log: list[dict[str, float]] = []  # one entry per capacity: slots, seconds

  def init(self, frame: jnp.ndarray, onehot: jnp.ndarray) -> tuple[BankState, jnp.ndarray]:
    """frame (Hp,Wp,3), onehot (K,Hp,Wp) -> bank holding the first frame, probs (K+1,Hp,Wp)."""
    rde_state, prob = self.prop.init(self.variables, frame, onehot)
    k, v = rde_state.gt_k, rde_state.gt_v  # (1,h,w,Ck), (K,h,w,Cv)
    state = BankState(k, v[:, None], jnp.ones((), jnp.int32))
    return self._grow(state, self.grow_slots), prob

  def step(self, state: BankState, frame: jnp.ndarray,
           add: bool) -> tuple[BankState, jnp.ndarray]:
    """Segments `frame` from the bank; appends it when `add` (growing the bank when full)."""
    return self.run(self.prepare(state, frame, add), frame, add)

  def prepare(self, state: BankState, frame: jnp.ndarray, add: bool) -> BankState:
    """Grows a full bank before an append; compiles (and runs once, on a copy) the step for a
    new capacity, logging both times."""
    if add and int(state.count) == state.capacity:
      state = self._grow(state, state.capacity + self.grow_slots)
    cap = state.capacity
    if cap not in self._compiled:
      t0 = time.perf_counter()
      fn = jax.jit(self._step, donate_argnums=(1,)).lower(
          self.variables, state, frame, jnp.asarray(False)).compile()
      t1 = time.perf_counter()
      copy = jax.tree_util.tree_map(jnp.copy, state)  # first call (one-off set-up), untimed
      jax.block_until_ready(fn(self.variables, copy, frame, jnp.asarray(add)))
      self._compiled[cap] = fn
      self.compile_log.append({"slots": cap, "seconds": t1 - t0,
                               "first_call_s": time.perf_counter() - t1})
    return state

  def run(self, state: BankState, frame: jnp.ndarray,
          add: bool) -> tuple[BankState, jnp.ndarray]:
    """One compiled step on a prepared bank (donates `state`)."""
    return self._compiled[state.capacity](self.variables, state, frame, jnp.asarray(add))

  @staticmethod
  def _grow(state: BankState, capacity: int) -> BankState:
    pad = capacity - state.capacity
    keys = jnp.pad(state.keys, [(0, pad)] + [(0, 0)] * 3)
    values = jnp.pad(state.values, [(0, 0), (0, pad)] + [(0, 0)] * 3)
    return BankState(keys, values, state.count)

  def _step(self, variables: Any, state: BankState, frame: jnp.ndarray,
            add: jnp.ndarray) -> tuple[BankState, jnp.ndarray]:
    p, model = self.prop, self.prop.model
    feats = model.apply(variables, frame[None], method=RDEVOS.encode_key)
    k16 = feats["k16"]
    cap, h, w, ck = state.keys.shape
    kk = state.values.shape[0]
    valid = jnp.repeat(jnp.arange(cap) < state.count, h * w)
    aff = memory.l2_affinity(state.keys.reshape(-1, ck), k16.reshape(-1, ck))
    wts, idx = memory.topk_weights(aff, self.top_k, valid)
    mv = state.values.reshape(kk, cap * h * w, -1)
    readout = memory.topk_readout(wts, idx, mv).reshape(kk, h, w, -1)
    logits = model.apply(variables, readout, feats["qv16"], feats["f8"], feats["f4"],
                         method=RDEVOS.decode)
    _, prob = memory.soft_aggregate(jax.nn.sigmoid(logits[..., 0]), axis=0)

    def append(s: BankState) -> BankState:
      v = p._value(variables, frame, feats["f16"], prob[1:]).astype(s.values.dtype)
      keys = jax.lax.dynamic_update_slice_in_dim(s.keys, k16.astype(s.keys.dtype), s.count, 0)
      values = jax.lax.dynamic_update_slice_in_dim(s.values, v[:, None], s.count, 1)
      return BankState(keys, values, s.count + 1)

    return jax.lax.cond(add, append, lambda s: s, state), prob


def state_bytes(tree: Any) -> int:
  """Bytes held by the arrays of a state pytree."""
  return int(sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(tree)))
