"""Tiny fake DAVIS / YouTube-VOS / static folder trees written with Pillow (test helpers)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from rde_jax.data.synthetic import generate_video

PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [0] * (256 * 3 - 12)


def save_palette_png(path: Path, labels: np.ndarray) -> None:
  img = Image.fromarray(labels.astype(np.uint8), mode="P")
  img.putpalette(PALETTE)
  path.parent.mkdir(parents=True, exist_ok=True)
  img.save(path)


def save_jpeg(path: Path, rgb: np.ndarray) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(rgb).save(path, quality=90)


def write_video(frame_dir: Path, mask_dir: Path, seed: int, *, num_frames: int = 6, size=(40, 56),
                step: int = 1, annotate=None, empty_first: bool = False) -> np.ndarray:
  """Writes one synthetic video; returns its labels (T,H,W). ``annotate`` = positions to label."""
  frames, labels = generate_video(seed, height=size[0], width=size[1], num_frames=num_frames,
                                  min_objects=2, max_objects=2)
  if empty_first:
    labels[0] = 0
  for t in range(num_frames):
    save_jpeg(frame_dir / f"{t * step:05d}.jpg", frames[t])
    if annotate is None or t in annotate:
      save_palette_png(mask_dir / f"{t * step:05d}.png", labels[t])
  return labels


def make_davis(root: Path, train=("bear", "boat"), val=("dog",), test_dev=("emu",)) -> Path:
  for i, name in enumerate(train + val):
    write_video(root / "JPEGImages/480p" / name, root / "Annotations/480p" / name, seed=i, num_frames=5 + i)
  for i, name in enumerate(test_dev):
    write_video(root / "JPEGImages/480p" / name, root / "Annotations/480p" / name, seed=50 + i, annotate={0})
  for year, splits in (("2017", {"train": train, "val": val, "test-dev": test_dev}),
                       ("2016", {"train": train[:1], "val": val})):
    d = root / "ImageSets" / year
    d.mkdir(parents=True, exist_ok=True)
    for split, names in splits.items():
      (d / f"{split}.txt").write_text("".join(n + "\n" for n in names))
  return root


# Ids from the official list (rde_jax/data/subsets/yv_subset.txt) and one that is not in it.
YT_LISTED = ("003234408d", "0043f083b5", "0044fa5fba", "005a527edd")
YT_UNLISTED = "0000000bad"


def make_youtube(root: Path) -> Path:
  """train/ and train_480p/ (same videos): three listed videos (the third with an empty first
  frame), a listed one with only 2 frames, an unlisted one; valid/ with one video."""
  a, b, c, short = YT_LISTED
  train = {a: {}, b: {}, c: {"empty_first": True}, short: {"num_frames": 2}, YT_UNLISTED: {}}
  for split, vids in (("train", train), ("train_480p", train), ("valid", {"v1": {"annotate": {0, 2}}})):
    for i, (vid, kw) in enumerate(vids.items()):
      write_video(root / split / "JPEGImages" / vid, root / split / "Annotations" / vid, seed=100 + i,
                  step=5, **kw)
    if split != "train_480p":
      meta = {"videos": {vid: {"objects": {"1": {"category": "thing", "frames": ["00000"]}}} for vid in vids}}
      (root / split / "meta.json").write_text(json.dumps(meta))
  return root


def make_bl30k(root: Path, num_videos: int = 3, num_frames: int = 8, size=(48, 64)) -> Path:
  """A BL30K-shaped folder: JPEGImages/<video>/<n>.jpg and Annotations/<video>/<n>.png, every
  frame annotated, plus one 2-frame video (dropped by the training listing)."""
  for i in range(num_videos):
    write_video(root / "JPEGImages" / f"video{i:03d}", root / "Annotations" / f"video{i:03d}", seed=200 + i,
                num_frames=num_frames, size=size)
  write_video(root / "JPEGImages" / "short", root / "Annotations" / "short", seed=299, num_frames=2, size=size)
  return root


def make_static(root: Path, n: int = 3, nested: bool = False) -> Path:
  rng = np.random.default_rng(0)
  for i in range(n):
    folder = root / f"class{i % 2}" if nested else root
    folder.mkdir(parents=True, exist_ok=True)
    save_jpeg(folder / f"img{i}.jpg", rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
    mask = np.zeros((30, 40), np.uint8)
    mask[5:20, 8:30] = 255
    mask[5, 8:30] = 128  # a soft edge
    Image.fromarray(mask).save(folder / f"img{i}.png")
  return root
