"""One training sample: a video clip (stages 1-3) or a pseudo-clip from a static image (stage 0).

Pure functions of (source item, numpy Generator, config); the pipeline stacks them into batches.
Per-sample outputs (S = crop size, T = clip length):

* `video_clip`: rgb (T,S,S,3) f32 normalised, gt / sec_gt (T,S,S) f32 {0,1}, pgt / sec_pgt
  (S,S) f32, cls_gt (T,S,S) int32 (1 target, 2 second, 0 else), selector (2,) f32.
* `static_clip`: rgb (T,S,S,3), gt (T,S,S) f32 in [0,1] (soft edges), pgt (S,S), cls_gt
  (T,S,S) int32.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np
from PIL import Image

from rde_jax.data import augment as A
from rde_jax.data.perturb import perturb_mask
from rde_jax.data.sampling import sample_frame_indices, select_objects
from rde_jax.data.tps import random_tps_warp


@dataclasses.dataclass(frozen=True)
class VideoClipConfig:
  """Video stages (official `VOSDataset`). BL30K: `crop_scale` (0.25, 1) and
  `filter_small_objects` (its `is_bl`); DAVIS / YouTube-VOS: (0.36, 1), no filter."""

  crop_size: int = 384
  num_frames: int = 5
  crop_scale: tuple[float, float] = (0.36, 1.0)
  perturb_iou: tuple[float, float] = (0.85, 1.0)
  max_tries: int = 5  # draws of frames + augmentation in all while no object qualifies
  filter_small_objects: bool = False


@dataclasses.dataclass(frozen=True)
class StaticClipConfig:
  """Stage 0 (official `StaticTransformDataset`)."""

  crop_size: int = 384
  num_frames: int = 3
  tps_prob: float = 0.33
  perturb_iou: tuple[float, float] = (0.85, 1.0)


def _augment_video_frames(rgb: np.ndarray, ids: np.ndarray, rng: np.random.Generator,
                          cfg: VideoClipConfig):
  """rgb (T,H,W,3) uint8, ids (T,H,W) uint8 -> augmented (T,S,S,3) uint8, (T,S,S) uint8."""
  s = cfg.crop_size
  flip = rng.random() < 0.5  # per sequence: flip + resized crop, jitter + grayscale
  box = A.sample_resized_crop(rng, rgb.shape[1], rgb.shape[2], cfg.crop_scale)
  seq_jitter = A.sample_jitter(rng, 0.1, 0.03, 0.03, 0.0)
  gray = rng.random() < 0.05
  out_rgb = np.empty((len(rgb), s, s, 3), np.uint8)
  out_ids = np.empty((len(rgb), s, s), np.uint8)
  for t in range(len(rgb)):
    im, lab = Image.fromarray(rgb[t]), Image.fromarray(ids[t])
    if flip:
      im, lab = A.hflip(im), A.hflip(lab)
    im = A.apply_jitter(A.resized_crop(im, box, s, A.BICUBIC), seq_jitter)
    lab = A.resized_crop(lab, box, s, A.NEAREST)
    if gray:
      im = A.grayscale(im)
    aff = A.sample_affine(rng, degrees=15.0, shear=10.0)  # per frame
    im = A.apply_jitter(A.apply_affine(im, aff, A.BICUBIC, A.IM_MEAN_FILL),
                        A.sample_jitter(rng, 0.01, 0.01, 0.01))
    out_rgb[t], out_ids[t] = np.asarray(im), np.asarray(A.apply_affine(lab, aff, A.NEAREST, 0))
  return out_rgb, out_ids


def video_clip(video: Mapping[str, Any], rng: np.random.Generator, *, max_skip: int,
               cfg: VideoClipConfig = VideoClipConfig()) -> dict[str, np.ndarray]:
  """`video`: frames (L,H,W,3) uint8 and labels (L,H,W) uint8 array-likes (lazy is fine).

  As `VOSDataset.__getitem__`: up to `max_tries` draws (frames + augmentation) until the first
  sampled frame holds a qualifying object; if none ever does, the target is all empty (gt zeros,
  selector [1, 0]) and its perturbed first mask is what `perturb_mask` makes of an empty mask.
  Without a second object `sec_gt` and `sec_pgt` are zeros.
  """
  frames, labels = video["frames"], video["labels"]
  if len(frames) != len(labels):
    raise ValueError(f"{video.get('name', '?')}: {len(frames)} frames but {len(labels)} label maps")
  iou_target = rng.uniform(*cfg.perturb_iou)
  for _ in range(cfg.max_tries):
    idx = sample_frame_indices(len(frames), max_skip, rng, cfg.num_frames)
    rgb, ids = _augment_video_frames(np.asarray(frames[idx]), np.asarray(labels[idx]), rng, cfg)
    target, second = select_objects(ids[0], rng, ids if cfg.filter_small_objects else None)
    if target >= 0:
      break
  gt = (ids == target).astype(np.float32) if target >= 0 else np.zeros(ids.shape, np.float32)
  sec_gt = (ids == second).astype(np.float32) if second >= 0 else np.zeros(ids.shape, np.float32)
  cls_gt = np.zeros(ids.shape, np.int32)
  cls_gt[gt > 0.5] = 1
  cls_gt[sec_gt > 0.5] = 2
  return {
      "rgb": A.normalize(rgb),
      "gt": gt,
      "sec_gt": sec_gt,
      "pgt": perturb_mask(gt[0], iou_target, rng),
      "sec_pgt": (perturb_mask(sec_gt[0], iou_target, rng) if second >= 0
                  else np.zeros_like(sec_gt[0])),
      "cls_gt": cls_gt,
      "selector": np.array([1.0, 1.0 if second >= 0 else 0.0], np.float32),
  }


def static_clip(item: Mapping[str, Any], rng: np.random.Generator,
                cfg: StaticClipConfig = StaticClipConfig()) -> dict[str, np.ndarray]:
  """`item`: image (H,W,3) uint8 and mask (H,W) uint8 0..255 -> a 3-frame pseudo clip."""
  s = cfg.crop_size
  iou_target = rng.uniform(*cfg.perturb_iou)
  im, m = Image.fromarray(np.asarray(item["image"])), Image.fromarray(np.asarray(item["mask"]))
  aff = A.sample_affine(rng, scale=(0.8, 1.5))  # per sequence (nearest, as torchvision's default)
  im, m = A.apply_affine(im, aff, A.NEAREST, A.IM_MEAN_FILL), A.apply_affine(m, aff, A.NEAREST, 0)
  if rng.random() < 0.5:
    im, m = A.hflip(im), A.hflip(m)
  im = A.apply_jitter(im, A.sample_jitter(rng, 0.1, 0.05, 0.05, 0.05))
  if rng.random() < 0.05:
    im = A.grayscale(im)
  rgb = np.empty((cfg.num_frames, s, s, 3), np.uint8)
  grey = np.empty((cfg.num_frames, s, s), np.uint8)
  for t in range(cfg.num_frames):
    aff = A.sample_affine(rng, degrees=20.0, scale=(0.9, 1.1), shear=10.0)
    im_t = A.resize_short_side(A.apply_affine(im, aff, A.BICUBIC, A.IM_MEAN_FILL), s, A.BICUBIC)
    m_t = A.resize_short_side(A.apply_affine(m, aff, A.BICUBIC, 0), s, A.NEAREST)
    top, left = A.sample_crop(rng, im_t.height, im_t.width, s)
    im_t, m_t = A.pad_crop(im_t, top, left, s, A.IM_MEAN_FILL), A.pad_crop(m_t, top, left, s, 0)
    im_t = A.apply_jitter(im_t, A.sample_jitter(rng, 0.1, 0.05, 0.05, 0.0))
    rgb[t], grey[t] = np.asarray(im_t), np.asarray(m_t)
    if rng.random() < cfg.tps_prob:
      rgb[t], grey[t] = random_tps_warp(rgb[t], grey[t], rng)
  gt = grey.astype(np.float32) / np.float32(255.0)
  pgt = perturb_mask(gt[0], iou_target, rng) if gt[0].max() == 1.0 else gt[0].copy()
  return {"rgb": A.normalize(rgb), "gt": gt, "pgt": pgt, "cls_gt": (gt > 0.5).astype(np.int32)}
