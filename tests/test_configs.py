"""Every training config: its `runlocal` variant trains a few steps on tiny generated data, and
the variants that differ say so in their fields."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import data_fakes
from configs_helper import config_module, load_config

# configs/synthetic.py:runlocal is trained by tests/test_train.py (small_config).
CONFIGS = ("stage0", "stage1", "stage2", "stage3")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
  """Tiny official-layout folders for every stage: static/, BL30K/, DAVIS/, YouTube/."""
  root = tmp_path_factory.mktemp("official")
  static = root / "static"
  data_fakes.make_static(static / "fss", nested=True)
  for folder in ("DUTS-TR", "DUTS-TE", "ecssd", "BIG_small", "HRSOD_small"):
    data_fakes.make_static(static / folder, n=2)
  return {
      "static_root": str(static),
      "bl30k_root": str(data_fakes.make_bl30k(root / "BL30K", num_videos=2)),
      "davis_root": str(data_fakes.make_davis(root / "DAVIS")),
      "youtube_root": str(data_fakes.make_youtube(root / "YouTube")),
  }


def _runlocal(name: str, data: dict):
  # compilation_cache '': the tests' shared cache (conftest) stays in charge
  return load_config(name, compilation_cache="", **{f"data__{k}": v for k, v in data.items()})


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGS)
def test_runlocal_trains_a_few_steps(name, tiny_data, tmp_path):
  from rde_jax.train import loop
  cfg = _runlocal(name, tiny_data)
  summary = loop.train_and_evaluate(cfg, str(tmp_path / name))
  assert summary["status"] == "done" and summary["step"] == cfg.num_steps
  assert (tmp_path / name / "model").is_dir()


def test_configs_load_from_their_files_as_train_py_does():
  for name in CONFIGS + ("synthetic",):
    full, local = load_config(name, None), load_config(name)
    assert local.arch == "tiny" and local.num_steps < 10 and local.batch_size == 2
    assert full.arch == ("tiny" if name == "synthetic" else "official") and full.num_steps >= 1000


def test_stage2_variants_set_the_documented_loss_weights():
  stage2 = config_module("stage2")
  got = {v: (c.lambda_mc, c.lambda_f2, c.lambda_f4) for v in ("paper", "readme", "yv", "")
         for c in [stage2.get_config(v)]}
  assert got["paper"] == (10, 10, 10) and got["readme"] == got[""] == (5, 5, 5)
  assert got["yv"] == (got["paper"][0] / 2,) + got["paper"][1:]
  with pytest.raises(ValueError, match="unknown variant"):
    stage2.get_config("nope")


def test_stage1_reads_bl30k_with_undivided_skip_and_the_object_filter(tiny_data):
  from rde_jax.train import inputs as train_data
  from rde_jax.data.clips import VideoClipConfig
  cfg = _runlocal("stage1", tiny_data)
  (spec,) = train_data._video_specs(cfg, VideoClipConfig())
  assert spec.skip_divisor == 1 and spec.clip_config.filter_small_objects
  assert len(spec.source) == 2  # the 2-frame "short" video is dropped
  assert tuple(cfg.data.crop_scale) == (0.25, 1.0)


@pytest.mark.parametrize("subsets", [True, False])
def test_stage2_mixing_is_davis_x5_plus_youtube_on_the_official_lists(tiny_data, subsets):
  from rde_jax.train import inputs as train_data
  from rde_jax.data import pipeline
  from rde_jax.data.clips import VideoClipConfig
  cfg = _runlocal("stage2", tiny_data)
  cfg.data.official_subsets = subsets
  davis, youtube = train_data._video_specs(cfg, VideoClipConfig())
  assert (davis.repeat, davis.skip_divisor, youtube.repeat, youtube.skip_divisor) == (5, 1, 1, 5)
  assert davis.source.names() == ["bear", "boat"]
  a, b, c, _ = data_fakes.YT_LISTED  # the 4th has 2 frames: dropped
  assert youtube.source.names() == sorted([a, b, c] + ([] if subsets else [data_fakes.YT_UNLISTED]))
  plan = pipeline.sample_plan([davis, youtube], batch_size=2, seed=0, process_index=0, process_count=1)
  epoch = [plan.item(i) for i in range(plan.epoch_size)]
  counts = np.bincount([spec for spec, _ in epoch])
  assert counts.tolist() == [5 * 2, len(youtube.source)]
  assert all(epoch.count((1, i)) == 1 for i in range(len(youtube.source)))  # uniform over YouTube-VOS
  assert all(epoch.count((0, i)) == 5 for i in range(2))


def test_periodic_evaluation_reads_davis_val_from_the_folder(tiny_data):
  from rde_jax.train import inputs as train_data
  cfg = _runlocal("stage2", tiny_data)
  cfg.eval.source = "davis"
  (video,) = train_data.eval_videos(cfg)
  assert video["name"] == "dog" and np.asarray(video["labels"]).shape == video["frames"].shape[:3]
