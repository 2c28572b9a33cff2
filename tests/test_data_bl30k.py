"""BL30K: the folder source and builder, the official object filter, undivided frame gaps."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import data_fakes
from rde_jax.data import builders, training_folders
from rde_jax.data import pipeline as P
from rde_jax.data.clips import VideoClipConfig, video_clip
from rde_jax.data.sampling import large_enough_objects, select_objects


def _files(folder):
  return np.stack([np.asarray(Image.open(p)) for p in sorted(folder.iterdir())])


def test_training_folders_stream_the_layout_and_drops_short_videos(tmp_path):
  root = data_fakes.make_bl30k(tmp_path / "BL30K")
  source = training_folders.FolderVideos(training_folders.bl30k_videos(root))
  assert source.names() == ["video000", "video001", "video002"]  # "short" (2 frames) dropped
  v = source[1]
  assert v["frames"].shape == (8, 48, 64, 3) and v["labels"].shape == (8, 48, 64)
  np.testing.assert_array_equal(v["frames"][[2, 5]], _files(root / "JPEGImages/video001")[[2, 5]])
  np.testing.assert_array_equal(np.asarray(v["labels"]), _files(root / "Annotations/video001"))


def test_builder_roundtrip(tmp_path):
  root = data_fakes.make_bl30k(tmp_path / "BL30K")
  data_dir = str(tmp_path / "tfds")
  builders.Bl30kVos(data_dir=data_dir).download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(root)))
  records = builders.load_videos("bl30k_vos", split="train", data_dir=data_dir)
  by_name = {records[i]["name"]: records[i] for i in range(len(records))}
  assert sorted(by_name) == ["video000", "video001", "video002"]
  np.testing.assert_array_equal(np.asarray(by_name["video002"]["labels"]), _files(root / "Annotations/video002"))


def _square(labels, t, obj, side, at=0):
  labels[t, at:at + side, at:at + side] = obj


def test_object_filter_thresholds():
  labels = np.zeros((3, 100, 100), np.uint8)
  _square(labels, 0, 1, 31)          # 961 px > 30x30: kept whatever follows
  _square(labels[:, :, 40:], 0, 2, 11)  # 121 px > 10x10 and stays small: kept
  _square(labels[:, :, 40:], 1, 2, 19)
  _square(labels[:, 40:, :], 0, 3, 11)  # small now but 20x20 = 400 px in frame 2: dropped
  _square(labels[:, 40:, :], 2, 3, 20)
  _square(labels[:, 60:, 60:], 0, 4, 10)  # exactly 10x10: dropped
  _square(labels[:, 80:, :], 0, 5, 30)   # exactly 30x30 and 400 px later: dropped
  _square(labels[:, 80:, :], 1, 5, 20)
  ids = np.unique(labels[0])[1:]
  assert large_enough_objects(ids, labels).tolist() == [1, 2]
  rng = np.random.default_rng(0)
  picks = {select_objects(labels[0], rng, labels) for _ in range(40)}
  assert picks == {(1, 2), (2, 1)}
  assert len({select_objects(labels[0], rng)[0] for _ in range(60)}) == 5  # without the filter


class _CountingLabels:
  """A labels array-like that counts reads (one per draw of frames)."""

  def __init__(self, labels):
    self.labels, self.reads = labels, 0
    self.shape = labels.shape

  def __len__(self):
    return len(self.labels)

  def __getitem__(self, index):
    self.reads += 1
    return self.labels[index]


def test_no_qualifying_object_gives_five_draws_then_an_empty_target():
  rng = np.random.default_rng(0)
  frames = rng.integers(0, 256, (10, 40, 40, 3), dtype=np.uint8)
  labels = np.zeros((10, 40, 40), np.uint8)
  labels[:, 5:13, 5:13] = 1  # 64 px: never > 10x10
  counting = _CountingLabels(labels)
  cfg = VideoClipConfig(crop_size=32, crop_scale=(0.9, 1.0), filter_small_objects=True)
  out = video_clip({"frames": frames, "labels": counting}, rng, max_skip=3, cfg=cfg)
  assert counting.reads == 5
  assert not out["gt"].any() and not out["sec_gt"].any() and not out["sec_pgt"].any()
  assert out["selector"].tolist() == [1.0, 0.0] and (out["cls_gt"] == 0).all()
  # Without the filter the same video has a target on the first draw.
  counting = _CountingLabels(labels)
  out = video_clip({"frames": frames, "labels": counting}, np.random.default_rng(0), max_skip=3,
                   cfg=VideoClipConfig(crop_size=32, crop_scale=(0.9, 1.0)))
  assert counting.reads == 1 and out["gt"][0].any()


def test_bl30k_frame_gap_is_undivided_and_youtube_divided_by_five(monkeypatch):
  seen = []

  def spy(video, rng, *, max_skip, cfg):
    seen.append((video["name"], max_skip, cfg.filter_small_objects))
    return {"x": np.zeros(1)}

  monkeypatch.setattr(P, "video_clip", spy)
  vids = lambda name: [{"name": name}] * 3  # noqa: E731
  specs = [P.SourceSpec(vids("bl30k"), clip_config=VideoClipConfig(filter_small_objects=True)),
           P.SourceSpec(vids("youtube"), skip_divisor=5)]
  ds = P.video_pipeline(specs, batch_size=6, seed=0, max_skip=lambda step: 25, process_index=0, process_count=1)
  ds[0]
  assert sorted(set(seen)) == [("bl30k", 25, True), ("youtube", 5, False)]
