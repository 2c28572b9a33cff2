r"""DAVIS semi-supervised J&F evaluation of a results folder of label PNGs.

  python -m rde_jax.evaluate --davis_path /data/DAVIS --results_path out/val --set val [--year 2016]

Writes ``global_results-<set>.csv`` and ``per-sequence_results-<set>.csv``
(the official toolkit's format) into --results_path and prints both tables.
Unlike the official CLI it always recomputes (existing CSVs are replaced).
"""

from __future__ import annotations

import os
import sys
import time

from absl import app, flags

from rde_jax.metrics import davis_scores
from rde_jax.metrics.davis_files import DavisEvalError


def define_flags() -> None:
  """The command-line flags (defined only when the command runs)."""
  flags.DEFINE_string("davis_path", None, "DAVIS root (ImageSets/, JPEGImages/, Annotations/).")
  flags.DEFINE_string("results_path", None,
                      "Folder of <seq>/<frame>.png results; CSVs go here.")
  flags.DEFINE_string("set", "val", "Subset: ImageSets/<year>/<set>.txt.")
  flags.DEFINE_enum("year", "2017", ["2016", "2017"],
                    "2017: per object; 2016: all non-zero = one object (0/255 PNGs too).")
  flags.DEFINE_integer("num_workers", os.cpu_count() or 1, "Processes evaluating sequences.")
  flags.mark_flags_as_required(["davis_path", "results_path"])


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  year = int(flags.FLAGS.year)
  start = time.perf_counter()
  try:
    results = davis_scores.evaluate_dataset(flags.FLAGS.davis_path, flags.FLAGS.results_path, split=flags.FLAGS.set,
                                          year=year, num_workers=flags.FLAGS.num_workers)
  except DavisEvalError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  scores = davis_scores.global_scores(results, year)
  rows = davis_scores.per_object_rows(results)
  davis_scores.write_csvs(flags.FLAGS.results_path, flags.FLAGS.set, scores, rows)
  print(davis_scores.format_tables(flags.FLAGS.set, scores, rows))
  print(f"\nEvaluated {len(results)} sequences, {len(rows)} objects in "
        f"{time.perf_counter() - start:.2f} s.", file=sys.stderr)
  return 0


def run() -> None:
  """`python -m rde_jax.evaluate` and the `rde-evaluate` console script."""
  define_flags()
  app.run(main)


if __name__ == "__main__":
  run()
