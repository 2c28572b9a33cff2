r"""Evaluate RDE-VOS on DAVIS 2016/2017 or YouTube-VOS 2019.

  python eval.py --config configs/davis2017_val.py --workdir /tmp/rde_d17_val \
      --config.checkpoint=MODEL_DIR --config.dataset.root=DATA_DIR [--config.field=value ...]

See configs/*.py for the exact commands, checkpoints and official numbers, and
rde_jax/evaluation/runner.py for the workdir layout. Rerunning with the same workdir resumes
(also after SIGTERM, which stops the run cleanly with exit status 143). The workdir and the
checkpoint may be on cloud storage (gs://...). On a TPU pod slice or a GPU cluster run the same
command on every host with --multihost (videos are shared out; docs/pod.md).
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags


_CONFIG = config_flags.DEFINE_config_file("config", None, "Evaluation config (configs/*.py).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder (resumable; local or gs://).")
_MULTIHOST = flags.DEFINE_bool("multihost", False, "Call jax.distributed.initialize() first and "
                               "share the videos among the processes (same workdir everywhere).")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "With --multihost: host:port of "
                                   "process 0 (default: auto-detected or JAX_COORDINATOR_ADDRESS).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "With --multihost (default: auto).")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "With --multihost (default: auto).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _MULTIHOST.value:
    from rde_jax import multihost
    multihost.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  from rde_jax import evaluation
  from rde_jax.errors import UserError
  from rde_jax.evaluation.preemption import Preempted
  try:
    summary = evaluation.run(_CONFIG.value, _WORKDIR.value)
  except (UserError, FileNotFoundError) as e:
    logging.error("%s", e)
    print(f"error: {e}", file=sys.stderr)
    return 1
  except Preempted as e:
    print(f"preempted: {e}", file=sys.stderr)
    return 143
  scores = summary.get("scores")
  score = f", J&F {scores['J&F-Mean']:.4f}" if scores else ""
  print(f"{summary['benchmark']}: {summary['num_videos']} videos, {summary['frames']} frames, "
        f"{summary['fps'] or float('nan'):.1f} FPS{score} -> {_WORKDIR.value}")
  return 0


if __name__ == "__main__":
  app.run(main)
