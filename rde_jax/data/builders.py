"""TFDS builders (array_record, no TensorFlow needed) for the VOS training and evaluation data.

Build, then read back through `tfds.data_source` (random access, numpy):

    from rde_jax.data import builders
    builders.SyntheticVos(config="tiny", data_dir=d).download_and_prepare()
    videos = builders.load_videos("synthetic_vos/tiny", split="train", data_dir=d)  # VideoRecords
    builders.DavisVos(config="2017", data_dir=d).download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir="/data/DAVIS"))

Records store encoded images (the original JPEG files; PNG for labels and synthetic frames) so a
clip decodes only the frames it samples; `records.VideoRecords` decodes lazily (schema there).
TFDS `Image`/`Video` features need TensorFlow and are not used.

Where to get the data (extract, then pass the folder as `manual_dir`):

* DAVIS (`davis_vos`): https://davischallenge.org/davis2017/code.html ->
  `DAVIS-2017-trainval-480p.zip` (train/val, also DAVIS-2016 via ImageSets/2016) and
  `DAVIS-2017-test-dev-480p.zip`; extract both into the same folder (each holds `DAVIS/`;
  `manual_dir` = that `DAVIS` folder). The builder names are not `davis`/`youtube_vos`
  so they never collide with TFDS's own catalogue.
* YouTube-VOS 2019 (`youtube_vos_2019`): https://youtube-vos.org/dataset/vos/ (registration,
  CodaLab) -> `train.zip`, `valid.zip`; `manual_dir` holds `train_480p/` (config
  `official`, the default: the 480p copy the official training reads, restricted to the
  official list) or `train/` (config `full`), and `valid/`.
* BL30K (`bl30k_vos`): see the MiVOS instructions; `manual_dir` = the `BL30K` folder.
  Stage 1 can read the folder directly instead (`rde_jax/data/training_folders.py`).
* Static sets (`static_masks`): DUTS (http://saliencydetection.net/duts/), ECSSD
  (https://www.cse.cuhk.edu.hk/leojia/projects/hsaliency/dataset.html), FSS-1000
  (https://github.com/HKUSTCV/FSS-1000), HRSOD and BIG (their papers' pages); the configs
  follow the STCN/RDE `static/` layout (`name.jpg` + `name.png` side by side; `fss`
  nested by class).
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from rde_jax.data import training_folders, vos_layouts
from rde_jax.data.records import StaticRecords, VideoRecords
from rde_jax.data.synthetic import SyntheticConfig, SyntheticVideos
from rde_jax.fileio import storage
from rde_jax.fileio.imageio import encode_png



def video_features() -> tfds.features.FeaturesDict:
  """The per-video record (see `records.py`); variable T, L, H, W."""
  blobs = lambda: tfds.features.Tensor(shape=(None,), dtype=np.object_)  # noqa: E731
  ints = lambda: tfds.features.Tensor(shape=(None,), dtype=np.int32)  # noqa: E731
  return tfds.features.FeaturesDict({
      "name": tfds.features.Text(),
      "height": tfds.features.Scalar(dtype=np.int32),
      "width": tfds.features.Scalar(dtype=np.int32),
      "frame_ids": ints(),
      "frames": blobs(),
      "labels": blobs(),
      "label_positions": ints(),
  })


def _video_example(record: dict) -> dict:
  """`vos_layouts.read_video` output -> TFDS example (labels re-encoded as lossless PNG)."""
  labels = record["labels"]
  return {
      "name": record["name"],
      "height": labels.shape[1],
      "width": labels.shape[2],
      "frame_ids": record["frame_ids"],
      "frames": np.array(record["frames"], dtype=object),
      "labels": np.array([encode_png(x) for x in labels], dtype=object),
      "label_positions": record["label_positions"],
  }


class _Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base of our builders: array_record files by default; no checksums file next to the code.

  TFDS 4.9.10 locates `code_path` through the `importlib_resources` backport (not one of
  its declared dependencies) for builders that live in a package; we have no URL checksums to
  find there, so `code_path` is None.
  """

  def __init__(self, *, file_format: str = "array_record", **kwargs):
    super().__init__(file_format=file_format, **kwargs)

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> None:
    return None


class _VideoBuilder(_Builder, skip_registration=True):
  """Shared pieces of the video builders."""

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, description=self.__doc__, features=video_features())

  def _generate_examples(self, videos: list[vos_layouts.VideoFiles], *, training: bool,
                         **read_kwargs) -> Iterator:
    for record in vos_layouts.read_videos(videos, training=training, **read_kwargs):
      yield record["name"], _video_example(record)


# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class SyntheticVosConfig(tfds.core.BuilderConfig):
  """Sizes of a synthetic_vos build; split seeds are `2*seed` (train) and `2*seed+1`."""

  height: int = 128
  width: int = 128
  num_frames: int = 32
  min_objects: int = 1
  max_objects: int = 3
  num_train: int = 400
  num_validation: int = 30
  seed: int = 0

  def generator_config(self) -> SyntheticConfig:
    return SyntheticConfig(height=self.height, width=self.width, num_frames=self.num_frames,
                           min_objects=self.min_objects, max_objects=self.max_objects)

  def videos(self, split: str) -> SyntheticVideos:
    """The in-memory twin of a split (same videos as the built records, frame for frame)."""
    n, offset = {"train": (self.num_train, 0), "validation": (self.num_validation, 1)}[split]
    return SyntheticVideos(n, self.generator_config(), seed=2 * self.seed + offset)


class SyntheticVos(_VideoBuilder):
  """Procedurally generated VOS videos (rde_jax.data.synthetic); nothing to download."""

  name = "synthetic_vos"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First version."}
  BUILDER_CONFIGS = [
      SyntheticVosConfig(name="128", description="128x128, 32 frames, 400/30 videos."),
      SyntheticVosConfig(name="96", description="96x96, 32 frames, 400/30 videos.",
                         height=96, width=96),
      SyntheticVosConfig(name="tiny", description="48x64, 10 frames, 6/3 videos (tests).",
                         height=48, width=64, num_frames=10, num_train=6, num_validation=3),
  ]

  def _split_generators(self, dl_manager):
    return {split: self._generate_examples(split) for split in ("train", "validation")}

  def _generate_examples(self, split: str):  # pylint: disable=arguments-differ
    videos = self.builder_config.videos(split)
    for i in range(len(videos)):
      v = videos[i]
      yield v["name"], {
          "name": v["name"],
          "height": v["labels"].shape[1],
          "width": v["labels"].shape[2],
          "frame_ids": np.arange(len(v["frames"]), dtype=np.int32),
          "frames": np.array([encode_png(f) for f in v["frames"]], dtype=object),
          "labels": np.array([encode_png(x) for x in v["labels"]], dtype=object),
          "label_positions": np.arange(len(v["labels"]), dtype=np.int32),
      }


# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class DavisConfig(tfds.core.BuilderConfig):
  """`official_subset`: the 2017 train split holds the official 60-sequence list."""

  year: str = "2017"
  resolution: str = "480p"
  official_subset: bool = True


class DavisVos(_VideoBuilder):
  """DAVIS 2017 (train, val, test_dev: first frame annotated) and 2016 (train, val; objects
  merged)."""

  name = "davis_vos"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First version."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Download DAVIS-2017-trainval-480p.zip (and DAVIS-2017-test-dev-480p.zip for test_dev) from "
      "https://davischallenge.org/davis2017/code.html, extract both into one place and pass the "
      "resulting DAVIS/ folder (JPEGImages/, Annotations/, ImageSets/) as manual_dir."
  )
  BUILDER_CONFIGS = [
      DavisConfig(name="2017", description="DAVIS-2017, multi-object, 480p.", year="2017"),
      DavisConfig(name="2016", description="DAVIS-2016 (2017 folders, objects merged), 480p.",
                  year="2016"),
  ]

  def _split_generators(self, dl_manager):
    root, cfg = storage.native(dl_manager.manual_dir), self.builder_config
    splits = {"train": "train", "val": "val"}
    if cfg.year == "2017":
      if (root / "ImageSets" / "2017" / "test-dev.txt").is_file():
        splits["test_dev"] = "test-dev"
      else:
        logging.warning("%s: no ImageSets/2017/test-dev.txt; building without test_dev", root)
    def videos(split: str, listed: str) -> list[vos_layouts.VideoFiles]:
      if split == "train" and cfg.year == "2017" and cfg.official_subset:
        return training_folders.davis_train_videos(root, resolution=cfg.resolution)
      return vos_layouts.davis_videos(root, year=cfg.year, split=listed, resolution=cfg.resolution)

    return {
        split: self._generate_examples(videos(split, listed), training=split == "train",
                                       merge_objects=cfg.year == "2016")
        for split, listed in splits.items()
    }


# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class YoutubeConfig(tfds.core.BuilderConfig):
  """`train_dir`: the folder of the train split; `official_subset`: the official 3,464 videos."""

  train_dir: str = "train_480p"
  official_subset: bool = True


class YoutubeVos2019(_VideoBuilder):
  """YouTube-VOS 2019: train (every 5th frame annotated) and valid (first appearances only)."""

  name = "youtube_vos_2019"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First version."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Register at https://youtube-vos.org/dataset/vos/, download the 2019 train.zip and valid.zip "
      "(and the 480p copy of train, train_480p, that the STCN/RDE instructions provide), extract "
      "them and pass the folder holding train_480p/ (or train/) and valid/ (JPEGImages/, "
      "Annotations/; valid/ and train/ with meta.json) as manual_dir."
  )
  BUILDER_CONFIGS = [
      YoutubeConfig(name="official",
                    description="train: train_480p/, the official 3,464 videos; valid."),
      YoutubeConfig(name="full", description="train: every video of train/ (original size); valid.",
                    train_dir="train", official_subset=False),
  ]

  def _split_generators(self, dl_manager):
    root, cfg = storage.native(dl_manager.manual_dir), self.builder_config
    if cfg.train_dir == "train" and not cfg.official_subset:
      train = vos_layouts.youtube_vos_videos(root, split="train")
    else:
      train = training_folders.youtube_train_videos(root, folder=cfg.train_dir,
                                                    subset=cfg.official_subset)
    splits = {"train": self._generate_examples(train, training=True)}
    if (root / "valid" / "meta.json").is_file():
      valid = vos_layouts.youtube_vos_videos(root, split="valid")
      splits["valid"] = self._generate_examples(valid, training=False)
    else:
      logging.warning("%s: no valid/meta.json; building without valid", root)
    return splits


# ---------------------------------------------------------------------------------------------
class Bl30kVos(_VideoBuilder):
  """BL30K (MiVOS): rendered videos, every frame annotated; one split, train. Streams one video at
  a time from `JPEGImages/<video>/*.jpg` + `Annotations/<video>/*.png`."""

  name = "bl30k_vos"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First version."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Download BL30K (about 700 GB) as the MiVOS instructions say "
      "(https://github.com/hkchengrex/MiVOS#bl30k), extract it and pass the BL30K/ folder "
      "(JPEGImages/, Annotations/) as manual_dir. Training can also read the folder directly "
      "(config.data.bl30k_root), without this copy."
  )

  def _split_generators(self, dl_manager):
    videos = training_folders.bl30k_videos(storage.native(dl_manager.manual_dir))
    return {"train": self._generate_examples(videos, training=True, require_palette=False)}


# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class StaticMasksConfig(tfds.core.BuilderConfig):
  """`image_dir`/`mask_dir` are relative to manual_dir (`mask_dir` None = same folder)."""

  image_dir: str = ""
  mask_dir: str | None = None
  nested: bool = False


def _static(name: str, sub: str, nested: bool = False) -> StaticMasksConfig:
  return StaticMasksConfig(name=name, description=f"manual_dir/{sub}", image_dir=sub, nested=nested)


class StaticMasks(_Builder):
  """Static images with one salient-object mask (stage-0 pre-training): one split, train."""

  name = "static_masks"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First version."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Put the sets in the STCN/RDE static/ layout under manual_dir: fss/<class>/<n>.jpg+.png, "
      "DUTS-TR/, DUTS-TE/, ecssd/, BIG_small/, HRSOD_small/ (<n>.jpg + <n>.png side by side), or "
      "pass your own StaticMasksConfig(name=..., image_dir=..., mask_dir=...)."
  )
  BUILDER_CONFIGS = [
      _static("fss", "fss", nested=True),
      _static("duts_tr", "DUTS-TR"),
      _static("duts_te", "DUTS-TE"),
      _static("ecssd", "ecssd"),
      _static("big_small", "BIG_small"),
      _static("hrsod_small", "HRSOD_small"),
  ]

  def _info(self) -> tfds.core.DatasetInfo:
    features = tfds.features.FeaturesDict({
        "name": tfds.features.Text(),
        "image": tfds.features.Tensor(shape=(), dtype=np.object_),  # the original JPEG file
        "mask": tfds.features.Tensor(shape=(), dtype=np.object_),  # PNG, 'L' 0..255
    })
    return tfds.core.DatasetInfo(builder=self, description=self.__doc__, features=features)

  def _split_generators(self, dl_manager):
    root, cfg = storage.native(dl_manager.manual_dir), self.builder_config
    mask_dir = root / cfg.mask_dir if cfg.mask_dir else None
    pairs = vos_layouts.static_pairs(root / cfg.image_dir, mask_dir, nested=cfg.nested)
    return {"train": self._generate_examples(pairs)}

  def _generate_examples(self, pairs):
    for name, image, mask in pairs:
      record = vos_layouts.read_static(image, mask)
      yield name, {"name": name, "image": record["image"], "mask": encode_png(record["mask"])}


# ---------------------------------------------------------------------------------------------
def load_videos(name: str, *, split: str, data_dir: str | None = None,
                annotated_only: bool = True) -> VideoRecords:
  """Opens a built video dataset (e.g. `"davis_vos/2017"`) as a lazy video source."""
  return VideoRecords(tfds.data_source(name, split=split, data_dir=data_dir),
                      annotated_only=annotated_only)


def load_static(name: str, *, split: str = "train", data_dir: str | None = None) -> StaticRecords:
  """Opens a built `static_masks/<config>` dataset as a static-image source."""
  return StaticRecords(tfds.data_source(name, split=split, data_dir=data_dir))
