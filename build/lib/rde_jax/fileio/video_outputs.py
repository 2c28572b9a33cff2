"""The one per-video output writer: a label PNG per frame and, optionally, an overlay video.

    with VideoOutputs(out_dir, overlay_stem=vis / name, fps=24) as out:
      for t, ids in ...:
        out.write(frame_name, ids, frame)      # frame (H,W,3) only needed for the overlay
    out.overlay_path, out.written

PNGs are written atomically one by one (a killed run leaves whole files only); the overlay is
written beside and renamed into place on success, deleted on error. On remote storage
(`gs://...`, see `fileio.storage`) each PNG is one upload and the overlay is encoded in a local
temporary folder and uploaded on success.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
from typing import Any

import numpy as np

from rde_jax.fileio import label_png, overlay, storage


class VideoOutputs:
  """Label PNGs `<folder>/<name>.png` (DAVIS palette, or 0/255 grayscale with `binary`) and an
  overlay `<overlay_stem>.mp4|gif` when `overlay_stem` is given."""

  def __init__(self, folder: str | os.PathLike, *, binary: bool = False,
               overlay_stem: str | os.PathLike | None = None, fps: float = 24.0,
               max_side: int | None = None, overlay_format: str | None = None):
    self.folder = storage.native(folder)
    self._write_png = label_png.write_binary_png if binary else label_png.write_label_png
    self._remote_stem, self._stage = None, None
    if overlay_stem is not None and storage.is_remote(overlay_stem):
      self._remote_stem = storage.as_path(overlay_stem)
      self._stage = tempfile.mkdtemp(prefix="rde_jax_overlay_")
      overlay_stem = os.path.join(self._stage, self._remote_stem.name)
    self._overlay = (overlay.OverlayWriter(overlay_stem, fps=fps, max_side=max_side,
                                           fmt=overlay_format)
                     if overlay_stem is not None else None)
    self.written = 0
    self.overlay_path: pathlib.Path | None = None

  @property
  def wants_frames(self) -> bool:
    """Does `write` need the RGB frame (for the overlay)?"""
    return self._overlay is not None

  def write(self, name: str, ids: np.ndarray, frame: np.ndarray | None = None) -> None:
    """One frame's (H,W) uint8 ids (and its RGB frame when an overlay is written)."""
    self._write_png(self.folder / f"{name}.png", ids)
    self.written += 1
    if self._overlay is not None:
      if frame is None:
        raise ValueError("the overlay needs the RGB frame")
      self._overlay.append(frame, ids)

  def close(self) -> pathlib.Path | None:
    """Finishes the overlay (if any); returns its path."""
    if self._overlay is not None and self._overlay.frames:
      self.overlay_path = self._overlay.close()
      if self._remote_stem is not None:
        target = self._remote_stem.with_name(self.overlay_path.name)
        storage.upload(self.overlay_path, target)
        self.overlay_path = target
    self._unstage()
    return self.overlay_path

  def abort(self) -> None:
    if self._overlay is not None:
      self._overlay.abort()
    self._unstage()

  def _unstage(self) -> None:
    if self._stage is not None:
      shutil.rmtree(self._stage, ignore_errors=True)
      self._stage = None

  def __enter__(self) -> "VideoOutputs":
    return self

  def __exit__(self, exc_type: Any, *_: Any) -> None:
    if exc_type is None:
      self.close()
    else:
      self.abort()
