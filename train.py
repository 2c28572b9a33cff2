"""Trains RDE-VOS: `python train.py --config configs/<stage>.py --workdir DIR`.

Override any field from the command line (`--config.batch_size=16`). A second invocation with
the same workdir resumes. For multi-host TPU pods add `--multihost` (calls
jax.distributed.initialize(); every host runs the same command; docs/pod.md). The workdir may be
on cloud storage (gs://...). SIGTERM checkpoints (every process at the same step) and stops
with exit status 143 (128 + SIGTERM, like eval.py and segment: a scheduler can tell a preempted
run, to be restarted, from a finished one, status 0).
One run per workdir: WORKDIR/train.lock names the holder (rde_jax/train/workdir_lock.py). A
resume with a config that changes the training (seed, lr, batch size, data, ...) is refused
unless --allow_changed_resume (rde_jax/train/resume_check.py).
Every config field is checked before the workdir is created; errors are one line
(`error: ...`), --debug shows the traceback, --verbosity=0 shows the libraries' INFO logs.
"""

import sys


from absl import flags, logging
from ml_collections import config_flags

from rde_jax import cli


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
  config_flags.DEFINE_config_file("config", None, "Training config file.", lock_config=True,
                                  flag_values=fv)
  flags.DEFINE_string("workdir", None, "Checkpoints, logs and outputs go here.", flag_values=fv)
  flags.DEFINE_bool("allow_changed_resume", False, "Resume even if the config changes the "
                    "training (seed, lr, batch size, data, ...); the resume is then not the "
                    "same training.", flag_values=fv)
  cli.define_multihost_flags(fv, "Call jax.distributed.initialize() first.")
  flags.mark_flags_as_required(["config", "workdir"], flag_values=fv)


def main(argv: list[str], fv: flags.FlagValues = flags.FLAGS) -> int:
  del argv
  from rde_jax import validate
  from rde_jax.train import config as train_config
  train_config.validate(fv.config)  # before JAX starts or anything is written
  validate.workdir("--workdir", fv.workdir)
  cli.start_backend(fv, purpose="train")  # XLA:CPU flags, --multihost: before JAX starts
  import jax
  from rde_jax.train import loop
  logging.info("devices: %s", jax.devices())
  summary = loop.train_and_evaluate(fv.config, fv.workdir,
                                    allow_changed_resume=fv.allow_changed_resume)
  if summary["status"] == "preempted":
    print(f"preempted: step {summary['step']} checkpointed in {fv.workdir}; rerun the same "
          "command to resume", file=sys.stderr)
    return 143
  if "eval" in summary:
    scores = summary["eval"]["scores"]
    print(f"J&F {scores['J&F-Mean']:.3f} (J {scores['J-Mean']:.3f}, F {scores['F-Mean']:.3f}) "
          f"on {len(summary['eval']['per_video'])} held-out videos; outputs in "
          f"{fv.workdir}/eval")
  return 0


if __name__ == "__main__":
  cli.run(main, define_flags)
