"""Video propagation with the official protocol (mode `two-frames-compress`) as `lax.scan`.

The memory is constant-size: 4 slots [RDE, last memory frame, first frame, first frame]. Before the
first RDE update only [RDE (= first frame), first frame] are valid; a validity mask keeps the
shapes fixed so one compiled scan serves every frame. Frames arrive in fixed-size chunks (one
jitted scan per chunk, the state carried between chunks), so host and device memory stay flat
however long the video is.

    probs = segment_video(variables, frames, first_labels, mem_every=3, top_k=40)
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterator

import flax
import jax
import jax.numpy as jnp
import numpy as np

from rde_jax import memory
from rde_jax.network import Arch, RDEVOS

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def normalize(frames: np.ndarray) -> np.ndarray:
  """uint8 RGB (..., 3) -> float32 ImageNet-normalised (x/255 - mean) / std."""
  return (np.asarray(frames, np.float32) / np.float32(255.0) - IMAGENET_MEAN) / IMAGENET_STD


def pad_amounts(size: int, multiple: int = 16) -> tuple[int, int]:
  """Official padding to a multiple: (before, after) = (floor(d/2), d - floor(d/2))."""
  d = (-size) % multiple
  return d // 2, d - d // 2


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
  """

  def __init__(self, variables: Any, arch: Arch | None = None, *, top_k: int = 40,
               dtype: Any = jnp.float32):
    from rde_jax.convert import arch_from_variables
    self.arch = arch or arch_from_variables(variables)
    self.model = RDEVOS(self.arch, dtype=dtype)
    self.variables = variables
    self.top_k = top_k
    self.init = jax.jit(self._init)
    self.run_chunk = jax.jit(self._run_chunk, donate_argnums=(1,))

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


def propagate(prop: Propagator, frames: np.ndarray, first_labels: np.ndarray, *,
              mem_every: int = 3, chunk: int = 8, num_objects: int | None = None
              ) -> Iterator[tuple[int, np.ndarray]]:
  """Streams (t, probs (K+1,H,W) float32) for every frame of a video, frame 0 first.

  `frames` is any sequence of uint8 (H,W,3) frames (a list, an array, a lazy reader); only
  `chunk` frames are held at a time. `first_labels` (H,W) holds 0..K.
  """
  num_frames = len(frames)
  if num_frames == 0:
    raise ValueError("the video has no frames")
  first_labels = np.asarray(first_labels)
  h, w = first_labels.shape
  k = int(first_labels.max()) if num_objects is None else num_objects
  if k < 1:
    raise ValueError("the first-frame mask holds no object (all background)")
  (pt, pb), (pl, pr) = pad_amounts(h), pad_amounts(w)
  pad = lambda x: np.pad(x, [(pt, pb), (pl, pr)] + [(0, 0)] * (x.ndim - 2))
  prep = lambda f: pad(normalize(_check_frame(f, (h, w))))
  crop = lambda p: np.asarray(p)[..., pt:pt + h, pl:pl + w]

  onehot = np.stack([first_labels == i for i in range(1, k + 1)]).astype(np.float32)
  onehot = np.transpose(pad(np.transpose(onehot, (1, 2, 0))), (2, 0, 1))
  state, prob0 = prop.init(prop.variables, jnp.asarray(prep(frames[0])), jnp.asarray(onehot))
  yield 0, crop(prob0)
  flags = memory_frame_flags(num_frames, mem_every)
  for start in range(1, num_frames, chunk):
    stop = min(start + chunk, num_frames)
    batch = np.stack([prep(frames[t]) for t in range(start, stop)])
    add = flags[start:stop]
    if stop - start < chunk:  # pad the last chunk to the fixed shape; padded frames add nothing
      extra = chunk - (stop - start)
      batch = np.concatenate([batch, np.repeat(batch[-1:], extra, 0)])
      add = np.concatenate([add, np.zeros(extra, bool)])
    state, probs = prop.run_chunk(prop.variables, state, jnp.asarray(batch), jnp.asarray(add))
    probs = np.asarray(probs)
    for i in range(stop - start):
      yield start + i, crop(probs[i])


def _check_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  frame = np.asarray(frame)
  if frame.shape != size + (3,):
    raise ValueError(f"frame of shape {frame.shape} does not match the first frame {size + (3,)}")
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
