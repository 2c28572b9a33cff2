"""Python API: load a model directory and segment videos (streaming, constant memory).

    model = rde_jax.load("models/rde_s012")                   # python -m rde_jax.convert output
    masks = model.segment(frames, first_mask)                  # (T,H,W) uint8 ids
    settings = InferenceSettings.from_preset("fast", max_side=480)
    for t, labels in model.segment_iter(frame_iterator, first_mask, settings): ...
    masks = model.segment(frames, first_mask, top_k=20)        # settings fields as keywords

`frames`: uint8 RGB (T,H,W,3) array, list or any iterator of (H,W,3) frames; `first_mask`: (H,W)
ids of the first frame (0 = background, 1..255 objects, need not be contiguous). Outputs use the
same ids.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any, Iterable, Iterator

import jax
import numpy as np
from absl import logging

from rde_jax import checkpoint, inference, validate
from rde_jax.errors import DataError
from rde_jax.errors import UserError
from rde_jax.fileio import label_png
from rde_jax.inference import resize
from rde_jax.inference.settings import InferenceSettings
from rde_jax.model import architectures
from rde_jax.model.architectures import Arch


def resolve_arch(arch: str | Arch | None) -> Arch | None:
  """'official' / 'tiny' / an Arch / None (accept any) -> Arch or None."""
  if arch is None or isinstance(arch, Arch):
    return arch
  validate.choice("arch", arch, ("",) + validate.ARCHES)
  return Arch.from_config(architectures.get(arch)) if arch else None


def work_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int] | None:
  """Size to run the network at so that max(H,W) <= max_side (None: native size)."""
  h, w = size
  if not max_side or max(h, w) <= max_side:
    return None
  s = max_side / max(h, w)
  return max(1, round(h * s)), max(1, round(w * s))


def prepare_mask(mask: Any, size: tuple[int, int], *, resize_mask: bool = False,
                 name: str = "first mask", keep_255: bool = False,
                 notes: bool = True) -> tuple[np.ndarray, np.ndarray]:
  """Validates a first-frame label map against the frame size -> (compact ids (H,W), lut).

  Pixels of value 255 in a mask that also holds other objects are void (the DAVIS / YouTube-VOS
  convention): background in the first frame, said in one log line; `keep_255` tracks them as
  object 255. A mask whose only object is 255 (a 0/255 mask) is one object. `resize_mask`
  resizes a mask of another size (nearest neighbour; one line says so when that stretches it).
  `notes=False` leaves those lines out (a validation pass before the real one).
  Raises DataError for: not 2-D integer ids, ids above 255, no object, a size different from the
  frames (unless `resize_mask`).
  """
  mask = np.asarray(mask)
  if mask.ndim != 2 or not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool):
    raise DataError(f"{name}: expected an (H,W) integer label map, got {mask.dtype} {mask.shape}")
  if mask.size and (int(mask.max()) > 255 or int(mask.min()) < 0):
    raise DataError(f"{name}: object id {int(mask.max())} above 255; ids must be 1..255")
  mask = mask.astype(np.uint8)
  if mask.shape != tuple(size):
    if not resize_mask:
      raise DataError(f"{name}: mask size {mask.shape[1]}x{mask.shape[0]} differs from the frames "
                      f"({size[1]}x{size[0]}, W x H); pass --resize_mask (resize_mask=True) to "
                      "resize it with nearest neighbour")
    (mh, mw), (fh, fw) = mask.shape, size
    if notes and abs(mw * fh - fw * mh) > 0.01 * fw * mh:
      logging.warning("%s: mask %dx%d has another aspect ratio than the frames (%dx%d, W x H); "
                      "--resize_mask stretches it", name, mw, mh, fw, fh)
    mask = resize.nearest_labels(mask, size)
  void = mask == 255
  if not keep_255 and void.any() and (mask[~void] != 0).any():
    logging.log_if(logging.WARNING, "%s: %d pixels of value 255 are void (DAVIS / YouTube-VOS) "
                   "and not tracked; pass --keep_255 (keep_255=True) to track them as object 255",
                   notes, name, int(void.sum()))
    mask = np.where(void, 0, mask).astype(np.uint8)
  if not mask.any():
    raise DataError(f"{name}: the mask holds no object (all background); label objects 1..K")
  return label_png.compact_ids(mask)


class VOSModel:
  """A loaded RDE-VOS model; compiled engines are cached per (settings.engine_key(), device)."""

  def __init__(self, arch: Arch, variables: Any, *, source: str | None = None):
    self.arch, self.variables, self.source = arch, variables, source
    self._engines: dict[Any, inference.Engine] = {}
    self._lock = threading.Lock()

  def engine(self, settings: InferenceSettings | None = None,
             device: jax.Device | None = None) -> inference.Engine:
    """The cached `inference.Engine` for these settings (compiled code is reused)."""
    settings = InferenceSettings() if settings is None else settings
    key = (settings.engine_key(), device)
    with self._lock:
      if key not in self._engines:
        self._engines[key] = inference.Engine(self.variables, self.arch, settings, device)
      return self._engines[key]

  def segment_iter(self, frames: Iterable[np.ndarray], first_mask: Any,
                   settings: InferenceSettings | None = None, *, resize_mask: bool = False,
                   start_frame: int = 0, stats: inference.RunStats | None = None,
                   **overrides: Any) -> Iterator[tuple[int, np.ndarray]]:
    """Streams (t, (H,W) uint8 ids) for every frame. `first_mask` belongs to frame
    `start_frame`: propagation runs forward from it, earlier frames come out as background.

    `overrides`: InferenceSettings fields (top_k=20, ...) on top of `settings`. Everything is
    checked at the call (UserError naming the argument), not at the first frame.
    """
    settings = _settings(settings, overrides)
    start_frame = validate.integer("start_frame", start_frame, minimum=0)
    if hasattr(frames, "__len__") and len(frames) - start_frame > 1:
      # never pad a chunk beyond the video (chunk does not change results)
      settings = settings.replace(chunk=min(settings.chunk, len(frames) - start_frame - 1))
    return self._stream(iter(frames), first_mask, settings, resize_mask, start_frame, stats)

  def _stream(self, it: Iterator[np.ndarray], first_mask: Any, settings: InferenceSettings,
              resize_mask: bool, start: int,
              stats: inference.RunStats | None) -> Iterator[tuple[int, np.ndarray]]:
    before = 0
    for before in range(start):
      frame = next(it, None)
      if frame is None:
        raise DataError(f"start_frame {start} is beyond the end of the video ({before} frames)")
      yield before, np.zeros(np.shape(frame)[:2], np.uint8)
    first = next(it, None)
    if first is None:
      raise DataError(f"start_frame {start} is beyond the end of the video ({start} frames)"
                      if start else "the video has no frames")
    first = np.asarray(first)
    if first.ndim != 3 or first.shape[2] != 3 or first.dtype != np.uint8:
      raise DataError(f"frames must be uint8 (H,W,3) RGB, got {first.dtype} {first.shape}")
    compact, lut = prepare_mask(first_mask, first.shape[:2], resize_mask=resize_mask)
    for t, labels in inference.propagate(
        self.engine(settings), itertools.chain([first], it), compact, settings,
        work_size=work_size(first.shape[:2], settings.max_side), output="labels", stats=stats):
      yield start + t, lut[labels]

  def segment(self, frames: Iterable[np.ndarray], first_mask: Any,
              settings: InferenceSettings | None = None, **kwargs: Any) -> np.ndarray:
    """All frames at once: (T,H,W) uint8 ids (see `segment_iter` for the options)."""
    out = [labels for _, labels in self.segment_iter(frames, first_mask, settings, **kwargs)]
    return np.stack(out)


def _settings(settings: InferenceSettings | None,
              overrides: dict[str, Any]) -> InferenceSettings:
  if settings is None:
    return InferenceSettings.from_values(**overrides)
  if not isinstance(settings, InferenceSettings):
    raise UserError(f"settings must be an InferenceSettings, got {type(settings).__name__}")
  return InferenceSettings.from_dict({**settings.to_dict(), **overrides}) if overrides \
      else settings


def load(checkpoint_dir: str | os.PathLike, *, arch: str | Arch | None = None) -> VOSModel:
  """Reads a model directory (or a training workdir with model/). `arch` ('official', 'tiny' or
  an Arch) is checked against the checkpoint (CheckpointMismatchError)."""
  saved, variables = checkpoint.load_model(checkpoint_dir, resolve_arch(arch))
  return VOSModel(saved, variables, source=os.fspath(checkpoint_dir))
