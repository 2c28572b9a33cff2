"""Training and validation data of a config: Grain pipelines over built TFDS datasets or the
procedurally generated synthetic_vos videos (the demo; nothing to download or build)."""

from __future__ import annotations

from typing import Any

import grain
import jax
import ml_collections

from rde_jax.data import stage_sources
from rde_jax.data.clips import StaticClipConfig, VideoClipConfig
from rde_jax.data.pipeline import SourceSpec, static_pipeline, video_pipeline
from rde_jax.data.sampling import max_skip_at
from rde_jax.data.synthetic import SyntheticConfig, SyntheticVideos
from rde_jax.errors import UserError


def synthetic_videos(cfg: ml_collections.ConfigDict, split: str) -> SyntheticVideos:
  """Train split: seed `cfg.seed`; validation: a disjoint seed (held-out videos)."""
  d = cfg.data
  gen = SyntheticConfig(height=d.synthetic_size, width=d.synthetic_size,
                        num_frames=d.synthetic_frames)
  if split == "train":
    return SyntheticVideos(d.synthetic_videos, gen, seed=cfg.seed)
  return SyntheticVideos(cfg.eval.num_videos, gen, seed=cfg.seed + 7919)


def _video_specs(cfg: ml_collections.ConfigDict, clip_cfg: VideoClipConfig) -> list[SourceSpec]:
  specs = []
  for name in cfg.data.sources.split("+"):
    if name == "synthetic":
      specs.append(SourceSpec(synthetic_videos(cfg, "train")))
    elif name in stage_sources.SOURCES:  # folders or built TFDS datasets
      specs += stage_sources.video_specs(name, cfg.data, clip_cfg)
    else:
      raise UserError(f"config.data.sources: unknown source {name!r} "
                       "(expected synthetic, bl30k, davis, youtube joined by '+')")
  return specs


def train_pipeline(cfg: ml_collections.ConfigDict, process_index: int | None = None,
                   process_count: int | None = None) -> grain.MapDataset:
  """`ds[step]` is this process's part of global batch `step` (pure function of seed, step)."""
  if process_index is None:
    process_index, process_count = jax.process_index(), jax.process_count()
  per_process, rem = divmod(cfg.batch_size, process_count)
  if rem or per_process == 0:
    raise UserError(f"config.batch_size={cfg.batch_size} is not a positive multiple of the "
                     f"{process_count} processes")
  if cfg.batch_size % jax.device_count():
    raise UserError(f"config.batch_size={cfg.batch_size} is not divisible by the "
                     f"{jax.device_count()} devices")
  d = cfg.data
  if cfg.stage == 0:
    return static_pipeline(stage_sources.static_specs(d), batch_size=per_process, seed=cfg.seed,
                           config=StaticClipConfig(crop_size=d.crop_size, num_frames=3),
                           process_index=process_index, process_count=process_count)
  if d.max_skip > 0:
    skip: Any = int(d.max_skip)
  else:
    skip = lambda step: max_skip_at(step, cfg.num_steps, cfg.stage)
  clip_cfg = VideoClipConfig(crop_size=d.crop_size, num_frames=d.num_frames,
                             crop_scale=tuple(d.crop_scale))
  return video_pipeline(_video_specs(cfg, clip_cfg), batch_size=per_process, seed=cfg.seed,
                        max_skip=skip, config=clip_cfg, process_index=process_index,
                        process_count=process_count)


def eval_videos(cfg: ml_collections.ConfigDict) -> list[dict]:
  """Validation videos {frames (T,H,W,3), labels (T,H,W), name} for periodic J&F."""
  if cfg.eval.source == "none":
    return []
  if cfg.eval.source == "synthetic":
    src = synthetic_videos(cfg, "val")
    return [src[i] for i in range(len(src))]
  if cfg.eval.source == "davis":
    src = stage_sources.davis_val_source(cfg.data)
    return [src[i] for i in range(min(len(src), cfg.eval.num_videos))]
  raise UserError(f"config.eval.source: unknown {cfg.eval.source!r} (synthetic, davis, none)")
