"""eval.py on bad inputs: clear errors that name the file (or the config field)."""

import numpy as np
import pytest
from PIL import Image

from rde_jax import evaluation
from rde_jax.checkpoint import CheckpointMismatchError
from rde_jax.errors import DataError
from rde_jax.evaluation.config import ConfigError
from rde_jax.fileio import label_png

import eval_fakes as F


def _ann(root, t=0):
  return root / "Annotations" / "480p" / "alpha" / f"{t:05d}.png"


def _jpg(root, t):
  return root / "JPEGImages" / "480p" / "alpha" / f"{t:05d}.jpg"


def _truncate(path):
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])


def _missing_first(root):
  _ann(root).unlink()
  return DataError, r"00000\.png: missing first-frame annotation"


def _wrong_size(root):
  label_png.write_label_png(_ann(root), np.ones((32, 48), np.uint8))
  return DataError, r"00000\.png: mask size 48x32 differs from its frame .*00000\.jpg"


def _corrupt_jpeg(root):
  _truncate(_jpg(root, 2))
  return DataError, r"00002\.jpg: unreadable or corrupt image"


def _corrupt_png(root):
  _truncate(_ann(root))
  return DataError, r"00000\.png: unreadable or corrupt image"


def _not_palette(root):
  Image.new("RGB", (F.SIZE[1], F.SIZE[0]), (128, 0, 0)).save(_ann(root))
  return DataError, r"00000\.png: label image must be a palette \(indexed\) PNG.*'RGB'"


def _id_above_255(root):
  ids = np.zeros(F.SIZE, np.uint16)
  ids[10:20, 10:20] = 300
  Image.fromarray(ids).save(_ann(root))  # a 16-bit ('I;16') PNG
  return DataError, r"00000\.png: object id 300 above 255"


def _empty_video(root):
  for p in (root / "JPEGImages" / "480p" / "alpha").iterdir():
    p.unlink()
  return DataError, r"alpha: no \.jpg frames in this folder"


def _no_object(root):
  label_png.write_label_png(_ann(root), np.zeros(F.SIZE, np.uint8))
  return DataError, r"00000\.png: the first-frame annotation holds no object"


def _frame_size_changes(root):
  Image.new("RGB", (80, 64)).save(_jpg(root, 3))
  return DataError, r"00003\.jpg: frame size 80x64 differs from the first frame"


@pytest.mark.parametrize("breaker", [_missing_first, _wrong_size, _corrupt_jpeg, _corrupt_png,
                                     _not_palette, _id_above_255, _empty_video, _no_object,
                                     _frame_size_changes], ids=lambda f: f.__name__.strip("_"))
def test_bad_davis_input(tmp_path, breaker):
  root = tmp_path / "davis"
  F.write_davis(root, ("alpha",), num_frames=4)
  error, message = breaker(root)
  with pytest.raises(error, match=message):
    evaluation.run(F.eval_config("davis2017_val", dataset__root=str(root)), tmp_path / "wd")
  assert not (tmp_path / "wd" / "videos" / "alpha.json").exists()  # never marked done


def test_checkpoint_and_config_mismatches(tmp_path):
  root = tmp_path / "davis"
  F.write_davis(root, ("alpha",), num_frames=3)
  cfg = F.eval_config("davis2017_val", dataset__root=str(root), arch="official")
  with pytest.raises(CheckpointMismatchError, match="does not match the requested"):
    evaluation.run(cfg, tmp_path / "wd")
  with pytest.raises(ConfigError, match="dataset.root is empty"):
    evaluation.run(F.eval_config("davis2017_val"), tmp_path / "wd")
  with pytest.raises(ConfigError, match="shape_buckets"):
    evaluation.run(F.eval_config("davis2017_val", dataset__root=str(root),
                                 shape_buckets=((60, 96),)), tmp_path / "wd")
  with pytest.raises(ConfigError, match="not in the split"):
    evaluation.run(F.eval_config("davis2017_val", dataset__root=str(root), videos=("zulu",)),
                   tmp_path / "wd")
  with pytest.raises(ConfigError, match="local devices"):
    evaluation.run(F.eval_config("davis2017_val", dataset__root=str(root), num_devices=64),
                   tmp_path / "wd")


def test_youtube_missing_all_frames_folder(tmp_path):
  root = tmp_path / "yt"
  F.write_youtube(root)
  import shutil
  shutil.rmtree(root / "valid_all_frames")
  with pytest.raises(DataError, match="valid_all_frames/JPEGImages: folder not found"):
    evaluation.run(F.eval_config("youtube2019_valid", dataset__root=str(root)), tmp_path / "wd")
