r"""`python -m rde_jax.reproduce` (and `rde-reproduce`): the paper's table, ours beside it.

  python -m rde_jax.reproduce --workdir /tmp/repro --checkpoints /ckpt/rde \
      --davis /data/DAVIS/2017/trainval --davis_testdev /data/DAVIS/2017/test-dev \
      --youtube /data/YouTube2019 [--download] [--preset official] [--rows d17_val,d16_val]

C (--checkpoints) holds the official files under their official names (model_s012_final.pth,
model_s03_final.pth, model_s012_final_yv.pth); --download fetches the missing ones from the
Google Drive folder the official README links (or --download_from a mirror). A row whose
dataset or checkpoint is absent is skipped with one line saying what it needs. Each checkpoint
is converted once; each row runs eval.py's code with its config's official settings and
resumes per video; a finished row is never recomputed: rerun the same command after a kill.
Writes W/table.md and W/table.json (scores in percent) and, for the server-scored rows
(d17_testdev, yv19_valid), W/rows/<row>/submission.zip with the page to upload it to.
--multihost: run the same command on every host (shared W and C; videos are shared out).
"""

from __future__ import annotations

import sys

from absl import app, flags

from rde_jax import cli


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
  """The command-line flags (defined only when the command runs)."""
  from rde_jax.inference.settings import PRESETS
  from rde_jax.reproduce.rows import ROWS
  flags.DEFINE_string("workdir", None, "Output folder (resumable).", flag_values=fv)
  flags.DEFINE_string("checkpoints", None, "Folder of the official .pth files.", flag_values=fv)
  flags.DEFINE_string("davis", "", "DAVIS 2017 trainval root (rows d17_val, d17_val_s03, "
                      "d16_val).", flag_values=fv)
  flags.DEFINE_string("davis_testdev", "", "DAVIS 2017 test-dev root (row d17_testdev).",
                      flag_values=fv)
  flags.DEFINE_string("youtube", "", "YouTube-VOS 2019 root with valid/ and valid_all_frames/ "
                      "(row yv19_valid).", flag_values=fv)
  flags.DEFINE_list("rows", [r.name for r in ROWS], "Rows to run.", flag_values=fv)
  flags.DEFINE_enum("preset", "float32", list(PRESETS), "Precision preset of every row "
                    "(docs/evaluation.md; 'official' = the official --amp).", flag_values=fv)
  flags.DEFINE_bool("download", False, "Fetch missing checkpoints.", flag_values=fv)
  flags.DEFINE_string("download_from", "", "With --download: a mirror's base URL instead of "
                      "the official Google Drive folder.", flag_values=fv)
  cli.define_multihost_flags(fv, "Call jax.distributed.initialize() first and share each "
                             "row's videos among the processes (same W and C everywhere).")
  flags.mark_flags_as_required(["workdir", "checkpoints"], flag_values=fv)


def main(argv: list[str], fv: flags.FlagValues = flags.FLAGS) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cli.start_backend(fv)  # XLA:CPU flags, --multihost: before JAX starts
  from rde_jax.evaluation.sigterm_marker import Preempted
  from rde_jax.reproduce import run as reproduce_run
  request = reproduce_run.Request(
      workdir=fv.workdir, checkpoints=fv.checkpoints,
      roots={"davis": fv.davis, "davis_testdev": fv.davis_testdev, "youtube": fv.youtube},
      rows=tuple(fv.rows), preset=fv.preset, download=fv.download,
      download_from=fv.download_from)
  try:
    reproduce_run.reproduce(request)
  except Preempted as e:
    print(f"preempted: {e}", file=sys.stderr)
    return 143
  return 0


def run() -> None:
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
