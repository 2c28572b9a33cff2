"""Video inputs as lazy frame sources: a folder of JPEG/PNG frames, a GIF, or a video file.

Every source decodes frames one at a time (uint8 (H,W,3) RGB) and checks that they all have the
first frame's size; errors (DataError) name the file. GIFs are read with Pillow; MP4/AVI/MOV/
MKV/WEBM need the optional extra `imageio-ffmpeg` (or PyAV).

    src = open_video("clip.mp4"); print(src.size, src.num_frames); for frame in src: ...

Inputs may be URIs (`gs://bucket/clip/`, read through `etils.epath`): frame files and GIFs are
read into memory one at a time; a video file is first downloaded to a local temporary file
(ffmpeg and PyAV need one), removed when the source is garbage collected or at exit.
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
import warnings
import weakref
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image, ImageSequence

from rde_jax.errors import DataError
from rde_jax.fileio.imageio import PathLike, read_bytes, read_rgb
from rde_jax.fileio import storage


FRAME_EXTS = (".jpg", ".jpeg", ".png")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


class FrameSource:
  """Iterable of uint8 (H,W,3) frames. `size` (H,W) and `names` (output file stems) are known
  up front; `num_frames` may be an estimate (video files) or None."""

  size: tuple[int, int]
  num_frames: int | None
  fps: float
  names: Sequence[str] | None

  def __iter__(self) -> Iterator[np.ndarray]:
    raise NotImplementedError

  def name(self, t: int) -> str:
    """Output stem of frame t (the frame file's stem for folders, else 00000, 00001, ...)."""
    return self.names[t] if self.names is not None and t < len(self.names) else f"{t:05d}"


def _check(frame: np.ndarray, size: tuple[int, int], where: str) -> np.ndarray:
  if frame.shape[:2] != size:
    raise DataError(f"{where}: frame size {frame.shape[1]}x{frame.shape[0]} differs from the "
                    f"first frame ({size[1]}x{size[0]}, W x H)")
  return frame


class FrameFiles(FrameSource):
  """Frames from image files, decoded on access; random access and iteration."""

  def __init__(self, paths: Sequence[PathLike], fps: float = 24.0):
    if not paths:
      raise DataError("no frames given")
    self.paths = [storage.native(p) for p in paths]
    self.names = [p.stem for p in self.paths]
    self.num_frames = len(self.paths)
    self.fps = fps
    self.size = read_rgb(self.paths[0]).shape[:2]

  def __len__(self) -> int:
    return len(self.paths)

  def __getitem__(self, t: int) -> np.ndarray:
    return _check(read_rgb(self.paths[t]), self.size, str(self.paths[t]))

  def __iter__(self) -> Iterator[np.ndarray]:
    for t in range(len(self.paths)):
      yield self[t]


def _natural_key(p: Path) -> tuple:
  return tuple(int(s) if s.isdigit() else s for s in re.split(r"(\d+)", p.name))


def frame_folder(folder: PathLike, fps: float = 24.0) -> FrameFiles:
  """All .jpg/.jpeg/.png files of `folder`, in natural name order (frame2 before frame10)."""
  folder = storage.native(folder)
  paths = sorted((p for p in folder.iterdir() if p.suffix.lower() in FRAME_EXTS
                  and not p.name.startswith(".")), key=_natural_key)
  if not paths:
    raise DataError(f"{folder}: no .jpg/.jpeg/.png frames in this folder (empty video)")
  return FrameFiles(paths, fps)


class GifFrames(FrameSource):
  """Frames of an (animated) GIF via Pillow, composited to RGB."""

  def __init__(self, path: PathLike):
    self.path = storage.native(path)
    self.names = None
    with self._open() as img:
      self.num_frames = getattr(img, "n_frames", 1)
      self.size = (img.height, img.width)
      duration = img.info.get("duration") or 40
      self.fps = 1000.0 / duration

  def _open(self) -> Image.Image:
    try:
      return Image.open(io.BytesIO(read_bytes(self.path)) if storage.is_remote(self.path)
                        else self.path)
    except OSError as e:
      raise DataError(f"{self.path}: cannot read the GIF ({e})") from e

  def __iter__(self) -> Iterator[np.ndarray]:
    with self._open() as img:
      try:
        for t, frame in enumerate(ImageSequence.Iterator(img)):
          yield _check(np.asarray(frame.convert("RGB")), self.size, f"{self.path} frame {t}")
      except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{self.path}: corrupt or truncated GIF ({e})") from e


class FfmpegFrames(FrameSource):
  """Frames of a video file through imageio-ffmpeg (or PyAV when that is what is installed)."""

  def __init__(self, path: PathLike):
    self.path = storage.native(path)
    self.names = None
    self.backend = _video_backend(self.path)
    self.local = self.path if not storage.is_remote(self.path) else self._download()
    if self.backend == "imageio_ffmpeg":
      import imageio_ffmpeg
      try:
        gen = imageio_ffmpeg.read_frames(str(self.local))
        with warnings.catch_warnings():  # fork+exec of ffmpeg is safe despite JAX's threads
          warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
          meta = next(gen)
        gen.close()
      except (OSError, RuntimeError, StopIteration) as e:
        raise DataError(f"{self.path}: cannot decode the video ({e})") from e
      w, h = meta["size"]
      self.fps = float(meta.get("fps") or 24.0)
      dur = meta.get("duration") or 0.0
      self.num_frames = int(round(dur * self.fps)) or None  # an estimate: progress only
    else:
      import av
      try:
        with av.open(str(self.local)) as c:
          s = c.streams.video[0]
          w, h = s.codec_context.width, s.codec_context.height
          self.fps = float(s.average_rate or 24.0)
          self.num_frames = s.frames or None
      except Exception as e:  # PyAV's error classes differ between versions
        raise DataError(f"{self.path}: cannot decode the video ({e})") from e
    self.size = (h, w)

  def _download(self) -> Path:
    """A local copy of the remote video file, deleted with this source (or at exit)."""
    stage = tempfile.mkdtemp(prefix="rde_jax_video_")
    weakref.finalize(self, shutil.rmtree, stage, True)
    local = Path(stage) / self.path.name
    try:
      storage.download(self.path, local)
    except (OSError, ImportError) as e:
      raise DataError(f"{self.path}: cannot download the video ({e})") from e
    return local

  def __iter__(self) -> Iterator[np.ndarray]:
    h, w = self.size
    if self.backend == "imageio_ffmpeg":
      import imageio_ffmpeg
      gen = imageio_ffmpeg.read_frames(str(self.local), pix_fmt="rgb24")
      try:
        with warnings.catch_warnings():
          warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
          next(gen)
        for t, buf in enumerate(gen):
          frame = np.frombuffer(buf, np.uint8)
          if frame.size != h * w * 3:
            raise DataError(f"{self.path}: frame {t} is truncated")
          yield frame.reshape(h, w, 3)
      except RuntimeError as e:
        raise DataError(f"{self.path}: decoding failed ({e})") from e
      finally:
        gen.close()
    else:
      import av
      with av.open(str(self.local)) as c:
        for t, f in enumerate(c.decode(video=0)):
          yield _check(f.to_ndarray(format="rgb24"), self.size, f"{self.path} frame {t}")


def _video_backend(path: Path) -> str:
  try:
    import imageio_ffmpeg  # noqa: F401
    return "imageio_ffmpeg"
  except ImportError:
    pass
  try:
    import av  # noqa: F401
    return "av"
  except ImportError:
    raise DataError(f"{path}: reading {path.suffix} videos needs an optional extra: "
                    "`pip install imageio-ffmpeg` (or `pip install av`); GIFs and frame folders "
                    "work without it") from None


def open_video(path: PathLike) -> FrameSource:
  """A frame folder, a GIF or a video file -> FrameSource. First frame validated on open."""
  path = storage.native(path)
  try:
    exists = path.exists()
  except ImportError as e:  # a URI whose backend (gcsfs, ...) is not installed
    raise DataError(f"{path}: cannot read ({e})") from e
  if not exists:
    raise DataError(f"{path}: no such file or folder")
  if path.is_dir():
    return frame_folder(path)
  ext = path.suffix.lower()
  if ext == ".gif":
    return GifFrames(path)
  if ext in VIDEO_EXTS:
    return FfmpegFrames(path)
  if ext in FRAME_EXTS:
    return FrameFiles([path])
  raise DataError(f"{path}: unsupported input {ext!r}; give a folder of frames, a GIF or a "
                  f"video file ({', '.join(VIDEO_EXTS)})")
