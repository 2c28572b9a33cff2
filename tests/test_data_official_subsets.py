"""The official training lists ship with the package and restrict the folder listings."""

from __future__ import annotations

from pathlib import Path

import pytest

import data_fakes
from rde_jax.data import training_folders
from rde_jax.data.official_subsets import official_subset

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "subsets"


def test_lists_load_from_the_package():
  yv, davis = official_subset("youtube"), official_subset("davis")
  assert len(yv) == 3464 and len(davis) == 60
  assert {"bear", "boat"} <= davis and all(len(v) == 10 for v in yv)  # YouTube-VOS ids: 10 hex digits
  with pytest.raises(ValueError, match="no official subset"):
    official_subset("kinetics")
  if SHARED.is_dir():  # the reference copies, where this checkout has them
    for name, ids in (("yv_subset.txt", yv), ("davis_subset.txt", davis)):
      assert ids == frozenset((SHARED / name).read_text().split())


def test_youtube_listing_on_and_off(tmp_path):
  root = data_fakes.make_youtube(tmp_path)
  a, b, c, short = data_fakes.YT_LISTED
  on = [v.name for v in training_folders.youtube_train_videos(root)]
  off = [v.name for v in training_folders.youtube_train_videos(root, subset=False)]
  assert on == [a, b, c]  # unlisted left out, the 2-frame video dropped, the empty first frame kept
  assert off == sorted([a, b, c, data_fakes.YT_UNLISTED])


def test_davis_listing_on_and_off(tmp_path):
  root = data_fakes.make_davis(tmp_path, train=("bear", "boat", "zebra"))
  assert [v.name for v in training_folders.davis_train_videos(root)] == ["bear", "boat"]
  assert [v.name for v in training_folders.davis_train_videos(root, subset=False)] == ["bear", "boat", "zebra"]
