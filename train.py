"""Trains RDE-VOS: `python train.py --config configs/<stage>.py --workdir DIR`.

Override any field from the command line (`--config.batch_size=16`). A second invocation with
the same workdir resumes. For multi-host TPU pods add `--multihost` (calls
jax.distributed.initialize(); every host runs the same command; docs/pod.md). The workdir may be
on cloud storage (gs://...). SIGTERM checkpoints (every process at the same step) and stops.
"""

from absl import app, flags, logging
from ml_collections import config_flags


_CONFIG = config_flags.DEFINE_config_file("config", None, "Training config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Checkpoints, logs and outputs go here.")
_MULTIHOST = flags.DEFINE_bool("multihost", False, "Call jax.distributed.initialize() first.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "With --multihost: host:port of "
                                   "process 0 (default: auto-detected or JAX_COORDINATOR_ADDRESS).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "With --multihost (default: auto).")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "With --multihost (default: auto).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
  del argv
  import jax
  if _MULTIHOST.value:
    from rde_jax import multihost
    multihost.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  from rde_jax.train import loop
  logging.info("devices: %s", jax.devices())
  summary = loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  if "eval" in summary:
    scores = summary["eval"]["scores"]
    print(f"J&F {scores['J&F-Mean']:.3f} (J {scores['J-Mean']:.3f}, F {scores['F-Mean']:.3f}) "
          f"on {len(summary['eval']['per_video'])} held-out videos; outputs in "
          f"{_WORKDIR.value}/eval")


if __name__ == "__main__":
  app.run(main)
