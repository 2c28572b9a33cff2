"""Folder readers: listings, and errors that name the bad file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import data_fakes
from rde_jax.data import vos_layouts
from rde_jax.errors import DataError


def test_davis_listing(tmp_path):
  root = data_fakes.make_davis(tmp_path)
  videos = vos_layouts.davis_videos(root, split="train")
  assert [v.name for v in videos] == ["bear", "boat"]
  assert len(videos[1].frames) == 6 and videos[1].annotated == tuple(range(6))
  test_dev = vos_layouts.davis_videos(root, split="test-dev")[0]
  assert test_dev.annotated == (0,) and len(test_dev.frames) == 6
  video = vos_layouts.load_video(videos[0])
  assert video["frames"].shape == (5, 40, 56, 3) and video["labels"].shape == (5, 40, 56)
  assert set(np.unique(video["labels"][0])) == {0, 1, 2}


def test_corrupt_jpeg_names_the_file(tmp_path):
  root = data_fakes.make_davis(tmp_path)
  bad = root / "JPEGImages/480p/boat/00003.jpg"
  bad.write_bytes(bad.read_bytes()[:200])  # truncated
  video = vos_layouts.davis_videos(root, split="train")[1]
  with pytest.raises(DataError, match=str(bad)):
    vos_layouts.read_video(video)
  bad.write_bytes(b"not an image at all")
  with pytest.raises(DataError, match=str(bad)):
    vos_layouts.read_video(video)


def test_mask_size_mismatch_names_the_file(tmp_path):
  root = data_fakes.make_davis(tmp_path)
  bad = root / "Annotations/480p/bear/00002.png"
  data_fakes.save_palette_png(bad, np.zeros((20, 56), np.uint8))
  with pytest.raises(DataError, match=f"{bad}.*differs from its frame"):
    vos_layouts.read_video(vos_layouts.davis_videos(root, split="train")[0])


def test_empty_annotation_folder(tmp_path):
  root = data_fakes.make_davis(tmp_path)
  for p in (root / "Annotations/480p/dog").glob("*.png"):
    p.unlink()
  with pytest.raises(DataError, match="Annotations/480p/dog: empty annotation folder"):
    vos_layouts.davis_videos(root, split="val")


def test_non_palette_annotation(tmp_path):
  root = data_fakes.make_davis(tmp_path)
  bad = root / "Annotations/480p/dog/00001.png"
  Image.open(bad).convert("RGB").save(bad)
  with pytest.raises(DataError, match=f"{bad}: annotation must be a palette PNG"):
    vos_layouts.read_video(vos_layouts.davis_videos(root, split="val")[0])


def test_missing_split_and_frame(tmp_path):
  root = data_fakes.make_davis(tmp_path)
  with pytest.raises(DataError, match="ImageSets/2017/nope.txt"):
    vos_layouts.davis_videos(root, split="nope")
  (root / "Annotations/480p/bear/00009.png").write_bytes(b"")
  with pytest.raises(DataError, match="00009.png: annotation has no matching frame"):
    vos_layouts.davis_videos(root, split="train")


def test_training_drops_short_videos_and_keeps_an_empty_first_frame(tmp_path, caplog):
  root = data_fakes.make_youtube(tmp_path)
  videos = vos_layouts.youtube_vos_videos(root, split="train")
  a, b, c, short = data_fakes.YT_LISTED
  assert [v.name for v in videos] == sorted([a, b, c, short, data_fakes.YT_UNLISTED])
  with caplog.at_level("WARNING"):
    kept = [r["name"] for r in vos_layouts.read_videos(videos, training=True)]
  assert kept == sorted([a, b, c, data_fakes.YT_UNLISTED])  # c (empty first frame) kept, as official
  assert short in caplog.text and "< 3" in caplog.text
  assert len(list(vos_layouts.read_videos(videos, training=False))) == 5


def test_static_pairs(tmp_path):
  flat = data_fakes.make_static(tmp_path / "flat")
  assert [n for n, _, _ in vos_layouts.static_pairs(flat)] == ["img0", "img1", "img2"]
  nested = data_fakes.make_static(tmp_path / "fss", nested=True)
  assert [n for n, _, _ in vos_layouts.static_pairs(nested, nested=True)] == ["class0/img0", "class0/img2", "class1/img1"]
  (flat / "img1.png").unlink()
  with pytest.raises(DataError, match="img1.png: mask for image"):
    vos_layouts.static_pairs(flat)
  name, img, mask = vos_layouts.static_pairs(nested, nested=True)[0]
  Image.new("L", (10, 10)).save(mask)
  with pytest.raises(DataError, match=f"{mask}.*differs from its frame {img}"):
    vos_layouts.read_static(img, mask)
  with pytest.raises(DataError, match="no .jpg images"):
    vos_layouts.static_pairs(tmp_path / "flat", nested=True)
