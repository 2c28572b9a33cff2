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

from rde_jax import davis_eval
from rde_jax.davis_io import DavisEvalError

_DAVIS_PATH = flags.DEFINE_string("davis_path", None, "DAVIS root (ImageSets/, JPEGImages/, Annotations/).")
_RESULTS_PATH = flags.DEFINE_string("results_path", None, "Folder of <seq>/<frame>.png results; CSVs go here.")
_SET = flags.DEFINE_string("set", "val", "Subset: ImageSets/<year>/<set>.txt.")
_YEAR = flags.DEFINE_enum("year", "2017", ["2016", "2017"], "2017: per object; 2016: all non-zero = one object.")
_NUM_WORKERS = flags.DEFINE_integer("num_workers", os.cpu_count() or 1, "Processes evaluating sequences.")
flags.mark_flags_as_required(["davis_path", "results_path"])


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  year = int(_YEAR.value)
  start = time.perf_counter()
  try:
    results = davis_eval.evaluate_dataset(_DAVIS_PATH.value, _RESULTS_PATH.value, split=_SET.value,
                                          year=year, num_workers=_NUM_WORKERS.value)
  except DavisEvalError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  scores = davis_eval.global_scores(results, year)
  rows = davis_eval.per_object_rows(results)
  davis_eval.write_csvs(_RESULTS_PATH.value, _SET.value, scores, rows)
  print(davis_eval.format_tables(_SET.value, scores, rows))
  print(f"\nEvaluated {len(results)} sequences, {len(rows)} objects in "
        f"{time.perf_counter() - start:.2f} s.", file=sys.stderr)
  return 0


if __name__ == "__main__":
  app.run(main)
