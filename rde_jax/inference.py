"""Video propagation with the official protocol (mode `two-frames-compress`) as `lax.scan`.

The memory is constant-size: 4 slots [RDE, last memory frame, first frame, first frame]. Before the
first RDE update only [RDE (= first frame), first frame] are valid; a validity mask keeps the
shapes fixed so one compiled scan serves every frame. Frames arrive in fixed-size chunks (one
jitted scan per chunk, the state carried between chunks), so host and device memory stay flat
however long the video is. Frames travel to the device as uint8; normalisation, the optional
resize, padding, un-padding and the argmax run there. Every jitted step is compiled ahead of
time once per argument shape (counted in `Propagator.compiles`, timed in `compile_seconds`).

    probs = segment_video(variables, frames, first_labels, mem_every=3, top_k=40)
    for t, labels in propagate(Propagator(variables), frames, first, output="labels"): ...
"""

from __future__ import annotations

import collections
import functools
import threading
import time
from typing import Any, Callable, Iterable, Iterator

import flax
import jax
import jax.numpy as jnp
import numpy as np

from rde_jax import memory
from rde_jax.network import Arch, RDEVOS
# Re-exported: the frame helpers lived here first (tests and callers use inference.<name>).
from rde_jax.streaming import (Clock, Geometry, RunStats,  # noqa: F401
                               finish_probs, normalize, pad_amounts, prepare_frames)


@flax.struct.dataclass
class MemoryState:
  """Constant-size recurrent state. Keys (1,h,w,Ck), values (K,h,w,Cv); `updated` () bool."""
  rde_k: jnp.ndarray
  rde_v: jnp.ndarray
  last_k: jnp.ndarray
  last_v: jnp.ndarray
  gt_k: jnp.ndarray
  gt_v: jnp.ndarray
  updated: jnp.ndarray


class Propagator:
  """Jitted per-video building blocks: `init` on the annotated frame, `run_chunk` afterwards.

  Frames passed in are ImageNet-normalised and padded to multiples of 16: (Hp, Wp, 3).
  `dtype` is the compute dtype (parameters stay float32); `device` pins the variables and every
  call to one device (one Propagator per device runs videos in parallel).
  """

  def __init__(self, variables: Any, arch: Arch | None = None, *, top_k: int = 40,
               dtype: Any = jnp.float32, device: jax.Device | None = None):
    from rde_jax.convert import arch_from_variables
    self.arch = arch or arch_from_variables(variables)
    self.model = RDEVOS(self.arch, dtype=dtype)
    self.dtype = jnp.dtype(dtype)
    self.device = device
    self.variables = jax.device_put(variables, device) if device is not None else variables
    self.top_k = top_k
    self.init = jax.jit(self._init)
    self.run_chunk = jax.jit(self._run_chunk, donate_argnums=(1,))
    self.prepare = jax.jit(prepare_frames, static_argnames=("pads",))
    self.finish = jax.jit(finish_probs, static_argnames=("crop", "labels"))
    self.compiles: collections.Counter[str] = collections.Counter()
    self.compile_seconds = 0.0
    self._executables: dict[Any, Any] = {}
    self._lock = threading.Lock()

  def put(self, x: Any) -> Any:
    """Host array or pytree (or None) -> on this Propagator's device (default device if None)."""
    return None if x is None else jax.device_put(x, self.device)

  def call(self, name: str, *args: Any, **static: Any) -> Any:
    """Calls the jitted method `name` through an executable compiled once per argument shape."""
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

  def _apply(self, variables: Any, *args: Any, method: Callable) -> Any:
    return self.model.apply(variables, *args, method=method)

  def _value(self, variables: Any, frame: jnp.ndarray, f16: jnp.ndarray,
             obj_probs: jnp.ndarray) -> jnp.ndarray:
    """Value of a frame from soft object probabilities (K,Hp,Wp) -> (K,h,w,Cv)."""
    masks = obj_probs[..., None]
    others = jnp.sum(masks, axis=0, keepdims=True) - masks
    return self._apply(variables, frame[None], f16, masks, others,
                       method=RDEVOS.encode_value)

  def _init(self, variables: Any, frame: jnp.ndarray,
            onehot: jnp.ndarray) -> tuple[MemoryState, jnp.ndarray]:
    """frame (Hp,Wp,3), onehot (K,Hp,Wp) -> state, probs (K+1,Hp,Wp) (aggregated first mask)."""
    _, prob = memory.soft_aggregate(onehot, axis=0)
    feats = self._apply(variables, frame[None], method=RDEVOS.encode_key)
    v = self._value(variables, frame, feats["f16"], prob[1:])
    k = feats["k16"]
    state = MemoryState(k, v, k, v, k, v, jnp.zeros((), bool))
    return state, prob

  def _read(self, state: MemoryState, k16: jnp.ndarray) -> jnp.ndarray:
    """Top-k read-out of [RDE, last, first, first] for query key (1,h,w,Ck) -> (K,h,w,Cv).

    The first frame is held once and counts twice in the top-k (`topk_weights_repeated`);
    before the first update 'last' is absent and the RDE (= the first frame) counts once.
    """
    _, h, w, ck = k16.shape
    mk = jnp.concatenate([state.rde_k, state.last_k, state.gt_k], 0).reshape(-1, ck)
    mv = jnp.stack([state.rde_v, state.last_v, state.gt_v], 1)
    kk = mv.shape[0]
    mv = mv.reshape(kk, mk.shape[0], -1)
    u = state.updated.astype(jnp.int32)
    copies = jnp.repeat(jnp.stack([jnp.ones((), jnp.int32), u, 1 + u]), h * w)
    aff = memory.l2_affinity(mk, k16.reshape(-1, ck))
    wts, idx = memory.topk_weights_repeated(aff, self.top_k, copies)
    return memory.dense_readout(wts, idx, mv).reshape(kk, h, w, -1)

  def _step(self, variables: Any, state: MemoryState, frame: jnp.ndarray,
            add_to_memory: jnp.ndarray) -> tuple[MemoryState, jnp.ndarray]:
    feats = self._apply(variables, frame[None], method=RDEVOS.encode_key)
    readout = self._read(state, feats["k16"])
    logits = self._apply(variables, readout, feats["qv16"], feats["f8"], feats["f4"],
                         method=RDEVOS.decode)
    _, prob = memory.soft_aggregate(jax.nn.sigmoid(logits[..., 0]), axis=0)

    def update(s: MemoryState) -> MemoryState:
      v = self._value(variables, frame, feats["f16"], prob[1:]).astype(s.rde_v.dtype)
      k = feats["k16"].astype(s.rde_k.dtype)
      key2 = jnp.stack([s.rde_k, k], axis=1)  # (1,2,h,w,Ck): [old RDE ; new]
      val2 = jnp.stack([s.rde_v, v], axis=1)
      nk, nv = self._apply(variables, key2, val2, method=RDEVOS.compress)
      return MemoryState(nk[:, 0].astype(k.dtype), nv[:, 0].astype(v.dtype), k, v, s.gt_k,
                         s.gt_v, jnp.ones((), bool))

    state = jax.lax.cond(add_to_memory, update, lambda s: s, state)
    return state, prob

  def _run_chunk(self, variables: Any, state: MemoryState, frames: jnp.ndarray,
                 add_to_memory: jnp.ndarray) -> tuple[MemoryState, jnp.ndarray]:
    """frames (C,Hp,Wp,3), add_to_memory (C,) bool -> state, probs (C,K+1,Hp,Wp)."""
    body = functools.partial(self._step, variables)
    return jax.lax.scan(lambda s, x: body(s, *x), state, (frames, add_to_memory))


def memory_frame_flags(num_frames: int, mem_every: int, start: int = 0) -> np.ndarray:
  """(T,) bool: frame t (absolute index) updates the RDE iff t % mem_every == 0, t not last."""
  t = np.arange(num_frames)
  flags = (t % mem_every == 0) & (t != num_frames - 1)
  flags[: start + 1] = False
  return flags


def propagate(prop: Propagator, frames: Iterable[np.ndarray], first_labels: np.ndarray, *,
              mem_every: int = 3, chunk: int = 8, num_objects: int | None = None,
              padded_size: tuple[int, int] | None = None,
              work_size: tuple[int, int] | None = None, output: str = "probs",
              stats: RunStats | None = None) -> Iterator[tuple[int, np.ndarray]]:
  """Streams (t, out) for every frame of a video, frame 0 (the annotated one) first.

  Args:
    frames: any iterable of uint8 (H,W,3) RGB frames (list, array, lazy reader, generator). They
      are pulled one at a time and at most `chunk` (+1 look-ahead) are held; the length need not
      be known (the look-ahead finds the last frame, which never enters memory).
    first_labels: (H,W) object ids 0..K of frame 0 (K = max id unless `num_objects`).
    padded_size: (Hp,Wp) shape bucket: pad the (working-size) frames to it instead of the next
      multiple of 16 (`pad_amounts(target=...)`; one compilation per bucket, numerics differ
      slightly from the official padding). None = official padding.
    work_size: (h,w) the network runs at: frames resized there (PyTorch bicubic on the normalised
      frames), the first labels with nearest; outputs come back at (H,W) (bilinear on the
      probabilities), as in the official YouTube-VOS protocol. None = native size.
    output: 'probs' -> (K+1,H,W) float32 (channel 0 background); 'labels' -> (H,W) uint8 argmax.
    stats: filled in as frames are produced (see `RunStats`).
  """
  if output not in ("probs", "labels"):
    raise ValueError(f"output must be 'probs' or 'labels', got {output!r}")
  stats = RunStats() if stats is None else stats
  clock = Clock(stats, prop)
  it = iter(frames)
  first = clock.fetch(it)
  if first is None:
    raise ValueError("the video has no frames")
  first_labels = np.asarray(first_labels)
  if first_labels.ndim != 2 or not np.issubdtype(first_labels.dtype, np.integer):
    raise ValueError(f"first_labels must be an integer (H,W) map, got {first_labels.dtype} "
                     f"{first_labels.shape}")
  size = first_labels.shape
  k = int(first_labels.max()) if num_objects is None else num_objects
  if k < 1:
    raise ValueError("the first-frame mask holds no object (all background)")
  if k > 255 or first_labels.max() > 255:
    raise ValueError(f"object ids above 255 are not supported (got {int(first_labels.max())})")
  geo = Geometry.make(size, work_size, padded_size)
  rh, rw, uh, uw = geo.matrices(prop)
  finish = functools.partial(prop.call, "finish", crop=geo.crop, labels=output == "labels")
  prepare = functools.partial(prop.call, "prepare", pads=geo.pads)
  onehot = geo.onehot(geo.labels_to_work(first_labels), k)
  x0 = prepare(prop.put(_check_frame(first, size)[None]), rh, rw)
  state, prob0 = prop.call("init", prop.variables, x0[0], prop.put(onehot))
  out0 = np.asarray(finish(prob0[None], uh, uw))[0]
  clock.pause(1)
  yield 0, out0
  clock.resume()
  nxt, start = clock.fetch(it), 1
  while nxt is not None:
    raw = []
    while nxt is not None and len(raw) < chunk:
      raw.append(_check_frame(nxt, size))
      nxt = clock.fetch(it)
    n = len(raw)
    add = np.arange(start, start + n) % mem_every == 0
    if nxt is None:
      add[-1] = False  # the last frame of the video never enters memory
    if n < chunk:  # pad the last chunk to the fixed shape; padded frames add nothing
      raw += [raw[-1]] * (chunk - n)
      add = np.concatenate([add, np.zeros(chunk - n, bool)])
    x = prepare(prop.put(np.stack(raw)), rh, rw)
    state, probs = prop.call("run_chunk", prop.variables, state, x, prop.put(add))
    out = np.asarray(finish(probs, uh, uw))
    clock.pause(n)
    for i in range(n):
      yield start + i, out[i]
    clock.resume()
    start += n


def _check_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  frame = np.asarray(frame)
  if frame.shape != tuple(size) + (3,):
    raise ValueError(f"frame of shape {frame.shape} does not match the first frame "
                     f"{tuple(size) + (3,)}")
  if frame.dtype != np.uint8:
    raise ValueError(f"frames must be uint8 RGB, got {frame.dtype}")
  return frame


def segment_video(variables: Any, frames: np.ndarray, first_labels: np.ndarray, *,
                  mem_every: int = 3, top_k: int = 40) -> np.ndarray:
  """Segments a whole video with the official protocol.

  frames uint8 (T,H,W,3) RGB; first_labels uint8 (H,W) with 0 = background, 1..K objects.
  Returns float32 probabilities (T,K+1,H,W), channel 0 background, frame 0 the aggregated
  first mask.
  """
  prop = _cached_propagator(variables, top_k)
  out = None
  for t, p in propagate(prop, frames, first_labels, mem_every=mem_every):
    if out is None:
      out = np.empty((len(frames),) + p.shape, np.float32)
    out[t] = p
  return out


_PROPAGATORS: dict[tuple[int, int], Propagator] = {}


def _cached_propagator(variables: Any, top_k: int) -> Propagator:
  """One Propagator (and so one compilation cache) per variables object and top_k."""
  key = (id(variables), top_k)
  prop = _PROPAGATORS.get(key)
  if prop is None or prop.variables is not variables:
    prop = Propagator(variables, top_k=top_k)
    _PROPAGATORS.clear()
    _PROPAGATORS[key] = prop
  return prop
