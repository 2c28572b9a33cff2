"""TFDS builders write array_record and read back exactly, without TensorFlow."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import data_fakes
from rde_jax.data import builders
from rde_jax.data.clips import VideoClipConfig, video_clip
from rde_jax.data.pipeline import SourceSpec, video_pipeline


def _manual(path):
  return tfds.download.DownloadConfig(manual_dir=str(path))


def test_synthetic_vos_roundtrip(tmp_path):
  builder = builders.SyntheticVos(config="tiny", data_dir=str(tmp_path), file_format="array_record")
  builder.download_and_prepare()
  cfg = builder.builder_config
  for split, n in (("train", cfg.num_train), ("validation", cfg.num_validation)):
    source = builders.load_videos("synthetic_vos/tiny", split=split, data_dir=str(tmp_path))
    assert len(source) == n
    twin = cfg.videos(split)
    by_name = {twin[i]["name"]: twin[i] for i in range(n)}
    for i in range(n):
      v = source[i]
      ref = by_name[v["name"]]
      assert v["frames"].shape == (cfg.num_frames, cfg.height, cfg.width, 3)
      np.testing.assert_array_equal(np.asarray(v["frames"]), ref["frames"])  # PNG: lossless
      np.testing.assert_array_equal(np.asarray(v["labels"]), ref["labels"])
      np.testing.assert_array_equal(v["frames"][[3, 1]], ref["frames"][[3, 1]])  # lazy subset
  assert "tensorflow" not in sys.modules  # built and read without TensorFlow


def test_pipeline_reads_built_records_like_the_in_memory_twin(tmp_path):
  builders.SyntheticVos(config="tiny", data_dir=str(tmp_path)).download_and_prepare()
  records = builders.load_videos("synthetic_vos/tiny", split="train", data_dir=str(tmp_path))
  twin = builders.SyntheticVos.builder_configs["tiny"].videos("train")
  by_name = {twin[i]["name"]: i for i in range(len(twin))}
  cfg = VideoClipConfig(crop_size=32)
  for i in (0, 3):
    a = video_clip(records[i], np.random.default_rng(i), max_skip=3, cfg=cfg)
    b = video_clip(twin[by_name[records[i]["name"]]], np.random.default_rng(i), max_skip=3, cfg=cfg)
    for k in a:
      np.testing.assert_array_equal(a[k], b[k])
  ds = video_pipeline([SourceSpec(records)], batch_size=2, seed=0, max_skip=3, config=cfg, process_index=0,
                      process_count=1)
  assert ds[0]["rgb"].shape == (2, 5, 32, 32, 3)


def test_davis_roundtrip(tmp_path):
  root = data_fakes.make_davis(tmp_path / "DAVIS")
  data_dir = str(tmp_path / "tfds")
  builders.DavisVos(config="2017", data_dir=data_dir).download_and_prepare(download_config=_manual(root))
  for split, names in (("train", ["bear", "boat"]), ("val", ["dog"])):
    source = builders.load_videos("davis_vos/2017", split=split, data_dir=data_dir)
    assert sorted(source[i]["name"] for i in range(len(source))) == names
    for i in range(len(source)):
      v = source[i]
      jpgs = sorted((root / "JPEGImages/480p" / v["name"]).glob("*.jpg"))
      pngs = sorted((root / "Annotations/480p" / v["name"]).glob("*.png"))
      assert len(v["frames"]) == len(jpgs) == len(v["labels"])
      np.testing.assert_array_equal(np.asarray(v["frames"]), np.stack([np.asarray(Image.open(p)) for p in jpgs]))
      np.testing.assert_array_equal(np.asarray(v["labels"]), np.stack([np.asarray(Image.open(p)) for p in pngs]))
      np.testing.assert_array_equal(v["frame_ids"], np.arange(len(jpgs)))
  test_dev = builders.load_videos("davis_vos/2017", split="test_dev", data_dir=data_dir, annotated_only=False)
  v = test_dev[0]
  assert v["name"] == "emu" and len(v["frames"]) == 6 and len(v["labels"]) == 1
  assert v["label_positions"].tolist() == [0]


def test_davis_2016_merges_objects(tmp_path):
  root = data_fakes.make_davis(tmp_path / "DAVIS")
  data_dir = str(tmp_path / "tfds")
  builders.DavisVos(config="2016", data_dir=data_dir).download_and_prepare(download_config=_manual(root))
  v = builders.load_videos("davis_vos/2016", split="val", data_dir=data_dir)[0]
  pngs = sorted((root / "Annotations/480p/dog").glob("*.png"))
  ref = np.stack([np.asarray(Image.open(p)) for p in pngs])
  assert ref.max() == 2
  np.testing.assert_array_equal(np.asarray(v["labels"]), (ref > 0).astype(np.uint8))


@pytest.mark.parametrize("config", ["official", "full"])
def test_youtube_vos_roundtrip_subset_and_short_videos(tmp_path, config):
  root = data_fakes.make_youtube(tmp_path / "yt")
  data_dir = str(tmp_path / "tfds")
  builders.YoutubeVos2019(config=config, data_dir=data_dir).download_and_prepare(download_config=_manual(root))
  train = builders.load_videos(f"youtube_vos_2019/{config}", split="train", data_dir=data_dir)
  a, b, c, _ = data_fakes.YT_LISTED  # the 4th has 2 frames: dropped by both
  expected = [a, b, c] + ([data_fakes.YT_UNLISTED] if config == "full" else [])
  assert sorted(train[i]["name"] for i in range(len(train))) == sorted(expected)
  v = train[0]
  np.testing.assert_array_equal(v["frame_ids"], np.arange(6) * 5)
  valid = builders.load_videos(f"youtube_vos_2019/{config}", split="valid", data_dir=data_dir,
                               annotated_only=False)
  v = valid[0]
  assert len(v["frames"]) == 6 and v["label_positions"].tolist() == [0, 2]
  assert builders.load_videos(f"youtube_vos_2019/{config}", split="valid", data_dir=data_dir)[0]["frames"].shape[0] == 2


@pytest.mark.parametrize("nested", [False, True])
def test_static_masks_roundtrip(tmp_path, nested):
  root = data_fakes.make_static(tmp_path / "static" / "sub", nested=nested)
  cfg = builders.StaticMasksConfig(name=f"t{int(nested)}", image_dir="sub", nested=nested)
  data_dir = str(tmp_path / "tfds")
  builders.StaticMasks(config=cfg, data_dir=data_dir).download_and_prepare(
      download_config=_manual(tmp_path / "static"))
  source = builders.StaticMasks(config=cfg, data_dir=data_dir).as_data_source()["train"]
  from rde_jax.data.records import StaticRecords
  static = StaticRecords(source)
  assert len(static) == 3
  for i in range(3):
    item = static[i]
    stem = item["name"].split("/")[-1]
    folder = root / item["name"].split("/")[0] if nested else root
    np.testing.assert_array_equal(item["image"], np.asarray(Image.open(folder / f"{stem}.jpg")))
    np.testing.assert_array_equal(item["mask"], np.asarray(Image.open(folder / f"{stem}.png")))
    assert item["mask"].dtype == np.uint8 and 128 in item["mask"]
