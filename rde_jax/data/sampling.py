"""Clip sampling for the video stages: frame indices, skip curriculum, objects.

As the official `dataset/vos_dataset.py VOSDataset.__getitem__` (frames, objects, the BL30K
size filter) and `train.py` (the skip curriculum).
"""

from __future__ import annotations

import numpy as np

_SKIP_VALUES = (5, 10, 15, 20, 25, 5)
_SKIP_FRACTIONS = {1: (0.1, 0.2, 0.3, 0.4, 0.8), 2: (0.1, 0.2, 0.3, 0.4, 0.9),
                   3: (0.1, 0.2, 0.3, 0.4, 0.9)}


def max_skip_at(step: int, total_steps: int, stage: int) -> int:
  """Skip curriculum: 5, then 10, 15, 20, 25, 5 from the given fractions of training on.

  Stage 1 (BL30K) switches at [0.1, 0.2, 0.3, 0.4, 0.8], stages 2/3 at [0.1, 0.2, 0.3, 0.4, 0.9]
  (the official code switches per epoch; here per step). In DAVIS frames: divide by 5 for
  YouTube-VOS (`VideoSet.skip_divisor`). Stage 0 has no curriculum (ValueError).
  """
  if stage not in _SKIP_FRACTIONS:
    raise ValueError(f"no skip curriculum for stage {stage} (only 1, 2, 3)")
  if total_steps <= 0:
    raise ValueError(f"total_steps must be positive, got {total_steps}")
  passed = sum(step >= f * total_steps for f in _SKIP_FRACTIONS[stage])
  return _SKIP_VALUES[passed]


def sample_frame_indices(length: int, max_jump: int, rng: np.random.Generator,
                         num_frames: int = 5) -> np.ndarray:
  """Indices of `num_frames` frames of a `length`-frame video, as the official 5-frame sampler.

  j = min(length, max_jump); start ~ U[0, max(max_jump//2 + 1, length - num_frames*j + 1)) (redrawn
  while it is past the end: the official code then fails and retries); f_k = f_{k-1} + U{1..j+1}
  clipped to <= min(length - j//k, length - 1); the order is reversed with probability 0.5.
  """
  if length < 1:
    raise ValueError("empty video")
  j = min(length, max(int(max_jump), 1))
  high = max(max_jump // 2 + 1, length - num_frames * j + 1)
  start = int(rng.integers(high))
  while start >= length:
    start = int(rng.integers(high))
  indices = [start]
  for k in range(1, num_frames):
    nxt = indices[-1] + int(rng.integers(j + 1)) + 1
    indices.append(min(nxt, length - j // k, length - 1))
  if rng.random() < 0.5:
    indices.reverse()
  return np.array(indices, np.int64)


def large_enough_objects(ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """The BL30K object filter on the first sampled frame (`VOSDataset.__getitem__`, `is_bl`).

  ids: candidate object ids present in `labels[0]`; labels (T >= 3, H, W) of the sampled frames
  (after augmentation). An object is kept if it covers more than 30x30 pixels in frame 0, or more
  than 10x10 pixels while covering fewer than 20x20 in each of frames 1 and 2 (small objects are
  fine only if they stay small).
  """
  keep = []
  for i in ids:
    area = int(np.count_nonzero(labels[0] == i))
    if area > 10 * 10:
      later = max(int(np.count_nonzero(labels[1] == i)), int(np.count_nonzero(labels[2] == i)))
      if area > 30 * 30 or later < 20 * 20:
        keep.append(i)
  return np.array(keep, dtype=ids.dtype)


def select_objects(first_labels: np.ndarray, rng: np.random.Generator,
                   sampled_labels: np.ndarray | None = None) -> tuple[int, int]:
  """(target, second) object ids among those present in `first_labels` (H, W).

  target = -1 when no object qualifies; second = -1 without a second object. With
  `sampled_labels` (T, H, W; BL30K) only `large_enough_objects` qualify.
  """
  ids = np.unique(first_labels)
  ids = ids[ids != 0]
  if sampled_labels is not None:
    ids = large_enough_objects(ids, sampled_labels)
  if ids.size == 0:
    return -1, -1
  target = int(rng.choice(ids))
  rest = ids[ids != target]
  return target, (int(rng.choice(rest)) if rest.size else -1)
