"""Training videos read straight from the official folder layouts, streamed from disk.

    videos = bl30k_videos("/data/BL30K")  # JPEGImages/<video>/*.jpg + Annotations/<video>/*.png
    videos = youtube_train_videos("/data/YouTube")  # train_480p/, the official 3,464 videos
    videos = davis_train_videos("/data/DAVIS/2017/trainval")  # JPEGImages/480p/, the official 60
    source = FolderVideos(videos)  # a pipeline video source

As the official `dataset/vos_dataset.py VOSDataset.__init__`: the videos are the sorted
sub-folders of the image folder (a local folder or a URI such as `gs://bucket/BL30K`, read
through `etils.epath`), restricted to the official list when `subset` is on (the
default for YouTube-VOS and DAVIS), and videos with fewer than 3 frames are dropped (with a
log line). Listing reads folder names only; `FolderVideos` decodes the frames a clip samples
when it samples them, so nothing is held in memory and nothing needs converting first (BL30K is
about 700 GB). A video keeps only its annotated frames (`<stem>.png` next to `<stem>.jpg`;
the official code requires one for every frame it samples).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from absl import logging
from PIL import Image

from rde_jax.data.vos_layouts import VideoFiles, is_folder, read_static, video_files
from rde_jax.data.official_subsets import official_subset
from rde_jax.data.records import LazyImages
from rde_jax.errors import DataError
from rde_jax.fileio import storage
from rde_jax.fileio.imageio import PathLike, decode_labels, decode_rgb, read_bytes


MIN_FRAMES = 3  # VOSDataset.__init__: `if len(frames) < 3: continue`


def list_videos(image_root: PathLike, mask_root: PathLike, *, names: Iterable[str] | None = None,
                min_frames: int = MIN_FRAMES) -> list[VideoFiles]:
  """Videos `image_root/<name>/*.jpg` + `mask_root/<name>/*.png` with >= `min_frames`
  annotated frames; `names` (None = every sub-folder of `image_root`) in sorted order."""
  image_root, mask_root = storage.native(image_root), storage.native(mask_root)
  if not is_folder(image_root):
    raise DataError(f"{image_root}: image folder not found")
  present = sorted(p.name for p in image_root.iterdir() if p.is_dir())
  if names is not None:
    wanted = set(names)
    missing = wanted.difference(present)
    if missing:
      logging.warning("%s: %d listed videos are missing (e.g. %s)", image_root, len(missing),
                      sorted(missing)[0])
    present = [n for n in present if n in wanted]
  videos, dropped = [], []
  for name in present:
    v = video_files(name, image_root / name, mask_root / name)
    (videos if len(v.annotated) >= min_frames else dropped).append(v)
  if dropped:
    logging.info("%s: dropped %d videos with fewer than %d frames (e.g. %s)", image_root,
                 len(dropped), min_frames, dropped[0].name)
  if not videos:
    raise DataError(f"{image_root}: no usable training video "
                    f"(need >= {min_frames} annotated frames)")
  logging.info("%d videos accepted in %s", len(videos), image_root)
  return videos


def bl30k_videos(root: PathLike) -> list[VideoFiles]:
  """BL30K: `root/JPEGImages/<video>/*.jpg`, `root/Annotations/<video>/*.png`, every frame
  annotated."""
  root = storage.native(root)
  return list_videos(root / "JPEGImages", root / "Annotations")


def youtube_train_videos(root: PathLike, *, folder: str = "train_480p",
                         subset: bool = True) -> list[VideoFiles]:
  """YouTube-VOS 2019 train: `root/<folder>/{JPEGImages,Annotations}/<video>/`.

  `train_480p` is the 480p copy of `train` the official instructions download (every 5th
  frame, each annotated). `subset`: only the 3,464 videos of the official list.
  """
  base = storage.native(root) / folder
  return list_videos(base / "JPEGImages", base / "Annotations",
                     names=official_subset("youtube") if subset else None)


def davis_train_videos(root: PathLike, *, resolution: str = "480p",
                       subset: bool = True) -> list[VideoFiles]:
  """DAVIS-2017 train: `root/{JPEGImages,Annotations}/<resolution>/<seq>/`.

  `subset`: the official 60-sequence list; otherwise `root/ImageSets/2017/train.txt`.
  """
  root = storage.native(root)
  if subset:
    names: Iterable[str] = official_subset("davis")
  else:
    split = root / "ImageSets" / "2017" / "train.txt"
    try:
      text = split.read_text()
    except (OSError, ImportError):
      raise DataError(f"{split}: split list not found "
                      "(needed with the official subset off)") from None
    names = [n.strip() for n in text.splitlines() if n.strip()]
  return list_videos(root / "JPEGImages" / resolution, root / "Annotations" / resolution,
                     names=names)


def _decode_frame(path: Path, *, name: str) -> np.ndarray:
  del name  # the file itself names the error
  return decode_rgb(read_bytes(path), name=str(path))


def _decode_ids(path: Path, *, name: str) -> np.ndarray:
  del name
  return decode_labels(read_bytes(path), name=str(path), require_palette=False)


def _image_size(path: Path) -> tuple[int, int]:
  """(H, W) from the file header (no decode; a URI is opened through epath, read in part)."""
  try:
    with contextlib.ExitStack() as stack:
      source = (stack.enter_context(storage.as_path(path).open("rb")) if storage.is_remote(path)
                else path)
      with Image.open(source) as img:
        return img.height, img.width
  except (OSError, ImportError) as e:
    raise DataError(f"{path}: unreadable image ({e})") from e


class FolderVideos:
  """Video source over `VideoFiles`: item i is `{"name", "frames" (T,H,W,3), "labels" (T,H,W)}`,
  both lazy (`records.LazyImages`): indexing reads and decodes only the frames asked for."""

  def __init__(self, videos: list[VideoFiles]):
    self.videos = list(videos)

  def __len__(self) -> int:
    return len(self.videos)

  def names(self) -> list[str]:
    return [v.name for v in self.videos]

  def __getitem__(self, index: int) -> dict[str, Any]:
    v = self.videos[int(index)]
    frames = [v.frames[p] for p in v.annotated]
    hw = _image_size(v.annotations[0])
    folder = str(v.frames[0].parent)
    return {
        "name": v.name,
        "frames": LazyImages(frames, _decode_frame, (len(frames),) + hw + (3,), folder),
        "labels": LazyImages(list(v.annotations), _decode_ids, (len(frames),) + hw, folder),
    }


class StaticFolder:
  """Static-image source over `vos_layouts.static_pairs` output: item i is `{"image" (H,W,3) uint8,
  "mask" (H,W) uint8 0..255, "name"}`, read and decoded on access."""

  def __init__(self, pairs: list[tuple[str, Path, Path]]):
    self.pairs = list(pairs)

  def __len__(self) -> int:
    return len(self.pairs)

  def __getitem__(self, index: int) -> dict[str, Any]:
    name, image, mask = self.pairs[int(index)]
    record = read_static(image, mask)
    return {"name": name, "image": decode_rgb(record["image"], name=str(image)),
            "mask": record["mask"]}
