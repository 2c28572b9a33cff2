"""Overlay videos of masks on frames: MP4 (optional extra imageio-ffmpeg), else GIF (Pillow).

    with OverlayWriter("out/overlay", fps=24) as w:   # -> out/overlay.mp4 or out/overlay.gif
      for frame, labels in ...: w.append(frame, labels)

The video is written under a hidden temporary name and renamed on `close`; `abort` (or an
exception inside the `with`) deletes it. The GIF fallback keeps every (downscaled, 1 byte/pixel)
frame in memory until `close` (a Pillow limitation), so `max_side` bounds its size.
"""

from __future__ import annotations

import functools
import os
import pathlib
import threading
import warnings
from typing import Any

import numpy as np
from PIL import Image

from rde_jax.fileio.label_png import DAVIS_PALETTE


_IMPORT_LOCK = threading.Lock()


@functools.cache
def mp4_available() -> bool:
  """Whether imageio-ffmpeg imports. Locked: a concurrent first import from another thread
  could otherwise see a half-initialised module and answer True wrongly."""
  with _IMPORT_LOCK:
    try:
      import imageio_ffmpeg  # noqa: F401
      return True
    except ImportError:
      return False


def overlay(frame: np.ndarray, labels: np.ndarray, alpha: float = 0.5) -> np.ndarray:
  """(H,W,3) uint8 frame, (H,W) uint8 ids -> (H,W,3) uint8: objects tinted in DAVIS colours,
  object borders drawn opaque."""
  colour = DAVIS_PALETTE[labels].astype(np.float32)
  fg = (labels > 0)[..., None]
  out = np.where(fg, frame * (1 - alpha) + colour * alpha, frame.astype(np.float32))
  edge = np.zeros(labels.shape, bool)
  edge[:-1] |= labels[:-1] != labels[1:]
  edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
  edge &= labels > 0
  out[edge] = colour[edge]
  return out.astype(np.uint8)


def _fit(img: np.ndarray, max_side: int | None, even: bool) -> np.ndarray:
  h, w = img.shape[:2]
  if max_side and max(h, w) > max_side:
    s = max_side / max(h, w)
    img = np.asarray(Image.fromarray(img).resize((max(1, round(w * s)), max(1, round(h * s))),
                                                 Image.Resampling.BILINEAR))
  if even:  # H.264 4:2:0 needs even sizes: repeat the last row/column
    h, w = img.shape[:2]
    img = np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
  return img


class OverlayWriter:
  """Streams overlay frames into `<stem>.mp4` (imageio-ffmpeg) or `<stem>.gif` (fallback)."""

  def __init__(self, stem: str | os.PathLike, fps: float = 24.0, *, max_side: int | None = None,
               fmt: str | None = None):
    fmt = fmt or ("mp4" if mp4_available() else "gif")
    if fmt not in ("mp4", "gif"):
      raise ValueError(f"overlay format must be mp4 or gif, got {fmt!r}")
    self.fmt, self.fps = fmt, float(fps)
    self.max_side = max_side if fmt == "mp4" else (max_side or 480)
    stem = pathlib.Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    self.path = stem.with_name(f"{stem.name}.{fmt}")
    self._tmp = stem.with_name(f".{stem.name}.partial.{fmt}")
    self._gif: list[Image.Image] = []
    self._writer: Any = None
    self.frames = 0

  def append(self, frame: np.ndarray, labels: np.ndarray) -> None:
    img = _fit(overlay(frame, labels), self.max_side, even=self.fmt == "mp4")
    if self.fmt == "gif":
      self._gif.append(Image.fromarray(img).quantize(
          256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE))
    else:
      if self._writer is None:
        import imageio_ffmpeg
        self._writer = imageio_ffmpeg.write_frames(
            str(self._tmp), (img.shape[1], img.shape[0]), fps=self.fps, codec="libx264",
            pix_fmt_out="yuv420p", macro_block_size=1, quality=7)
        with warnings.catch_warnings():  # fork+exec of ffmpeg is safe despite JAX's threads
          warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
          self._writer.send(None)
      self._writer.send(np.ascontiguousarray(img))
    self.frames += 1

  def close(self) -> pathlib.Path:
    """Finishes the file and renames it into place; returns its path."""
    if self.fmt == "gif":
      if not self._gif:
        raise ValueError("no frames to write")
      self._gif[0].save(self._tmp, format="GIF", save_all=True, append_images=self._gif[1:],
                        duration=max(20, round(1000 / self.fps)), loop=0)
      self._gif = []
    elif self._writer is not None:
      self._writer.close()
      self._writer = None
    os.replace(self._tmp, self.path)
    return self.path

  def abort(self) -> None:
    if self._writer is not None:
      try:
        self._writer.close()
      except Exception:  # the encoder may already be gone; the file is deleted anyway
        pass
      self._writer = None
    self._gif = []
    self._tmp.unlink(missing_ok=True)

  def __enter__(self) -> "OverlayWriter":
    return self

  def __exit__(self, exc_type: Any, *_: Any) -> None:
    if exc_type is None:
      self.close()
    else:
      self.abort()
