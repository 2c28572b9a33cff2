"""Training on the tiny model: learning, data parallelism, preemption-safe resume, NaN stop."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rde_jax import checkpoint
from rde_jax.model.network import init_variables
from rde_jax.train import inputs
from rde_jax.train import loop
from rde_jax.train import metric_writer
from rde_jax.train.trainer import Trainer

from configs_helper import small_config
from workers import ROOT, python_env


@pytest.mark.slow  # a test that steps a Trainer compiles it: about a minute of CPU
def test_train_steps_decrease_the_loss_on_a_fixed_batch():
  cfg = small_config(lr=2e-3)
  tr = Trainer(cfg)
  v = init_variables(tr.arch, 0)
  state = tr.init_state(v["params"])
  batch = inputs.train_pipeline(cfg)[0]
  losses = []
  for _ in range(4):
    state, m = tr.step(state, v["batch_stats"], batch, 0)
    losses.append(float(m["total_loss"]))
  assert bool(m["finite"]) and int(state.step) == 4
  assert losses[-1] < losses[0] * 0.95, losses


def _final_params(workdir):
  _, variables = checkpoint.load_model(workdir)
  return jax.tree_util.tree_leaves(variables["params"])


@pytest.mark.slow
def test_kill_and_resume_is_bit_identical(tmp_path, monkeypatch):
  cfg = small_config()
  loop.train_and_evaluate(cfg, str(tmp_path / "straight"))

  real_write = metric_writer.MetricWriter.write_scalars

  def write_then_preempt(self, step, scalars):
    real_write(self, step, scalars)
    if step == 2 and not os.environ.get("RDE_TEST_PREEMPTED"):
      os.environ["RDE_TEST_PREEMPTED"] = "1"
      os.kill(os.getpid(), signal.SIGTERM)  # handled by the trainer: checkpoint, stop

  monkeypatch.setattr(metric_writer.MetricWriter, "write_scalars", write_then_preempt)
  monkeypatch.delenv("RDE_TEST_PREEMPTED", raising=False)
  first = loop.train_and_evaluate(cfg, str(tmp_path / "resumed"))
  assert first == {"status": "preempted", "step": 2}
  with open(tmp_path / "resumed" / "metrics.jsonl", "a") as f:  # as if SIGKILLed after step 3
    f.write('{"step": 3, "total_loss": 1.0}\n{"step": 4, "tot')
  second = loop.train_and_evaluate(cfg, str(tmp_path / "resumed"))
  assert second["status"] == "done" and second["step"] == cfg.num_steps
  for a, b in zip(_final_params(tmp_path / "straight"), _final_params(tmp_path / "resumed")):
    np.testing.assert_array_equal(a, b)
  logged = [json.loads(line)["step"] for line in
            (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
  assert logged == [1, 2, 3, 4]  # resumed at step 3, nothing repeated, the torn line dropped


def test_metric_writer_keeps_lines_up_to_the_resume_step(tmp_path):
  lines = [json.dumps({"step": s, "x": s}) for s in (1, 2, 3, 4)]
  (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 5, "x')
  w = metric_writer.MetricWriter(tmp_path, resume_step=2)
  w.write_scalars(3, {"x": 30})
  w.close()
  got = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [(r["step"], r["x"]) for r in got] == [(1, 1), (2, 2), (3, 30)]


@pytest.mark.slow
def test_non_finite_loss_stops_with_the_last_checkpoint_intact(tmp_path, monkeypatch):
  cfg = small_config()
  real = inputs.train_pipeline

  def poisoned(c):
    ds = real(c)

    class Poisoned:
      def __getitem__(self, step):
        batch = ds[step]
        if step == 2:
          batch = dict(batch, rgb=np.full_like(batch["rgb"], np.nan))
        return batch

      def to_iter_dataset(self, *a, **k):
        return ds.to_iter_dataset(*a, **k)

    return Poisoned()

  monkeypatch.setattr(inputs, "train_pipeline", poisoned)
  monkeypatch.setattr(loop, "make_iterator", lambda ds, start_step, num_threads: (
      ds[i] for i in range(start_step, 10**9)))
  with pytest.raises(loop.NonFiniteError, match="step 2: non-finite"):
    loop.train_and_evaluate(cfg, str(tmp_path / "w"))
  import orbax.checkpoint as ocp
  mgr = ocp.CheckpointManager(tmp_path / "w" / "checkpoints")
  assert mgr.latest_step() == 2  # saved at step 2, the bad update of step 3 never applied
  _, variables = checkpoint.load_model(tmp_path / "w")
  assert all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(variables))


_DATA_PARALLEL = textwrap.dedent("""
    import json
    import jax, numpy as np
    from jax.sharding import Mesh
    from configs_helper import small_config
    from rde_jax.train import inputs
    from rde_jax.model.network import init_variables
    from rde_jax.train.trainer import Trainer
    assert jax.device_count() == 8, jax.devices()
    cfg = small_config(batch_size=8)
    batch = inputs.train_pipeline(cfg)[0]
    out, norms = [], []
    for devices in (jax.devices(), jax.devices()[:1]):
      tr = Trainer(cfg, Mesh(np.asarray(devices), ("data",)))
      v = init_variables(tr.arch, 0)
      state, m = tr.step(tr.init_state(v["params"]), v["batch_stats"], batch, 3)
      out.append(jax.tree_util.tree_leaves(jax.device_get(state.params)))
      norms.append(float(m["grad_norm"]))
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(*out))
    print(json.dumps({"worst": worst, "lr": cfg.lr, "norms": norms}))
""")


@pytest.mark.slow
def test_eight_devices_give_the_same_update_as_one():
  env = python_env(XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
  res = subprocess.run([sys.executable, "-c", _DATA_PARALLEL], env=env,
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
  assert res.returncode == 0, res.stderr[-3000:]
  r = json.loads(res.stdout.strip().splitlines()[-1])
  assert abs(r["norms"][0] - r["norms"][1]) <= 1e-5 * r["norms"][1]  # same gradient
  # Adam's first step is ~lr * sign(g): reordered sums only move the few components whose
  # gradient is ~eps; everything else agrees to float rounding.
  assert r["worst"] < 1e-2 * r["lr"], res.stdout


@pytest.mark.slow
def test_bfloat16_compute_keeps_float32_parameters():
  cfg32, cfg16 = small_config(), small_config(dtype="bfloat16")
  batch = inputs.train_pipeline(cfg32)[0]
  losses = []
  for cfg in (cfg32, cfg16):
    tr = Trainer(cfg)
    v = init_variables(tr.arch, 0)
    state, m = tr.step(tr.init_state(v["params"]), v["batch_stats"], batch, 0)
    assert bool(m["finite"])
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(state.params))
    losses.append(float(m["total_loss"]))
  assert losses[1] == pytest.approx(losses[0], rel=5e-2)


def test_a_killed_runs_partial_checkpoint_is_removed_on_restart(tmp_path):
  partial = tmp_path / "checkpoints" / "3.orbax-checkpoint-tmp-1733050000"
  partial.mkdir(parents=True)
  (partial / "half").write_text("")
  import orbax.checkpoint as ocp
  mgr = loop._manager(tmp_path, small_config())
  assert mgr.latest_step() is None
  mgr.save(1, args=ocp.args.StandardSave({"x": np.zeros(2, np.float32)}))  # awaits the cleanup
  mgr.wait_until_finished()
  assert not partial.exists() and mgr.latest_step() == 1
  mgr.close()
