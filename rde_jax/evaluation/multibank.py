"""YouTube-VOS propagation: one memory bank per object, objects may appear in later frames.

Official protocol (`inference_core_yv.py`, SPEC §6.3): every object has its own bank (RDE, last
memory frame, GT) whose GT entry is the frame where the object is annotated. When frame f brings
new objects, f's probabilities are overwritten by the annotation and re-aggregated over all
objects; new objects start their bank at f and the existing ones take f as a memory frame (a SAM
update). Between annotated frames f and f', frames f+1..f' are segmented; frame t is a memory frame
when t - (last memory frame) >= mem_every (f counts as one; f' and the video's last frame never
are); frames that are neither memory frames nor written (meta.json) are skipped.

Banks are stacked on a leading object axis (N, 1, h, w, C) so shapes stay fixed per video; objects
not yet annotated are masked out of the aggregation (exactly zero probability) and of updates.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Iterator, Sequence

import flax
import jax
import jax.numpy as jnp
import numpy as np

from rde_jax import memory
from rde_jax.inference import MemoryState, Propagator
from rde_jax.streaming import Clock, Geometry, RunStats
from rde_jax.network import RDEVOS


@flax.struct.dataclass
class BankState:
  """Per-object banks: `mem` leaves (N,1,h,w,C), `mem.updated` (N,); `active` (N,) bool."""
  mem: MemoryState
  active: jnp.ndarray


def _sel(mask: jnp.ndarray, a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
  """Per-object select: mask (N,), a/b (N,...)."""
  return jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)


class MultiBankPropagator(Propagator):
  """`Propagator` plus the jitted per-object-bank steps `interact` and `bank_chunk`."""

  def __init__(self, *args: Any, **kwargs: Any):
    super().__init__(*args, **kwargs)
    self.interact = jax.jit(self._interact, donate_argnums=(1,))
    self.bank_chunk = jax.jit(self._bank_chunk, donate_argnums=(1,))

  def empty_state(self, num_objects: int, padded: tuple[int, int]) -> BankState:
    h, w = padded[0] // 16, padded[1] // 16
    z = lambda c: np.zeros((num_objects, 1, h, w, c), self.dtype)
    ck, cv = self.arch.key_dim, self.arch.value_dim
    mem = MemoryState(z(ck), z(cv), z(ck), z(cv), z(ck), z(cv), np.zeros(num_objects, bool))
    return self.put(BankState(mem, np.zeros(num_objects, bool)))

  def _compress(self, variables: Any, m: MemoryState, k: jnp.ndarray,
                v: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """SAM update of every bank with key k (N,1,h,w,Ck) and value v (N,1,h,w,Cv)."""
    return self._apply(variables, jnp.concatenate([m.rde_k, k], 1),
                       jnp.concatenate([m.rde_v, v], 1), method=RDEVOS.compress)

  def _encode_kv(self, variables: Any, m: MemoryState, frame: jnp.ndarray, f16: jnp.ndarray,
                 k16: jnp.ndarray, obj: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Key (broadcast to N) and values of a frame from object probabilities obj (N,Hp,Wp)."""
    v = self._value(variables, frame, f16, obj).astype(m.rde_v.dtype)[:, None]
    k = jnp.broadcast_to(k16.astype(m.rde_k.dtype), (obj.shape[0], 1) + k16.shape)
    return k, v

  def _interact(self, variables: Any, bank: BankState, frame: jnp.ndarray, probs: jnp.ndarray,
                new_mask: jnp.ndarray, is_new: jnp.ndarray) -> tuple[BankState, jnp.ndarray]:
    """Annotated frame: probs (N,Hp,Wp) propagated so far (zeros if none), new_mask (N,Hp,Wp)
    one-hot of the objects annotated here (is_new (N,)). -> banks, probs (N+1,Hp,Wp)."""
    feats = self._apply(variables, frame[None], method=RDEVOS.encode_key)
    region = jnp.sum(new_mask, axis=0) > 0.5
    p = jnp.where(region[None], 0.0, probs)
    p = jnp.where(is_new[:, None, None], new_mask, p)
    _, prob = memory.soft_aggregate(p, axis=0)  # officially over all N channels
    m = bank.mem
    enabled = bank.active | is_new
    obj = jnp.where(enabled[:, None, None], prob[1:], 0.0)
    k, v = self._encode_kv(variables, m, frame, feats["f16"], feats["k16"][0], obj)
    nk, nv = self._compress(variables, m, k, v)
    fresh, old = is_new & ~bank.active, bank.active
    mem = MemoryState(
        rde_k=_sel(fresh, k, _sel(old, nk.astype(k.dtype), m.rde_k)),
        rde_v=_sel(fresh, v, _sel(old, nv.astype(v.dtype), m.rde_v)),
        last_k=_sel(enabled, k, m.last_k), last_v=_sel(enabled, v, m.last_v),
        gt_k=_sel(fresh, k, m.gt_k), gt_v=_sel(fresh, v, m.gt_v),
        updated=jnp.where(fresh, False, m.updated | old))
    return BankState(mem, enabled), prob

  def _bank_step(self, variables: Any, bank: BankState, frame: jnp.ndarray,
                 add: jnp.ndarray) -> tuple[BankState, jnp.ndarray]:
    feats = self._apply(variables, frame[None], method=RDEVOS.encode_key)
    m, active = bank.mem, bank.active
    readout = jax.vmap(self._read, in_axes=(0, None))(m, feats["k16"])[:, 0]
    logits = self._apply(variables, readout, feats["qv16"], feats["f8"], feats["f4"],
                         method=RDEVOS.decode)
    p = jax.nn.sigmoid(logits[..., 0].astype(jnp.float32))
    bg = jnp.prod(jnp.where(active[:, None, None], 1.0 - p, 1.0), axis=0, keepdims=True)
    q = jnp.clip(jnp.concatenate([bg, p]), 1e-7, 1.0 - 1e-7)
    keep = jnp.concatenate([jnp.ones((1,), bool), active])[:, None, None]
    prob = jax.nn.softmax(jnp.where(keep, jnp.log(q / (1.0 - q)), -jnp.inf), axis=0)

    def update(m: MemoryState) -> MemoryState:
      k, v = self._encode_kv(variables, m, frame, feats["f16"], feats["k16"][0], prob[1:])
      nk, nv = self._compress(variables, m, k, v)
      return MemoryState(_sel(active, nk.astype(k.dtype), m.rde_k),
                         _sel(active, nv.astype(v.dtype), m.rde_v), _sel(active, k, m.last_k),
                         _sel(active, v, m.last_v), m.gt_k, m.gt_v, m.updated | active)

    mem = jax.lax.cond(add, update, lambda s: s, m)
    return BankState(mem, active), prob

  def _bank_chunk(self, variables: Any, bank: BankState, frames: jnp.ndarray,
                  add: jnp.ndarray) -> tuple[BankState, jnp.ndarray]:
    """frames (C,Hp,Wp,3), add (C,) -> banks, probs (C,N+1,Hp,Wp)."""
    body = functools.partial(self._bank_step, variables)
    return jax.lax.scan(lambda s, x: body(s, *x), bank, (frames, add))


@dataclasses.dataclass(frozen=True)
class Segment:
  """Annotated frame `start`; `steps` = (t, add_to_memory) of the frames segmented after it,
  up to and including `end` (the next annotated frame, or the last frame)."""
  start: int
  end: int
  steps: tuple[tuple[int, bool], ...]


def schedule(num_frames: int, annotated: Sequence[int], required: set[int],
             mem_every: int) -> list[Segment]:
  """The official frame schedule of a YouTube-VOS video (see the module docstring)."""
  annotated = sorted(annotated)
  segments = []
  for i, f in enumerate(annotated):
    end = annotated[i + 1] if i + 1 < len(annotated) else num_frames - 1
    last, steps = f, []
    for t in range(f + 1, end + 1):
      is_mem = t - last >= mem_every
      if not is_mem and t not in required:
        continue
      add = is_mem and t != end
      if add:
        last = t
      steps.append((t, add))
    segments.append(Segment(f, end, tuple(steps)))
  return segments


def propagate_banks(prop: MultiBankPropagator, frames: Any, annotations: dict[int, np.ndarray],
                    num_objects: int, *, required: set[int], mem_every: int = 4, chunk: int = 8,
                    work_size: tuple[int, int] | None = None,
                    padded_size: tuple[int, int] | None = None, output: str = "labels",
                    stats: RunStats | None = None) -> Iterator[tuple[int, np.ndarray]]:
  """Streams (t, (H,W) uint8 ids 0..N) for the required frames from the first annotation on
  ('probs': (N+1,H,W) float32 instead).

  frames: random access frames[t] -> uint8 (H,W,3) with len(); annotations: {t: (H,W) ids 1..N
  over the whole video} of every frame with an annotation file, empty ones included: as in the
  official `eval_youtube.py`, each is an interaction (objects present there are set to their
  annotation, new ones get a bank, existing banks take the frame as a memory frame).
  """
  stats = RunStats() if stats is None else stats
  clock = Clock(stats, prop)
  size = next(iter(annotations.values())).shape
  geo = Geometry.make(size, work_size, padded_size)
  rh, rw, uh, uw = geo.matrices(prop)
  prepare = functools.partial(prop.call, "prepare", pads=geo.pads)
  finish = functools.partial(prop.call, "finish", crop=geo.crop, labels=output == "labels")
  bank = prop.empty_state(num_objects, geo.padded)
  zeros = prop.put(np.zeros((num_objects,) + geo.padded, np.float32))
  end_probs = None  # device (N,Hp,Wp) probabilities of the next annotated frame
  for seg in schedule(len(frames), list(annotations), required, mem_every):
    # Which objects the frame brings is judged on the file's own size (official
    # `gt_obj[frame] = np.unique(mask)`), so an object that vanishes in the resize still counts.
    present = np.isin(np.arange(1, num_objects + 1), annotations[seg.start])
    labels = geo.labels_to_work(annotations[seg.start])
    x = prepare(prop.put(clock.read(lambda: frames[seg.start])[None]), rh, rw)
    bank, prob = prop.call("interact", prop.variables, bank, x[0],
                           zeros if end_probs is None else end_probs,
                           prop.put(geo.onehot(labels, num_objects)), prop.put(present))
    end_probs = None
    out = np.asarray(finish(prob[None], uh, uw))[0] if seg.start in required else None
    clock.pause(1)
    if out is not None:
      yield seg.start, out
    clock.resume()
    for i in range(0, len(seg.steps), chunk):
      part = list(seg.steps[i:i + chunk])
      n = len(part)
      raw = [clock.read(lambda t=t: frames[t]) for t, _ in part]
      add = np.array([a for _, a in part] + [False] * (chunk - n))
      raw += [raw[-1]] * (chunk - n)
      x = prepare(prop.put(np.stack(raw)), rh, rw)
      bank, probs = prop.call("bank_chunk", prop.variables, bank, x, prop.put(add))
      out = np.asarray(finish(probs, uh, uw))
      if part[-1][0] == seg.end and seg.end in annotations:
        end_probs = probs[n - 1, 1:]  # the next interaction starts from these
      clock.pause(n)
      for j, (t, _) in enumerate(part):
        if t in required and not (t == seg.end and seg.end in annotations):
          yield t, out[j]
      clock.resume()
  clock.pause()
