"""Grain pipelines of fixed-shape training batches; batch `step` is a pure function of (seed, step).

    ds = video_pipeline([SourceSpec(davis, repeat=5), SourceSpec(youtube, skip_divisor=5)],
                        batch_size=8, seed=0,
                        max_skip=lambda step: max_skip_at(step, total, stage=3))
    batch = ds[step]                         # random access: what step `step` trains on
    it = make_iterator(ds, start_step=step)  # threaded prefetch; it.get_state() / set_state()

Batches (NHWC, time second; B = per-process batch, S = crop size):

* video stages: rgb (B,T,S,S,3) f32 ImageNet-normalised; gt, sec_gt (B,T,S,S) f32 {0,1}; pgt,
  sec_pgt (B,S,S) f32 (perturbed frame-0 masks); cls_gt (B,T,S,S) int32; selector (B,2) f32.
* stage 0: rgb (B,3,S,S,3); gt (B,3,S,S) f32 (soft edges); pgt (B,S,S); cls_gt (B,3,S,S) int32.

Sample ids: global batch `step` holds ids `step*G .. step*G+G-1` (G = B x process_count);
process p takes `step*G + p*B .. + B`. Id n reads item `perm_e[n mod N]` of the concatenated
(repeated) sources, e = n // N, with a fresh seeded permutation per epoch, and augments it with
`np.random.default_rng([seed, n])`. So processes read disjoint data, an epoch covers every
item once, and resuming at any step is bit-identical.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Protocol, Sequence

import grain
import jax
import numpy as np

from rde_jax.data.clips import StaticClipConfig, VideoClipConfig, static_clip, video_clip

_INFINITE_STEPS = 2**40


class Source(Protocol):
  """Random-access items: video sources give frames/labels, static sources image/mask."""

  def __len__(self) -> int: ...

  def __getitem__(self, index: int) -> Any: ...


@dataclasses.dataclass(frozen=True)
class SourceSpec:
  """A source in a mixture: its items appear `repeat` times per epoch; `skip_divisor`
  divides the frame skip (5 for YouTube-VOS, annotated every 5th frame; 1 for DAVIS and BL30K,
  annotated every frame); `clip_config` replaces the pipeline's for this source (BL30K: its
  crop scale and object filter)."""

  source: Source
  repeat: int = 1
  skip_divisor: int = 1
  clip_config: VideoClipConfig | None = None


@dataclasses.dataclass(frozen=True)
class SamplePlan:
  """Maps sample ids to (spec index, item index) and steps to this process's sample ids."""

  sizes: tuple[int, ...]  # len(source) * repeat per spec
  lengths: tuple[int, ...]  # len(source) per spec
  seed: int
  batch_size: int
  process_index: int
  process_count: int

  @property
  def epoch_size(self) -> int:
    return sum(self.sizes)

  @functools.cached_property
  def _bounds(self) -> np.ndarray:
    return np.cumsum(self.sizes)

  @functools.lru_cache(maxsize=4)
  def _permutation(self, epoch: int) -> np.ndarray:
    return np.random.default_rng([self.seed, epoch, 0x9E3779B9]).permutation(self.epoch_size)

  def sample_id(self, position: int) -> int:
    """Global sample id of this process's `position`-th sample (step = position // B)."""
    step, j = divmod(position, self.batch_size)
    return (step * self.process_count + self.process_index) * self.batch_size + j

  def item(self, sample_id: int) -> tuple[int, int]:
    epoch, q = divmod(sample_id, self.epoch_size)
    flat = int(self._permutation(epoch)[q])
    spec = int(np.searchsorted(self._bounds, flat, side="right"))
    offset = flat - (int(self._bounds[spec - 1]) if spec else 0)
    return spec, offset % self.lengths[spec]

  def step_items(self, step: int) -> list[tuple[int, int]]:
    """(spec, item) of every sample of this process's batch `step`."""
    return [self.item(self.sample_id(step * self.batch_size + j)) for j in range(self.batch_size)]


def _plan(specs: Sequence[SourceSpec], seed: int, batch_size: int, process_index: int | None,
          process_count: int | None) -> SamplePlan:
  if not specs:
    raise ValueError("no sources")
  for s in specs:
    if len(s.source) == 0 or s.repeat < 1:
      raise ValueError(f"empty source or repeat < 1 in {s}")
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index {process_index} not in [0, {process_count})")
  return SamplePlan(tuple(len(s.source) * s.repeat for s in specs),
                    tuple(len(s.source) for s in specs), int(seed), int(batch_size),
                    int(process_index), int(process_count))


def _batched(plan: SamplePlan, make: Callable[[int], dict]) -> grain.MapDataset:
  return grain.MapDataset.range(_INFINITE_STEPS * plan.batch_size).map(make).batch(
      plan.batch_size, drop_remainder=True)


def video_pipeline(specs: Sequence[SourceSpec], *, batch_size: int, seed: int,
                   max_skip: int | Callable[[int], int],
                   config: VideoClipConfig = VideoClipConfig(), process_index: int | None = None,
                   process_count: int | None = None) -> grain.MapDataset:
  """Video-stage batches (`ds[step]`); `max_skip` is a constant or a step -> skip schedule
  (e.g. `lambda s: max_skip_at(s, total_steps, stage)`), in DAVIS frames."""
  plan = _plan(specs, seed, batch_size, process_index, process_count)
  schedule = max_skip if callable(max_skip) else (lambda step, k=int(max_skip): k)

  def make(position: int) -> dict[str, np.ndarray]:
    n = plan.sample_id(position)
    spec, item = plan.item(n)
    skip = max(schedule(position // plan.batch_size) // specs[spec].skip_divisor, 1)
    rng = np.random.default_rng([plan.seed, n])
    return video_clip(specs[spec].source[item], rng, max_skip=skip,
                      cfg=specs[spec].clip_config or config)

  return _batched(plan, make)


def static_pipeline(specs: Sequence[SourceSpec], *, batch_size: int, seed: int,
                    config: StaticClipConfig = StaticClipConfig(), process_index: int | None = None,
                    process_count: int | None = None) -> grain.MapDataset:
  """Stage-0 batches (`ds[step]`) from static image+mask sources."""
  plan = _plan(specs, seed, batch_size, process_index, process_count)

  def make(position: int) -> dict[str, np.ndarray]:
    n = plan.sample_id(position)
    spec, item = plan.item(n)
    return static_clip(specs[spec].source[item], np.random.default_rng([plan.seed, n]), config)

  return _batched(plan, make)


def sample_plan(specs: Sequence[SourceSpec], *, batch_size: int, seed: int,
                process_index: int | None = None, process_count: int | None = None) -> SamplePlan:
  """The plan a pipeline with these arguments follows (which items each step reads)."""
  return _plan(specs, seed, batch_size, process_index, process_count)


def make_iterator(ds: grain.MapDataset, *, start_step: int = 0, num_threads: int = 2,
                  prefetch: int = 4) -> grain.DatasetIterator:
  """Threaded, prefetching iterator over `ds` from `start_step`; its `get_state()` is a
  small dict ({"next_index": step}) to checkpoint, restored with `set_state`."""
  options = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)
  it = iter(ds.to_iter_dataset(options))
  if start_step:
    it.set_state({"next_index": int(start_step)})
  return it
