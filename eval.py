r"""Evaluate RDE-VOS on DAVIS 2016/2017 or YouTube-VOS 2019.

  python eval.py --config configs/davis2017_val.py --workdir /tmp/rde_d17_val \
      --config.checkpoint=MODEL_DIR --config.dataset.root=DATA_DIR [--config.field=value ...]

See configs/*.py for the exact commands, checkpoints and official numbers, and
rde_jax/evaluation/runner.py for the workdir layout. Rerunning with the same workdir resumes.
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags


_CONFIG = config_flags.DEFINE_config_file("config", None, "Evaluation config (configs/*.py).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder (resumable).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from rde_jax import evaluation
  from rde_jax.errors import UserError
  try:
    summary = evaluation.run(_CONFIG.value, _WORKDIR.value)
  except (UserError, FileNotFoundError) as e:
    logging.error("%s", e)
    print(f"error: {e}", file=sys.stderr)
    return 1
  scores = summary.get("scores")
  score = f", J&F {scores['J&F-Mean']:.4f}" if scores else ""
  print(f"{summary['benchmark']}: {summary['num_videos']} videos, {summary['frames']} frames, "
        f"{summary['fps'] or float('nan'):.1f} FPS{score} -> {_WORKDIR.value}")
  return 0


if __name__ == "__main__":
  app.run(main)
