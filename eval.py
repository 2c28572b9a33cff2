r"""Evaluate RDE-VOS on DAVIS 2016/2017 or YouTube-VOS 2019.

  python eval.py --config configs/davis2017_val.py --workdir /tmp/rde_d17_val \
      --config.checkpoint=MODEL_DIR --config.dataset.root=DATA_DIR [--config.field=value ...]

See configs/*.py for the exact commands, checkpoints and official numbers, and
rde_jax/evaluation/runner.py for the workdir layout. Rerunning with the same workdir resumes
(also after SIGTERM, which stops the run cleanly with exit status 143). The workdir and the
checkpoint may be on cloud storage (gs://...). On a TPU pod slice or a GPU cluster run the same
command on every host with --multihost (videos are shared out; docs/pod.md).
Every config field is checked before the workdir is created; errors are one line
(`error: ...`), --debug shows the traceback, --verbosity=0 shows the libraries' INFO logs.
"""

import sys

from absl import flags
from ml_collections import config_flags

from rde_jax import cli


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
  config_flags.DEFINE_config_file("config", None, "Evaluation config (configs/*.py).",
                                  lock_config=True, flag_values=fv)
  flags.DEFINE_string("workdir", None, "Output folder (resumable; local or gs://).",
                      flag_values=fv)
  cli.define_multihost_flags(fv, "Call jax.distributed.initialize() first and share the videos "
                             "among the processes (same workdir everywhere).")
  flags.mark_flags_as_required(["config", "workdir"], flag_values=fv)


def main(argv: list[str], fv: flags.FlagValues = flags.FLAGS) -> int:
  from absl import app
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cli.start_backend(fv)  # XLA:CPU flags, --multihost: before JAX starts
  from rde_jax import evaluation
  from rde_jax.evaluation.sigterm_marker import Preempted
  try:
    summary = evaluation.run(fv.config, fv.workdir)
  except Preempted as e:
    print(f"preempted: {e}", file=sys.stderr)
    return 143
  scores = summary.get("scores")
  score = f", J&F {scores['J&F-Mean']:.4f}" if scores else ""
  print(f"{summary['benchmark']}: {summary['num_videos']} videos, {summary['frames']} frames, "
        f"{summary['fps'] or float('nan'):.1f} FPS{score} -> {fv.workdir}")
  return 0


if __name__ == "__main__":
  cli.run(main, define_flags)
