r"""DAVIS semi-supervised J&F evaluation of a results folder of label PNGs.

  python -m rde_jax.score_davis --davis_path /data/DAVIS --results_path out/val --set val \
      [--year 2016]

Writes `global_results-<set>.csv` and `per-sequence_results-<set>.csv`
(the official toolkit's format) into --results_path and prints both tables.
Unlike the official CLI it always recomputes (existing CSVs are replaced, each atomically).
Errors are one line (`error: ...`); --debug shows the traceback.
"""

from __future__ import annotations

import os
import sys
import time

from absl import app, flags

from rde_jax import cli, validate
from rde_jax.metrics import davis_scores


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
  """The command-line flags (defined only when the command runs)."""
  flags.DEFINE_string("davis_path", None, "DAVIS root (ImageSets/, JPEGImages/, Annotations/).",
                      flag_values=fv)
  flags.DEFINE_string("results_path", None,
                      "Folder of <seq>/<frame>.png results; CSVs go here.", flag_values=fv)
  flags.DEFINE_string("set", "val", "Subset: ImageSets/<year>/<set>.txt.", flag_values=fv)
  flags.DEFINE_enum("year", "2017", ["2016", "2017"],
                    "2017: per object; 2016: all non-zero = one object (0/255 PNGs too).",
                    flag_values=fv)
  flags.DEFINE_integer("num_workers", os.cpu_count() or 1,
                       "Processes evaluating sequences (0: one per CPU).", flag_values=fv)
  flags.mark_flags_as_required(["davis_path", "results_path"], flag_values=fv)


def main(argv: list[str], fv: flags.FlagValues = flags.FLAGS) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  validate.existing("--davis_path", fv.davis_path, kind="dir")
  validate.existing("--results_path", fv.results_path, kind="dir")
  validate.integer("--num_workers", fv.num_workers, minimum=0, note="0: one per CPU")
  year = int(fv.year)
  start = time.perf_counter()
  results = davis_scores.evaluate_dataset(fv.davis_path, fv.results_path, split=fv.set,
                                          year=year, num_workers=fv.num_workers)
  scores = davis_scores.global_scores(results, year)
  rows = davis_scores.per_object_rows(results)
  davis_scores.write_csvs(fv.results_path, fv.set, scores, rows)
  print(davis_scores.format_tables(fv.set, scores, rows))
  print(f"\nEvaluated {len(results)} sequences, {len(rows)} objects in "
        f"{time.perf_counter() - start:.2f} s.", file=sys.stderr)
  return 0


def run() -> None:
  """`python -m rde_jax.score_davis` and the `rde-score-davis` console script."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
