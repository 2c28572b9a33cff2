"""Which frames are memory frames, and in which order a video is segmented.

DAVIS (`inference_core.py`, one annotation at frame 0): frame t is a memory frame when
t % mem_every == 0, except the last frame. YouTube-VOS (`inference_core_yv.py`, objects may be
annotated later): see `schedule`. `include_last` (the official `--include_last`) makes every
frame a memory frame except the last (the official `add_memory(..., is_temp)` ignores is_temp,
so such frames are full memory frames: in the compress modes the RDE is updated on each).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np


def memory_frames(t: np.ndarray, mem_every: int, include_last: bool = False,
                  last: int | None = None) -> np.ndarray:
  """The DAVIS rule: (n,) bool for the absolute frame indices `t`: t % mem_every == 0 (every
  frame with `include_last`), never the video's `last` frame (None: not among `t`)."""
  t = np.asarray(t)
  flags = (t % mem_every == 0) | bool(include_last)
  return flags & (t != last) if last is not None else flags


def memory_frame_flags(num_frames: int, mem_every: int, start: int = 0,
                       include_last: bool = False) -> np.ndarray:
  """(T,) bool: frame t (absolute index) is a memory frame; frames <= start never are."""
  if mem_every < 1:
    raise ValueError(f"mem_every must be >= 1, got {mem_every}")
  flags = memory_frames(np.arange(num_frames), mem_every, include_last, last=num_frames - 1)
  flags[: start + 1] = False
  return flags


@dataclasses.dataclass(frozen=True)
class Segment:
  """Annotated frame `start`; `steps` = (t, memory frame) of the frames segmented after it, up
  to and including `end` (the next annotated frame, or the last frame)."""
  start: int
  end: int
  steps: tuple[tuple[int, bool], ...]


def schedule(num_frames: int, annotated: Sequence[int], required: set[int], mem_every: int,
             include_last: bool = False) -> list[Segment]:
  """The official frame schedule of a YouTube-VOS video.

  Between annotated frames f and f', frames f+1..f' are segmented; frame t is a memory frame
  when t - (last memory frame) >= mem_every (f counts as one; f' and the video's last frame
  never are); frames that are neither memory frames nor `required` (meta.json) are skipped.
  """
  annotated = sorted(annotated)
  segments = []
  for i, f in enumerate(annotated):
    end = annotated[i + 1] if i + 1 < len(annotated) else num_frames - 1
    last, steps = f, []
    for t in range(f + 1, end + 1):
      is_mem = include_last or t - last >= mem_every
      if not is_mem and t not in required:
        continue
      add = is_mem and t != end
      if add:
        last = t
      steps.append((t, add))
    segments.append(Segment(f, end, tuple(steps)))
  return segments
