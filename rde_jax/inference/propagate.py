"""Propagation of whole videos through an `Engine`: the one chunked loop, for a video annotated
on its first frame (DAVIS, segment, the speed benchmark) and for videos whose objects appear
later (YouTube-VOS).

Frames arrive in fixed-size chunks (one jitted `lax.scan` per chunk, the state carried between
chunks), so host and device memory stay flat however long the video is (the `stm` mode excepted:
it grows by design, `memory.reserve`). Frames travel to the device as uint8; normalisation, the
optional resize, padding, un-padding and the argmax run there. mem_every, include_last and chunk
come from the `InferenceSettings` (the Engine's unless given).

    probs = segment_video(variables, frames, first_labels, InferenceSettings(top_k=20))
    for t, labels in propagate(Engine(variables), frames, first, output="labels"): ...
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from rde_jax.inference import frame_schedule, memory
from rde_jax.inference.engine import Engine
from rde_jax.inference.geometry import Geometry
from rde_jax.inference.settings import InferenceSettings
from rde_jax.inference.state import MemoryState, state_bytes
from rde_jax.inference.timing import ChunkRecord, Clock, RunStats


class _Chunks:
  """Moves frames through an Engine: the annotated frame alone, the others `chunk` at a time."""

  def __init__(self, engine: Engine, geo: Geometry, chunk: int, output: str, clock: Clock):
    if output not in ("probs", "labels"):
      raise ValueError(f"output must be 'probs' or 'labels', got {output!r}")
    self.engine, self.geo, self.chunk, self.clock = engine, geo, chunk, clock
    self.rh, self.rw, self.uh, self.uw = geo.matrices(engine)
    self.labels = output == "labels"

  def _prepare(self, raw: np.ndarray) -> Any:
    return self.engine.call("prepare", self.engine.put(raw), self.rh, self.rw, pads=self.geo.pads)

  def _finish(self, probs: Any) -> np.ndarray:
    return np.asarray(self.engine.call("finish", probs, self.uh, self.uw, crop=self.geo.crop,
                                       labels=self.labels))

  def interact(self, state: MemoryState, t: int, frame: np.ndarray, probs: Any,
               labels: np.ndarray, is_new: np.ndarray) -> tuple[MemoryState, Any, np.ndarray]:
    """Annotated frame t (H,W,3) with its (h,w) work-size ids -> state, device probs, output."""
    e, k = self.engine, state.num_objects
    x = self._prepare(frame[None])
    if probs is None:
      probs = e.put(np.zeros((k,) + self.geo.padded, np.float32))
    state, prob = e.call("interact", e.variables, state, x[0], probs,
                         e.put(self.geo.onehot(labels, k)), e.put(is_new))
    out = self._finish(prob[None])[0]
    self._done(state, t, [True])
    return state, prob, out

  def run(self, state: MemoryState, t: int, raw: list[np.ndarray],
          add: Sequence[bool]) -> tuple[MemoryState, Any, np.ndarray]:
    """Frames t, t+1, ... (up to `chunk`, padded to the fixed chunk shape; padding frames store
    nothing) -> state, device probs (C,K+1,Hp,Wp), outputs of the real frames."""
    n, e = len(raw), self.engine
    add = np.concatenate([np.asarray(add, bool), np.zeros(self.chunk - n, bool)])
    raw = list(raw) + [raw[-1]] * (self.chunk - n)
    state = memory.reserve(state, e.mode, int(add.sum()))
    state, probs = e.call("run_chunk", e.variables, state, self._prepare(np.stack(raw)),
                          e.put(add))
    out = self._finish(probs)[:n]
    self._done(state, t, add[:n])
    return state, probs, out

  def _done(self, state: MemoryState, t: int, add: Sequence[bool]) -> None:
    """Closes the clock on a device call (its frames are out) and records it if asked."""
    seconds, compiled = self.clock.pause(len(add))
    if self.clock.stats.chunks is not None:
      listed = self.engine.mode.copies(np.asarray(state.filled), state.capacity)[0]
      self.clock.stats.chunks.append(ChunkRecord(
          start=t, memory_frames=tuple(bool(a) for a in add), seconds=seconds,
          compile_seconds=compiled, capacity=state.capacity, listed_slots=int(listed.sum()),
          state_bytes=state_bytes(state)))


def _check_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  frame = np.asarray(frame)
  if frame.shape != tuple(size) + (3,):
    raise ValueError(f"frame of shape {frame.shape} does not match the first frame "
                     f"{tuple(size) + (3,)}")
  if frame.dtype != np.uint8:
    raise ValueError(f"frames must be uint8 RGB, got {frame.dtype}")
  return frame


def _check_labels(first_labels: np.ndarray, num_objects: int | None) -> tuple[np.ndarray, int]:
  first_labels = np.asarray(first_labels)
  if first_labels.ndim != 2 or not np.issubdtype(first_labels.dtype, np.integer):
    raise ValueError(f"first_labels must be an integer (H,W) map, got {first_labels.dtype} "
                     f"{first_labels.shape}")
  k = int(first_labels.max()) if num_objects is None else num_objects
  if k < 1:
    raise ValueError("the first-frame mask holds no object (all background)")
  if k > 255 or first_labels.max() > 255:
    raise ValueError(f"object ids above 255 are not supported (got {int(first_labels.max())})")
  return first_labels, k


def _settings(engine: Engine, settings: InferenceSettings | None) -> InferenceSettings:
  """`settings`, or the engine's; the fields the engine was compiled for must agree."""
  if settings is None:
    return engine.settings
  if settings.engine_key() != engine.settings.engine_key():
    raise ValueError(f"settings {settings.engine_key()} differ from the engine's "
                     f"{engine.settings.engine_key()} (top_k, memory_mode, dtype, conv_algorithm)")
  return settings


def propagate(engine: Engine, frames: Iterable[np.ndarray], first_labels: np.ndarray,
              settings: InferenceSettings | None = None, *,
              work_size: tuple[int, int] | None = None, output: str = "probs",
              stats: RunStats | None = None, num_objects: int | None = None,
              padded_size: tuple[int, int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
  """Streams (t, out) for every frame of a video, frame 0 (the annotated one) first.

  Args:
    frames: any iterable of uint8 (H,W,3) RGB frames (list, array, lazy reader, generator). They
      are pulled one at a time and at most `settings.chunk` (+1 look-ahead) are held; the length
      need not be known (the look-ahead finds the last frame, which never enters memory).
    first_labels: (H,W) object ids 0..K of frame 0 (K = max id unless `num_objects`).
    settings: mem_every, include_last (the memory frames: `frame_schedule.memory_frames`) and
      chunk; None = the engine's.
    work_size: (h,w) the network runs at: frames resized there (PyTorch bicubic on the normalised
      frames), the first labels with PyTorch nearest; outputs come back at (H,W) (bilinear on the
      probabilities), as in the official YouTube-VOS protocol. None = native size.
    output: 'probs' -> (K+1,H,W) float32 (channel 0 background); 'labels' -> (H,W) uint8 argmax.
    stats: filled in as frames are produced (see `RunStats`; `chunks` records every call).
    padded_size: (Hp,Wp) shape bucket: pad the (working-size) frames to it instead of the next
      multiple of 16 (`geometry.pad_amounts(target=...)`; one compilation per bucket, numerics
      differ slightly from the official padding). None = official padding.
  """
  settings = _settings(engine, settings)
  stats = RunStats() if stats is None else stats
  clock = Clock(stats, engine)
  it = iter(frames)
  first = clock.fetch(it)
  if first is None:
    raise ValueError("the video has no frames")
  first_labels, k = _check_labels(first_labels, num_objects)
  size = first_labels.shape
  geo = Geometry.make(size, work_size, padded_size)
  run = _Chunks(engine, geo, settings.chunk, output, clock)
  state = engine.empty_state(k, geo.padded)
  state, _, out0 = run.interact(state, 0, _check_frame(first, size), None,
                                geo.labels_to_work(first_labels), np.ones(k, bool))
  yield 0, out0
  clock.resume()
  nxt, start = clock.fetch(it), 1
  while nxt is not None:
    raw = []
    while nxt is not None and len(raw) < run.chunk:
      raw.append(_check_frame(nxt, size))
      nxt = clock.fetch(it)
    n = len(raw)
    t = np.arange(start, start + n)
    add = frame_schedule.memory_frames(t, settings.mem_every, settings.include_last,
                                       last=start + n - 1 if nxt is None else None)
    state, _, out = run.run(state, start, raw, add)
    for i in range(n):
      yield start + i, out[i]
    clock.resume()
    start += n


def propagate_banks(engine: Engine, frames: Any, annotations: dict[int, np.ndarray],
                    num_objects: int, settings: InferenceSettings | None = None, *,
                    required: set[int], work_size: tuple[int, int] | None = None,
                    output: str = "labels", stats: RunStats | None = None,
                    padded_size: tuple[int, int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
  """YouTube-VOS: one memory bank per object, objects may appear in later frames.

  Streams (t, (H,W) uint8 ids 0..N) for the required frames from the first annotation on
  ('probs': (N+1,H,W) float32 instead). The official protocol (`inference_core_yv.py`): every
  object has its own bank whose first frame is the frame where it is annotated. When frame f
  brings objects, f's probabilities are overwritten by the annotation and re-aggregated; new
  objects open their bank at f and the running ones store f as a memory frame (a SAM update).
  Frames between annotations follow `frame_schedule.schedule` (settings.mem_every,
  include_last). Objects not yet annotated are masked out of the aggregation (exactly zero
  probability) and of the memory updates.

  frames: random access frames[t] -> uint8 (H,W,3) with len(); annotations: {t: (H,W) ids 1..N
  over the whole video} of every frame with an annotation file, empty ones included: as in the
  official `eval_youtube.py`, each is an interaction.
  """
  settings = _settings(engine, settings)
  stats = RunStats() if stats is None else stats
  clock = Clock(stats, engine)
  size = next(iter(annotations.values())).shape
  geo = Geometry.make(size, work_size, padded_size)
  run = _Chunks(engine, geo, settings.chunk, output, clock)
  state = engine.empty_state(num_objects, geo.padded, per_object=True)
  end_probs = None  # device (N,Hp,Wp) probabilities of the next annotated frame
  for seg in frame_schedule.schedule(len(frames), list(annotations), required,
                                     settings.mem_every, settings.include_last):
    # Which objects the frame brings is judged on the file's own size (official
    # `gt_obj[frame] = np.unique(mask)`), so an object that vanishes in the resize still counts.
    present = np.isin(np.arange(1, num_objects + 1), annotations[seg.start])
    frame = clock.read(lambda: frames[seg.start])
    state, _, out = run.interact(state, seg.start, frame, end_probs, geo.labels_to_work(
        annotations[seg.start]), present)
    end_probs = None
    if seg.start in required:
      yield seg.start, out
    clock.resume()
    for i in range(0, len(seg.steps), run.chunk):
      part = list(seg.steps[i:i + run.chunk])
      raw = [clock.read(lambda t=t: frames[t]) for t, _ in part]
      state, probs, out = run.run(state, part[0][0], raw, [a for _, a in part])
      ends_here = part[-1][0] == seg.end and seg.end in annotations
      if ends_here:
        end_probs = probs[len(part) - 1, 1:]  # the next interaction starts from these
      for j, (t, _) in enumerate(part):
        if t in required and not (t == seg.end and seg.end in annotations):
          yield t, out[j]
      clock.resume()
  clock.pause()


def segment_video(variables: Any, frames: np.ndarray, first_labels: np.ndarray,
                  settings: InferenceSettings | None = None) -> np.ndarray:
  """Segments a whole video with the official protocol (one Engine per call; the API,
  `rde_jax.load(...).segment`, keeps compiled engines).

  frames uint8 (T,H,W,3) RGB; first_labels uint8 (H,W) with 0 = background, 1..K objects.
  Returns float32 probabilities (T,K+1,H,W), channel 0 background, frame 0 the aggregated
  first mask.
  """
  engine = Engine(variables, settings=settings)
  out = None
  for t, p in propagate(engine, frames, first_labels):
    if out is None:
      out = np.empty((len(frames),) + p.shape, np.float32)
    out[t] = p
  return out
