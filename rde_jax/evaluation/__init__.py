"""Benchmark evaluation behind eval.py: DAVIS 2016/2017 and YouTube-VOS 2019.

    summary = rde_jax.evaluation.run(config, workdir)   # config: configs/<benchmark>.py

Modules: `config` (fields and validation), `runner` (resumable per-video loop, devices,
summary), `davis` and `youtube` (the benchmarks), `multibank` (YouTube-VOS per-object banks).
"""

from __future__ import annotations

from typing import Any


def run(config: Any, workdir: Any) -> dict:
  """Evaluates `config` into `workdir` (see `rde_jax.evaluation.runner.run`)."""
  from rde_jax.evaluation import runner
  return runner.run(config, workdir)
