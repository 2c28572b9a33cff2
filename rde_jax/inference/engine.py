"""The per-frame VOS step, written once: every propagation path (DAVIS, YouTube-VOS banks, the
STM baseline, segment, the benchmark's stage timings) runs these functions.

  step(frame):   encode key -> read memory -> decode -> soft aggregation
                 -> (memory frame) encode value -> store (SAM update / append)
  interact(frame, annotation): the annotated frame overrides the probabilities of its objects,
                 new objects open their bank, the others store the frame.

Frames are ImageNet-normalised and padded to multiples of 16: (Hp,Wp,3). Every jitted function
is compiled ahead of time once per argument shape (`Engine.call`; counted in `compiles`, timed
in `compile_seconds`). Memory variants (`modes.MemoryMode`) differ only in `memory` (`empty`,
`reserve`, `read`, `store`, `open_banks`) and `modes`.
"""

from __future__ import annotations

import collections
import functools
import threading
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rde_jax.inference import geometry, memory
from rde_jax.inference import state as state_lib
from rde_jax.inference.modes import MemoryMode
from rde_jax.inference.settings import InferenceSettings
from rde_jax.inference.state import MemoryState
from rde_jax.model import memory_read
from rde_jax.model import architectures
from rde_jax.model.architectures import Arch
from rde_jax.model.network import RDEVOS


class Engine:
  """Jitted building blocks for one model, `InferenceSettings` (the fields of `engine_key()`:
  top_k, memory_mode, dtype, conv_algorithm) and device.

  `settings.dtype` is the compute dtype of convolutions and matmuls (parameters stay float32;
  affinity scores, top-k weights and soft aggregation are float32, as under PyTorch autocast;
  the decoder's sigmoid is float32 except in float16, where autocast leaves it in float16). The
  convolution algorithm is resolved for the device's backend (`settings.conv_algorithm_for`) and
  built into the network (`RDEVOS.conv_algorithm`).
  `device` pins the variables and every call to one device (one Engine per device runs videos
  in parallel).
  """

  def __init__(self, variables: Any, arch: Arch | None = None,
               settings: InferenceSettings | None = None, device: jax.Device | None = None):
    self.settings = InferenceSettings() if settings is None else settings
    if not isinstance(self.settings, InferenceSettings):
      raise TypeError(f"settings must be an InferenceSettings, got {type(settings).__name__}")
    self.arch = arch or architectures.from_variables(variables)
    self.mode = MemoryMode(self.settings.memory_mode)
    if self.mode.compresses and not self.arch.with_mem_compress:
      raise ValueError(f"memory mode {self.mode.name!r} needs the SAM (mem_compress) weights; "
                       "this network has none (a stage-0 model): use 'two-frames', 'gt', "
                       "'last' or 'stm'")
    self.top_k = self.settings.top_k
    self.dtype = jnp.dtype(self.settings.dtype)
    backend = device.platform if device is not None else jax.default_backend()
    self.conv_algorithm = self.settings.conv_algorithm_for(backend)
    self.model = RDEVOS(self.arch, dtype=self.dtype, conv_algorithm=self.conv_algorithm)
    self.device = device
    self.variables = jax.device_put(variables, device) if device is not None else variables
    self.interact = jax.jit(self._interact, donate_argnums=(1,))
    self.run_chunk = jax.jit(self.scan, donate_argnums=(1,))
    self.prepare = jax.jit(geometry.prepare_frames, static_argnames=("pads",))
    self.finish = jax.jit(geometry.finish_probs, static_argnames=("crop", "labels"))
    self.compiles: collections.Counter[str] = collections.Counter()
    self.compile_seconds = 0.0
    self._executables: dict[Any, Any] = {}
    self._lock = threading.Lock()

  # -- host side ---------------------------------------------------------------------------
  def put(self, x: Any) -> Any:
    """Host array or pytree (or None) -> on this Engine's device (default device if None)."""
    return None if x is None else jax.device_put(x, self.device)

  def call(self, name: str, *args: Any, **static: Any) -> Any:
    """Calls the jitted method `name` through an executable compiled once per argument shape
    (and matmul precision, the one process-wide setting the traced step reads)."""
    leaves, treedef = jax.tree_util.tree_flatten(args)
    key = (name, treedef, tuple(sorted(static.items())), jax.config.jax_default_matmul_precision,
           tuple((np.shape(x), np.result_type(x)) for x in leaves))
    exe = self._executables.get(key)
    if exe is None:
      with self._lock:
        exe = self._executables.get(key)
        if exe is None:
          start = time.perf_counter()
          exe = getattr(self, name).lower(*args, **static).compile()
          self.compile_seconds += time.perf_counter() - start
          self.compiles[name] += 1
          self._executables[key] = exe
    return exe(*args)

  def empty_state(self, num_objects: int, padded: tuple[int, int], *,
                  per_object: bool = False, slots: int | None = None) -> MemoryState:
    """Nothing stored yet: one shared bank, or one bank per object (`per_object`), with the
    mode's starting capacity (`memory.empty`) or `slots` slots."""
    return self.put(self.host_state(num_objects, padded, per_object=per_object, slots=slots))

  def host_state(self, num_objects: int, padded: tuple[int, int], *, per_object: bool = False,
                 slots: int | None = None) -> MemoryState:
    """`empty_state` as numpy arrays (known while tracing: the exported `init`); `slots`
    defaults to the mode's starting capacity (`MemoryMode.capacity`)."""
    return state_lib.empty_state(num_objects if per_object else 1, num_objects,
                                 (padded[0] // 16, padded[1] // 16), self.arch.key_dim,
                                 self.arch.value_dim,
                                 self.mode.capacity() if slots is None else slots, self.dtype)

  # -- the network, one stage each (the benchmark times these) --------------------------------
  def encode_key(self, variables: Any, frame: jnp.ndarray) -> dict[str, jnp.ndarray]:
    """frame (Hp,Wp,3) -> k16 (1,h,w,Ck), qv16 (1,h,w,Cv), f16, f8, f4."""
    return self.model.apply(variables, frame[None], method=RDEVOS.encode_key)

  def read(self, state: MemoryState, k16: jnp.ndarray) -> jnp.ndarray:
    """Memory read-out (K,h,w,Cv) for the query key (1,h,w,Ck)."""
    return memory.read(state, self.mode, k16, self.top_k)

  def decode(self, variables: Any, readout: jnp.ndarray,
             feats: dict[str, jnp.ndarray]) -> jnp.ndarray:
    """Object probabilities (K,Hp,Wp) float32 = sigmoid(decoder logits). In float16 the
    sigmoid runs in float16, as under autocast (official eval_network.py segment_with_query:
    torch.sigmoid is on neither autocast list, so it keeps the decoder's float16)."""
    logits = self.model.apply(variables, readout, feats["qv16"], feats["f8"], feats["f4"],
                              method=RDEVOS.decode)[..., 0]
    if self.dtype == jnp.float16:
      return jax.nn.sigmoid(logits.astype(jnp.float16)).astype(jnp.float32)
    return jax.nn.sigmoid(logits.astype(jnp.float32))

  def value(self, variables: Any, frame: jnp.ndarray, f16: jnp.ndarray,
            obj_probs: jnp.ndarray) -> jnp.ndarray:
    """Values (K,h,w,Cv) of a frame from soft object probabilities (K,Hp,Wp): object k sees
    [RGB, p_k, sum of the others] (the official `encode_value`)."""
    masks = obj_probs[..., None]
    others = jnp.sum(masks, axis=0, keepdims=True) - masks
    return self.model.apply(variables, frame[None], f16, masks, others,
                            method=RDEVOS.encode_value)

  def compress(self, variables: Any, key2: jnp.ndarray,
               value2: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """SAM update: [RDE ; new] (B,2,h,w,Ck), (K,2,h,w,Cv) -> (B,1,...), (K,1,...)."""
    return self.model.apply(variables, key2, value2, method=RDEVOS.compress)

  def store(self, variables: Any, state: MemoryState, frame: jnp.ndarray,
            feats: dict[str, jnp.ndarray], obj_probs: jnp.ndarray,
            banks: jnp.ndarray) -> MemoryState:
    """Stores `frame` as a memory frame of the banks (B,) bool."""
    v = self.value(variables, frame, feats["f16"], obj_probs)
    return memory.store(state, self.mode, feats["k16"], v,
                        functools.partial(self.compress, variables), banks)

  # -- jitted steps ------------------------------------------------------------------------
  def _interact(self, variables: Any, state: MemoryState, frame: jnp.ndarray, probs: jnp.ndarray,
                new_mask: jnp.ndarray, is_new: jnp.ndarray) -> tuple[MemoryState, jnp.ndarray]:
    """Annotated frame: probs (K,Hp,Wp) propagated so far (zeros if none), new_mask (K,Hp,Wp)
    one-hot of the objects annotated here (is_new (K,)) -> state, probs (K+1,Hp,Wp).

    As the official `interact`: the annotated region is cleared, the annotated objects take
    their mask, all K channels are re-aggregated; new objects open their bank with this frame,
    the banks already running store it as a memory frame.
    """
    feats = self.encode_key(variables, frame)
    region = jnp.sum(new_mask, axis=0) > 0.5
    p = jnp.where(region[None], 0.0, probs)
    p = jnp.where(is_new[:, None, None], new_mask, p)
    _, prob = memory_read.soft_aggregate(p, axis=0)
    b, k = state.num_banks, state.num_objects
    opened = is_new.reshape(b, k // b).any(axis=1) & ~state.active
    running = state.active
    enabled = state.object_banks(running | opened)
    obj = jnp.where(enabled[:, None, None], prob[1:], 0.0)
    v = self.value(variables, frame, feats["f16"], obj)
    compress = functools.partial(self.compress, variables)
    store = lambda s: memory.store(s, self.mode, feats["k16"], v, compress, running)
    if isinstance(running, jax.core.Tracer):
      state = jax.lax.cond(jnp.any(running), store, lambda s: s, state)
    elif np.any(np.asarray(running)):  # a host state (the exported `init`): no lax.cond
      state = store(state)
    state = memory.open_banks(state, self.mode, feats["k16"], v, opened)
    return state, prob

  def _step(self, variables: Any, state: MemoryState, frame: jnp.ndarray,
            add: jnp.ndarray) -> tuple[MemoryState, jnp.ndarray]:
    """One frame (Hp,Wp,3) -> state, probs (K+1,Hp,Wp); `add` () bool: a memory frame.

    A Python bool `add` traces one branch only, no `lax.cond` (the exported `step` and
    `step_and_memorize`, rde_jax/export).
    """
    feats = self.encode_key(variables, frame)
    p = self.decode(variables, self.read(state, feats["k16"]), feats)
    active = state.object_banks(state.active)
    _, prob = memory_read.soft_aggregate(p, axis=0, active=active)
    if self.mode.stores_frames:
      store = lambda s: self.store(variables, s, frame, feats, prob[1:], s.active)
      if isinstance(add, bool):
        state = store(state) if add else state
      else:
        state = jax.lax.cond(add, store, lambda s: s, state)
    return state, prob

  def scan(self, variables: Any, state: MemoryState, frames: jnp.ndarray,
           add: jnp.ndarray) -> tuple[MemoryState, jnp.ndarray]:
    """frames (C,Hp,Wp,3), add (C,) bool -> state, probs (C,K+1,Hp,Wp): one lax.scan of the
    per-frame step (`run_chunk` is its jitted form, which donates the state)."""
    body = functools.partial(self._step, variables)
    return jax.lax.scan(lambda s, x: body(s, *x), state, (frames, add))
