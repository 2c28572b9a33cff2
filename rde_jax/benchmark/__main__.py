"""`python -m rde_jax.benchmark` (and `rde-benchmark`): the inference speed benchmark.

    python -m rde_jax.benchmark --out bench.json                      # official, 480x864, K=2
    python -m rde_jax.benchmark --config=configs/benchmark.py:long --plot long.png

The default --config is rde_jax/benchmark/config.py (inside the package). Every field is checked
before any work (`config.validate`); errors are one line (`error: ...`), as in every command.
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags
from ml_collections import config_flags

from rde_jax import cli, cpu_settings
from rde_jax.benchmark import config as config_lib

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.py")


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
  """The command-line flags (defined only when the command runs)."""
  config_flags.DEFINE_config_file(
      "config", CONFIG, "benchmark settings (configs/benchmark.py[:preset]); --config.FIELD=...",
      lock_config=True, flag_values=fv)
  flags.DEFINE_string("out", None, "JSON path (overrides config.out)", flag_values=fv)
  flags.DEFINE_string("plot", None, "PNG path (overrides config.plot)", flag_values=fv)


def main(argv: list[str], fv: flags.FlagValues = flags.FLAGS) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cfg = fv.config
  with cfg.unlocked():
    cfg.out, cfg.plot = fv.out or cfg.out, fv.plot or cfg.plot
  config_lib.validate(cfg)  # before the first second of work (and before JAX starts)
  # Before anything starts the JAX backend; 'auto' picks the training flags in training mode.
  cpu_settings.apply(cfg.cpu_flags, purpose="train" if cfg.mode == "train" else "inference")
  from rde_jax.benchmark import run as bench_run
  from rde_jax.benchmark import tables
  from rde_jax.fileio import atomic
  if cfg.mode == "train":
    from rde_jax.benchmark import train_run
    report = train_run.run(cfg)
    print(train_run.table(report), file=sys.stderr)
    if cfg.out:
      atomic.write_bytes(cfg.out, json.dumps(report).encode("utf-8"))
    print(json.dumps(report, indent=1))
    return 0
  report = bench_run.run(cfg)
  print(tables.table(report), file=sys.stderr)
  if cfg.out:
    atomic.write_bytes(cfg.out, json.dumps(report).encode("utf-8"))
  if cfg.plot:
    tables.plot_report(report, cfg.plot)
  summary = {k: v for k, v in report.items() if k not in ("rde", "stm")}
  for mode in ("rde", "stm"):
    if mode in report:
      summary[mode] = {k: v for k, v in report[mode].items() if k != "series"}
  print(json.dumps(summary, indent=1))
  return 0


def run() -> None:
  """`python -m rde_jax.benchmark` and the `rde-benchmark` console script."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
