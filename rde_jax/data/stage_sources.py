"""Video sources of the official training stages, read from folders or from built TFDS datasets.

    specs = video_specs("davis+youtube", cfg.data, clip_cfg)   # stages 2 / 3
    specs = video_specs("bl30k", cfg.data, clip_cfg)           # stage 1

What each source is (official `train.py` and `dataset/vos_dataset.py`):

| name | folder (`cfg.data.<name>_root`) | TFDS (`cfg.data.tfds_dir`) | repeat | skip div. |
| --- | --- | --- | --- | --- |
| `bl30k` | `BL30K/` (JPEGImages/, Annotations/) | `bl30k_vos` | 1 | 1 (all annotated) |
| `davis` | `DAVIS/2017/trainval` (JPEGImages/480p/...) | `davis_vos/2017` | `davis_repeat` 5 | 1 |
| `youtube` | the folder with `train_480p/` | `youtube_vos_2019/official` or `/full` | 1 | 5 |

BL30K clips also use the official size filter on the first sampled frame
(`VideoClipConfig.filter_small_objects`). With `cfg.data.official_subsets` (the default)
DAVIS and YouTube-VOS are restricted to the official lists (`official_subsets.py`); from folders
the switch applies at run time, for TFDS it picks the YouTube-VOS build (`official` / `full`;
the DAVIS build holds the list, which is DAVIS-2017's own train split). The pipeline then
concatenates the sources (DAVIS repeated) and shuffles them each epoch, as the official
`ConcatDataset([davis] * 5 + [youtube])` under a shuffling sampler: YouTube-VOS is sampled
uniformly and a DAVIS video 5 times as often.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rde_jax.data.clips import VideoClipConfig
from rde_jax.data.pipeline import SourceSpec
from rde_jax.fileio import storage

SOURCES = ("bl30k", "davis", "youtube")
# Stage 0 (official train.py): FSS-1000, DUTS-TR, DUTS-TE, ECSSD, BIG x5, HRSOD x5, concatenated.
STATIC_SETS = ("fss", "duts_tr", "duts_te", "ecssd", "big_small", "hrsod_small")
STATIC_REPEATS = {"big_small": 5, "hrsod_small": 5}


def require_built(name: str, tfds_dir: str) -> None:
  """UserError unless TFDS dataset `name` is built (tfds.data_source would start building it)."""
  import tensorflow_datasets as tfds
  from rde_jax.data import builders  # noqa: F401  (registers the builders)
  from rde_jax.errors import UserError
  builder = tfds.builder(name, data_dir=tfds_dir or None)
  if not builder.is_prepared():
    raise UserError(f"config.data: the TFDS dataset {name} is not built in {builder.data_dir}",
                    hint="build it first (rde_jax/data/builders.py says how), set "
                         "config.data.tfds_dir to where it was built, or a config.data.*_root "
                         "folder")


def _tfds(name: str, tfds_dir: str, split: str = "train") -> Any:
  from rde_jax.data import builders  # imports TFDS; only for built datasets
  require_built(name, tfds_dir)
  return builders.load_videos(name, split=split, data_dir=tfds_dir or None)


def video_source(name: str, data: Any) -> Any:
  """The random-access video source `name` (one of SOURCES) of a config's `data` block."""
  from rde_jax.data import training_folders as fs
  root, subset = getattr(data, f"{name}_root", ""), bool(data.official_subsets)
  if name == "bl30k":
    return fs.FolderVideos(fs.bl30k_videos(root)) if root else _tfds("bl30k_vos", data.tfds_dir)
  if name == "davis":
    if root:
      return fs.FolderVideos(fs.davis_train_videos(root, subset=subset))
    return _tfds("davis_vos/2017", data.tfds_dir)
  if name == "youtube":
    if root:
      return fs.FolderVideos(fs.youtube_train_videos(root, subset=subset))
    return _tfds("youtube_vos_2019/" + ("official" if subset else "full"), data.tfds_dir)
  raise ValueError(f"unknown video source {name!r} (expected one of {SOURCES})")


def static_specs(data: Any) -> list[SourceSpec]:
  """Stage-0 sources: `data.static_root` (the STCN/RDE `static/` folder: fss/, DUTS-TR/, ...)
  read directly, or the built `static_masks/<set>` datasets of `data.tfds_dir`."""
  from rde_jax.data import builders, training_folders, vos_layouts
  specs = []
  configs = {c.name: c for c in builders.StaticMasks.BUILDER_CONFIGS}
  for name in STATIC_SETS:
    if data.static_root:
      c = configs[name]
      pairs = vos_layouts.static_pairs(storage.native(data.static_root) / c.image_dir,
                                       nested=c.nested)
      source: Any = training_folders.StaticFolder(pairs)
    else:
      require_built(f"static_masks/{name}", data.tfds_dir)
      source = builders.load_static(f"static_masks/{name}", data_dir=data.tfds_dir or None)
    specs.append(SourceSpec(source, repeat=STATIC_REPEATS.get(name, 1)))
  return specs


def video_specs(sources: str, data: Any, clip: VideoClipConfig) -> list[SourceSpec]:
  """SourceSpecs of '+'-joined official `sources` (see the table above)."""
  specs = []
  for name in sources.split("+"):
    src = video_source(name, data)
    if name == "bl30k":
      bl30k_clip = dataclasses.replace(clip, filter_small_objects=True)
      specs.append(SourceSpec(src, clip_config=bl30k_clip))
    elif name == "davis":
      specs.append(SourceSpec(src, repeat=int(data.davis_repeat)))
    else:
      specs.append(SourceSpec(src, skip_divisor=5))
  return specs


def davis_val_source(data: Any) -> Any:
  """DAVIS-2017 val (periodic evaluation while training): `data.davis_root` or `davis_vos/2017`."""
  if data.davis_root:
    from rde_jax.data import training_folders, vos_layouts
    return training_folders.FolderVideos(vos_layouts.davis_videos(data.davis_root, split="val"))
  return _tfds("davis_vos/2017", data.tfds_dir, split="val")
