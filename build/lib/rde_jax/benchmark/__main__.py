"""`python -m rde_jax.benchmark` (and `rde-benchmark`): the inference speed benchmark.

    python -m rde_jax.benchmark --out bench.json                      # official, 480x864, K=2
    python -m rde_jax.benchmark --config=configs/benchmark.py:long --plot long.png
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags
from ml_collections import config_flags

from rde_jax import cpu_settings
from rde_jax.benchmark import run as bench_run
from rde_jax.benchmark import tables
from rde_jax.fileio import atomic


# configs/benchmark.py of a source checkout (a pip-installed copy passes --config).
CONFIG = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "configs",
                                       "benchmark.py"))


def define_flags() -> None:
  """The command-line flags (defined only when the command runs)."""
  config_flags.DEFINE_config_file(
      "config", CONFIG if os.path.exists(CONFIG) else None,
      "benchmark settings (configs/benchmark.py[:preset]); --config.FIELD=...")
  flags.DEFINE_string("out", None, "JSON path (overrides config.out)")
  flags.DEFINE_string("plot", None, "PNG path (overrides config.plot)")


def main(argv: list[str]) -> None:
  del argv
  cfg = flags.FLAGS.config
  cpu_settings.apply(cfg.cpu_flags)  # before anything starts the JAX backend
  out, plot = flags.FLAGS.out or cfg.out, flags.FLAGS.plot or cfg.plot
  report = bench_run.run(cfg)
  print(tables.table(report), file=sys.stderr)
  if out:
    atomic.write_bytes(out, json.dumps(report).encode("utf-8"))
  if plot:
    tables.plot_report(report, plot)
  summary = {k: v for k, v in report.items() if k not in ("rde", "stm")}
  for mode in ("rde", "stm"):
    if mode in report:
      summary[mode] = {k: v for k, v in report[mode].items() if k != "series"}
  print(json.dumps(summary, indent=1))


def run() -> None:
  define_flags()
  app.run(main)


if __name__ == "__main__":
  run()
