"""The training loop: config -> mesh -> data -> model init -> jitted update -> periodic actions.

Checkpoints (orbax CheckpointManager, async, keep N) hold {step, params, opt_state, loss_scale};
the data position is the step itself (batch `step` is a pure function of the seed), so a
restarted run continues bit-identically. SIGTERM (preemption) saves a checkpoint and exits
cleanly (with several processes all of them at the same step: `train/preemption_sync.py`); a
non-finite loss or gradient stops the run with the last good checkpoint intact (in float16 an
overflowing step is skipped instead, rde_jax/train/loss_scale.py). The latest model
is also exported to WORKDIR/model (what eval.py, rde_jax.segment and rde_jax.load read).
WORKDIR may be local or on cloud storage (gs://..., through etils.epath). Replaced as a whole
when local (`checkpoint.save_model`), so a kill during the export keeps the previous model. The
config is validated before the workdir is created (`train_config.validate`).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import jax
import ml_collections
from absl import logging

from rde_jax import checkpoint, runtime, validate
from rde_jax.errors import UserError
from rde_jax.data.pipeline import make_iterator
from rde_jax.fileio import atomic, manifest, storage
from rde_jax.train import config as train_config
from rde_jax.train import inputs, resume_check, workdir_lock
from rde_jax.train.initial_weights import initial_variables
from rde_jax.train.metric_writer import MetricWriter
from rde_jax.train.periodic_eval import EVAL_LAYOUT, evaluate_videos
from rde_jax.train.preemption_sync import StopCheck
from rde_jax.train.trainer import Trainer, TrainState, variables_of


class NonFiniteError(UserError, RuntimeError):
  """Loss or gradient became NaN/Inf (reported as one `error:` line; the last good checkpoint
  is kept)."""


def _manager(workdir: Any, cfg: ml_collections.ConfigDict):
  import orbax.checkpoint as ocp
  # Each step is written to a temporary folder and renamed when complete; the temporary
  # folders of a killed run are deleted when the next run opens the manager.
  options = ocp.CheckpointManagerOptions(max_to_keep=cfg.keep_checkpoints,
                                         enable_async_checkpointing=True,
                                         cleanup_tmp_directories=True)
  return ocp.CheckpointManager(workdir / "checkpoints", options=options)


def _save(mgr: Any, state: TrainState, step: int) -> None:
  import orbax.checkpoint as ocp
  mgr.save(step, args=ocp.args.StandardSave(state), force=True)


def _restore(mgr: Any, state: TrainState) -> TrainState:
  import orbax.checkpoint as ocp
  abstract = jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
  return mgr.restore(mgr.latest_step(), args=ocp.args.StandardRestore(abstract))


def _close(mgr: Any, writer: MetricWriter) -> None:
  """Waits for the checkpoint being written (its background threads end with it)."""
  try:
    mgr.wait_until_finished()
    mgr.close()
  finally:
    writer.close()


def train_and_evaluate(cfg: ml_collections.ConfigDict, workdir: str, *,
                       allow_changed_resume: bool = False) -> dict[str, Any]:
  """Trains (or resumes) to cfg.num_steps, then evaluates. Returns the final summary.

  One run per workdir (`workdir_lock`); a resume with a config that changes the training
  (seed, lr, batch, data, ...) is refused unless `allow_changed_resume` (`resume_check`).
  """
  train_config.validate(cfg)
  workdir_p = storage.as_path(validate.workdir("--workdir", workdir))
  if not storage.is_remote(workdir_p):  # exports replace these folders: only what we wrote
    manifest.check_replaceable(workdir_p / "model", checkpoint.MODEL_LAYOUT, name="--workdir")
    manifest.check_replaceable(workdir_p / "eval", EVAL_LAYOUT, name="--workdir")
  runtime.configure(compilation_cache=cfg.compilation_cache)
  trainer = Trainer(cfg)
  variables = initial_variables(cfg, trainer.arch)
  ds = inputs.train_pipeline(cfg)
  eval_set = inputs.eval_videos(cfg)
  workdir_p.mkdir(parents=True, exist_ok=True)  # after every check that reads user input
  with workdir_lock.held(workdir_p):
    return _train(cfg, workdir_p, trainer, variables, ds, eval_set, allow_changed_resume)


def _train(cfg: ml_collections.ConfigDict, workdir_p: Any, trainer: Trainer, variables: Any,
           ds: Any, eval_set: Any, allow_changed_resume: bool) -> dict[str, Any]:
  is_main = jax.process_index() == 0
  batch_stats = jax.device_put(variables["batch_stats"], trainer.replicated)
  state = trainer.init_state(variables["params"])
  mgr = _manager(workdir_p, cfg)
  resume_check.check(cfg, workdir_p, resuming=mgr.latest_step() is not None,
                     allow_changed=allow_changed_resume, write=is_main)
  if mgr.latest_step() is not None:
    state = _restore(mgr, state)
    logging.info("resumed from step %d", int(state.step))
  start = int(state.step)
  # Lines after the restored step are from a killed run: dropped, so no step is logged twice.
  writer = MetricWriter(workdir_p if is_main else None, resume_step=start)
  batches = make_iterator(ds, start_step=start, num_threads=cfg.data.num_threads)
  preempt = StopCheck()
  t0, last_step, last_time = time.time(), start, time.time()
  try:
    for step in range(start, cfg.num_steps):
      state, metrics = trainer.step(state, batch_stats, next(batches), step)
      if not bool(metrics["finite"]) and not bool(metrics["skipped"]):
        kept = (f"the last good checkpoint (step {mgr.latest_step()}) is kept in "
                f"{workdir_p / 'checkpoints'}" if mgr.latest_step() is not None
                else "no checkpoint was written yet")
        raise NonFiniteError(
            f"step {step}: non-finite loss ({float(metrics['total_loss'])}) or gradient norm "
            f"({float(metrics['grad_norm'])}); the update was not applied and {kept}",
            hint="lower config.lr, or train in float32 (config.dtype); resuming restarts from "
                 "the last checkpoint")
      done = step + 1
      if done % cfg.log_every == 0 or done == cfg.num_steps:
        now = time.time()
        rate = (done - last_step) / max(now - last_time, 1e-9)
        scalars = {k: float(v) for k, v in jax.device_get(metrics).items()}
        scalars["iou/iou"] = (scalars.pop("iou/i") + 1) / (scalars.pop("iou/u") + 1)
        scalars = {k: v for k, v in scalars.items() if not k.startswith("iou/sec")}
        scalars.update(steps_per_sec=rate, eta_min=(cfg.num_steps - done) / max(rate, 1e-9) / 60)
        writer.write_scalars(done, scalars)
        last_step, last_time = done, now
      stop = preempt.check(done)
      if done % cfg.checkpoint_every == 0 or stop:
        _save(mgr, state, done)
        if is_main:
          mgr.wait_until_finished()
          checkpoint.save_model(workdir_p / "model", variables_of(state, batch_stats),
                                trainer.arch, step=done, config=cfg.to_dict())
      if stop:
        _close(mgr, writer)
        return {"status": "preempted", "step": done}
      if cfg.eval_every and done % cfg.eval_every == 0 and done < cfg.num_steps and eval_set:
        res = evaluate_videos(variables_of(state, batch_stats), trainer.arch, eval_set, cfg)
        writer.write_scalars(done, {f"eval/{k}": v for k, v in res["scores"].items()})
  except BaseException:  # a NaN stop, an error, Ctrl-C: finish the checkpoint being written
    with contextlib.suppress(Exception):  # (the first error is the one to report)
      _close(mgr, writer)
    raise
  finally:
    preempt.restore()
  final_step = int(state.step)
  if mgr.latest_step() != final_step:
    _save(mgr, state, final_step)
  mgr.wait_until_finished()
  mgr.close()
  variables = variables_of(state, batch_stats)
  if is_main:
    checkpoint.save_model(workdir_p / "model", variables, trainer.arch, step=final_step,
                          config=cfg.to_dict())
  summary: dict[str, Any] = {"status": "done", "step": final_step,
                             "train_seconds": time.time() - t0}
  if eval_set:  # every process segments its share of the videos (periodic_eval)
    out_dir = workdir_p / "eval" if cfg.eval.write_outputs else None
    res = evaluate_videos(variables, trainer.arch, eval_set, cfg, out_dir=out_dir)
    writer.write_scalars(final_step, {f"eval/{k}": v for k, v in res["scores"].items()})
    summary["eval"] = res
    if is_main:
      atomic.write_json(workdir_p / "summary.json", summary)
  writer.close()
  return summary
