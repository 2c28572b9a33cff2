"""Readers of the standard VOS folder layouts (DAVIS, YouTube-VOS 2019, static image+mask sets).

Layouts (`root` = the extracted official folder):

* DAVIS 2016/2017: `root/JPEGImages/480p/<seq>/00000.jpg`, `root/Annotations/480p/<seq>/00000.png`
  (palette PNGs, object ids), `root/ImageSets/2017/{train,val,test-dev}.txt` and
  `root/ImageSets/2016/{train,val}.txt`. DAVIS-2016 uses the 2017 folders with objects merged.
* YouTube-VOS 2019: `root/<split>/JPEGImages/<vid>/*.jpg`, `root/<split>/Annotations/<vid>/*.png`
  (every 5th frame in train; only frames where objects appear in valid), `root/<split>/meta.json`.
* Static sets (DUTS, ECSSD, HRSOD, BIG): an image folder and a mask folder (`name.jpg` +
  `name.png`, possibly the same folder); FSS-1000: `root/<class>/<name>.jpg` + `<name>.png`.

Listing only checks names; `read_video` / `read_static` decode and validate every file.
`root` may be a URI (`gs://bucket/DAVIS`): paths are then `etils.epath` paths
(`rde_jax/fileio/storage.py`), local ones stay `pathlib`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from absl import logging

from rde_jax.errors import DataError
from rde_jax.fileio import storage
from rde_jax.fileio.imageio import (PathLike, check_same_size, decode_grey, decode_labels,
                                    decode_rgb, read_bytes)


_IMAGE_EXTS = (".jpg", ".jpeg")


@dataclasses.dataclass(frozen=True)
class VideoFiles:
  """One video on disk: all frames and the annotated subset (`annotated` = positions in frames)."""

  name: str
  frames: tuple[Path, ...]
  annotations: tuple[Path, ...]
  annotated: tuple[int, ...]


def _sorted_files(folder: Path, exts: tuple[str, ...]) -> list[Path]:
  if not is_folder(folder):
    raise DataError(f"{folder}: folder not found")
  return sorted(p for p in folder.iterdir() if p.suffix.lower() in exts)


def is_folder(folder: Path) -> bool:
  """`folder.is_dir()`; a URI whose storage backend is not installed is a DataError."""
  try:
    return folder.is_dir()
  except ImportError as e:
    raise DataError(f"{folder}: cannot read ({e})") from e


def frame_id(path: Path) -> int:
  """Numeric frame id of a file named like `00035.jpg`."""
  try:
    return int(path.stem)
  except ValueError:
    raise DataError(f"{path}: frame file names must be numbers (e.g. 00035.jpg)") from None


def video_files(name: str, frame_dir: Path, mask_dir: Path) -> VideoFiles:
  frames = _sorted_files(frame_dir, _IMAGE_EXTS)
  if not frames:
    raise DataError(f"{frame_dir}: no .jpg frames in this folder")
  masks = _sorted_files(mask_dir, (".png",))
  if not masks:
    raise DataError(f"{mask_dir}: empty annotation folder (no .png files)")
  position = {p.stem: i for i, p in enumerate(frames)}
  for m in masks:
    if m.stem not in position:
      raise DataError(f"{m}: annotation has no matching frame {m.stem}.jpg in {frame_dir}")
  return VideoFiles(name, tuple(frames), tuple(masks), tuple(position[m.stem] for m in masks))


def _read_list(path: Path) -> list[str]:
  try:
    text = path.read_text()
  except (OSError, ImportError):  # missing, a folder, or no backend for the URI
    raise DataError(f"{path}: split list not found") from None
  names = [line.strip() for line in text.splitlines() if line.strip()]
  if not names:
    raise DataError(f"{path}: split list is empty")
  return names


def davis_videos(root: PathLike, *, year: str = "2017", split: str = "train",
                 resolution: str = "480p") -> list[VideoFiles]:
  """Lists the DAVIS videos of `ImageSets/<year>/<split>.txt` (split: train, val, test-dev)."""
  root = storage.native(root)
  names = _read_list(root / "ImageSets" / str(year) / f"{split}.txt")
  return [
      video_files(n, root / "JPEGImages" / resolution / n, root / "Annotations" / resolution / n)
      for n in names
  ]


def youtube_vos_videos(root: PathLike, *, split: str = "train",
                       frames_split: str | None = None) -> list[VideoFiles]:
  """Lists the YouTube-VOS 2019 videos of `root/<split>/meta.json` (split: train, valid).

  `frames_split` takes the frames from `root/<frames_split>/JPEGImages` instead (e.g.
  `valid_all_frames`, which holds every frame; `valid` holds every 5th).
  """
  base = storage.native(root) / split
  frames = storage.native(root) / (frames_split or split) / "JPEGImages"
  meta_path = base / "meta.json"
  try:
    meta = json.loads(read_bytes(meta_path))
    names = sorted(meta["videos"])
  except (ValueError, KeyError, TypeError) as e:
    raise DataError(f"{meta_path}: not a YouTube-VOS meta.json ({e})") from e
  return [video_files(n, frames / n, base / "Annotations" / n) for n in names]


def read_video(video: VideoFiles, *, require_palette: bool = True,
               merge_objects: bool = False) -> dict[str, object]:
  """Reads and validates one video.

  Returns `frames` (list of T encoded JPEG bytes, exactly the files), `frame_ids` (T,) int32,
  `labels` (L, H, W) uint8 for the annotated frames, `label_positions` (L,) int32 and
  `name`. Every frame is decoded once to validate it; `merge_objects` maps ids > 0 to 1.
  """
  frames, shape = [], None
  for path in video.frames:
    data = read_bytes(path)
    img = decode_rgb(data, name=str(path))
    if shape is None:
      shape = img.shape
    elif img.shape != shape:
      raise DataError(f"{path}: frame size {img.shape[1]}x{img.shape[0]} differs from the "
                      f"video's first frame {video.frames[0]} ({shape[1]}x{shape[0]})")
    frames.append(data)
  labels = np.empty((len(video.annotations),) + shape[:2], np.uint8)
  for i, (path, pos) in enumerate(zip(video.annotations, video.annotated)):
    lab = decode_labels(read_bytes(path), name=str(path), require_palette=require_palette)
    check_same_size(lab, shape, mask_name=str(path), frame_name=str(video.frames[pos]))
    labels[i] = lab
  if merge_objects:
    labels = (labels > 0).astype(np.uint8)
  return {
      "name": video.name,
      "frames": frames,
      "frame_ids": np.array([frame_id(p) for p in video.frames], np.int32),
      "labels": labels,
      "label_positions": np.array(video.annotated, np.int32),
  }


def read_videos(videos: Iterable[VideoFiles], *, training: bool,
                **kwargs) -> Iterator[dict[str, object]]:
  """`read_video` over `videos`; for training, videos with fewer than 3 annotated frames are
  skipped with a warning (official `VOSDataset.__init__`). A video whose first frame shows no
  object is kept: the clip sampler then gives it an empty target, as the official one."""
  for video in videos:
    if training and len(video.annotated) < 3:
      logging.warning("skipping training video %s: %d annotated frames (< 3)", video.name,
                      len(video.annotated))
      continue
    yield read_video(video, **kwargs)


def static_pairs(image_dir: PathLike, mask_dir: PathLike | None = None, *,
                 nested: bool = False) -> list[tuple[str, Path, Path]]:
  """Lists (name, image, mask) of a static set: `<image_dir>/<name>.jpg` + `<mask_dir>/<name>.png`.

  `mask_dir` defaults to the image's own folder. `nested=True` reads FSS-1000 style
  `<image_dir>/<class>/<name>.jpg` + `.png` (the name becomes `<class>/<name>`).
  """
  image_dir = storage.native(image_dir)
  if not is_folder(image_dir):
    raise DataError(f"{image_dir}: folder not found")
  folders = sorted(p for p in image_dir.iterdir() if p.is_dir()) if nested else [image_dir]
  shared = None if mask_dir is None else _png_names(storage.native(mask_dir))
  pairs = []
  for folder in folders:
    masks = shared if shared is not None else _png_names(folder)
    for img in _sorted_files(folder, _IMAGE_EXTS):
      mask = (storage.native(mask_dir) if mask_dir is not None else folder) / f"{img.stem}.png"
      if mask.name not in masks:
        raise DataError(f"{mask}: mask for image {img} not found")
      name = f"{folder.name}/{img.stem}" if nested else img.stem
      pairs.append((name, img, mask))
  if not pairs:
    raise DataError(f"{image_dir}: no .jpg images found{' in class sub-folders' if nested else ''}")
  return pairs


def _png_names(folder: Path) -> set[str]:
  """Names of the .png files of `folder` (one listing, not one lookup per image: a bucket
  answers each lookup over the network)."""
  return {p.name for p in _sorted_files(folder, (".png",))}


def read_static(image: Path, mask: Path) -> dict[str, object]:
  """Reads one static pair: `image` (encoded bytes, the file itself), `mask` (H, W) uint8 0..255."""
  data = read_bytes(image)
  rgb = decode_rgb(data, name=str(image))
  grey = decode_grey(read_bytes(mask), name=str(mask))
  check_same_size(grey, rgb.shape, mask_name=str(mask), frame_name=str(image))
  return {"image": data, "mask": grey}


def load_video(video: VideoFiles, **kwargs) -> dict[str, np.ndarray]:
  """Decoded arrays of a fully annotated video: `frames` (T,H,W,3), `labels` (T,H,W) uint8."""
  record = read_video(video, **kwargs)
  if len(record["label_positions"]) != len(record["frames"]):
    raise DataError(f"{video.name}: only {len(record['label_positions'])} of "
                    f"{len(record['frames'])} frames are annotated; "
                    "load_video needs every frame annotated")
  frames = np.stack([decode_rgb(b, name=str(p)) for b, p in zip(record["frames"], video.frames)])
  return {"frames": frames, "labels": record["labels"], "name": video.name}


def sequence_folder_videos(root: PathLike) -> list[VideoFiles]:
  """Every sequence folder of `root/JPEGImages/<seq>` with `root/Annotations/<seq>`
  (no ImageSets list; the layout of the official `eval_generic.py`)."""
  root = storage.native(root)
  jpeg = root / "JPEGImages"
  if not is_folder(jpeg):
    raise DataError(f"{jpeg}: folder not found (expected JPEGImages/<sequence>/ frames)")
  names = sorted(d.name for d in jpeg.iterdir() if d.is_dir())
  if not names:
    raise DataError(f"{jpeg}: no sequence folders")
  return [video_files(n, jpeg / n, root / "Annotations" / n) for n in names]
