"""The PyTorch training twin (benchmarks/torch_train_twin.py) against our step's loss, tiny model."""

import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rde_jax.model.network import init_variables
from rde_jax.train import inputs
from rde_jax.train.clip_loss import clip_loss
from rde_jax.train.trainer import Trainer

from configs_helper import small_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import torch_train_twin  # noqa: E402
from torch_twin import TwinNetwork  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("stage", [2, 0])
def test_twin_first_step_loss_equals_ours(stage):
  cfg = small_config(stage=stage)
  if stage == 0:
    cfg.data.num_frames = 3
  tr = Trainer(cfg)
  v = init_variables(tr.arch, 0)
  batch = {k: np.asarray(x) for k, x in inputs.train_pipeline(cfg)[0].items()} if stage else None
  if batch is None:  # stage 0 reads static images: a random batch of the stage-0 layout
    from rde_jax.benchmark.train_run import synthetic_batch
    batch = synthetic_batch(cfg)
    batch["gt"] = batch["gt"].astype(np.float32)
  k = int(0.6 * cfg.data.crop_size ** 2)
  ours, om = clip_loss(tr.forward, tr.loss_cfg, v, batch, jnp.int32(k))
  step = torch_train_twin.TwinTrainStep(TwinNetwork.from_variables(v, tr.arch), stage=stage,
                                        lr=cfg.lr, lambda_mc=cfg.lambda_mc,
                                        guidance=(cfg.lambda_f2, cfg.lambda_f4),
                                        equal_frame_weights=cfg.equal_frame_weights)
  tm = step(batch, k)
  for name, value in tm.items():
    assert value == pytest.approx(float(om[name]), rel=1e-4, abs=1e-6), name
  assert tm["total_loss"] == pytest.approx(float(ours), rel=1e-5)
