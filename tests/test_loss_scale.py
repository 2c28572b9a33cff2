"""float16 training: the dynamic loss scale skips overflowing steps, halves and regrows."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rde_jax.train import inputs, loop
from rde_jax.train.loss_scale import LossScale

from configs_helper import small_config


def test_scale_halves_on_overflow_and_doubles_after_n_good_steps():
  ls = LossScale.create(dynamic=True, init_scale=1024.0, growth_interval=3)
  history = []
  for finite in (True, False, True, True, True, True, False):
    ls = ls.update(jnp.asarray(finite))
    history.append((float(ls.scale), int(ls.good_steps)))
  assert history == [(1024, 1), (512, 0), (512, 1), (512, 2), (1024, 0), (1024, 1), (512, 0)]
  floor = LossScale.create(dynamic=True, init_scale=2.0, min_scale=1.0)
  floor = floor.update(jnp.asarray(False)).update(jnp.asarray(False))
  assert float(floor.scale) == 1.0 and not bool(floor.can_skip())
  static = LossScale.create(dynamic=False)
  assert float(static.update(jnp.asarray(False)).scale) == 1.0 and not bool(static.can_skip())


def test_scaling_recovers_float16_gradients_that_underflow():
  tiny = jnp.float16(2.0 ** -13)

  def fun(params):  # d loss / d x = 2^-26 < float16's smallest subnormal (2^-24)
    x = params["x"].astype(jnp.float16)
    return (jnp.sum(x * tiny) * tiny).astype(jnp.float32), None

  params = {"x": jnp.ones((4,), jnp.float32)}
  _, _, plain = LossScale.create(dynamic=False).value_and_grad(fun)(params)
  _, _, scaled = LossScale.create(dynamic=True, init_scale=2.0 ** 12).value_and_grad(fun)(params)
  assert float(jnp.abs(plain["x"]).max()) == 0.0
  np.testing.assert_allclose(np.asarray(scaled["x"]), 2.0 ** -26, rtol=1e-6)


@pytest.mark.slow
def test_float16_training_skips_an_overflowing_step_and_goes_on(tmp_path, monkeypatch):
  cfg = small_config(dtype="float16", loss_scale_growth_interval=2, log_every=1, num_steps=5)
  cfg.lr_steps = (4,)
  real = inputs.train_pipeline

  def overflowing(c):  # step 1 overflows float16 in the forward pass (inputs of 6e4)
    ds = real(c)

    class Batches:
      def __getitem__(self, step):
        batch = ds[step]
        return dict(batch, rgb=np.full_like(batch["rgb"], 6e4)) if step == 1 else batch

    return Batches()

  monkeypatch.setattr(inputs, "train_pipeline", overflowing)
  monkeypatch.setattr(loop, "make_iterator", lambda ds, start_step, num_threads: (
      ds[i] for i in range(start_step, 10**9)))
  summary = loop.train_and_evaluate(cfg, str(tmp_path / "w"))
  assert summary["status"] == "done" and summary["step"] == 5  # the skip did not stop the run
  logs = [json.loads(line) for line in (tmp_path / "w" / "metrics.jsonl").read_text().splitlines()]
  rows = {r["step"]: r for r in logs if "loss_scale" in r}
  init = cfg.loss_scale_init
  # the scale each logged step ran with: the 2nd overflows and halves it, 2 good steps regrow it
  assert [rows[s]["loss_scale"] for s in range(1, 6)] == [init, init, init / 2, init / 2, init]
  assert [rows[s]["skipped"] for s in range(1, 6)] == [0.0, 1.0, 0.0, 0.0, 0.0]
  assert [rows[s]["finite"] for s in range(1, 6)] == [1.0, 0.0, 1.0, 1.0, 1.0]
  from rde_jax import checkpoint
  _, variables = checkpoint.load_model(tmp_path / "w")
  assert all(np.isfinite(x).all() and x.dtype == np.float32 for x in jax.tree_util.tree_leaves(variables["params"]))

