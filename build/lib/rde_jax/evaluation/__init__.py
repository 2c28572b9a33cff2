"""Benchmark evaluation behind eval.py: DAVIS 2016/2017 and YouTube-VOS 2019.

    summary = rde_jax.evaluation.run(config, workdir)   # config: configs/<benchmark>.py

Modules: `config` (fields and validation), `runner` (resumable per-video loop, devices,
summary), `davis`, `youtube` and `generic` (the benchmarks). Propagation itself is
`rde_jax.inference`; outputs are written by `rde_jax.fileio.video_outputs`.
"""

from __future__ import annotations

from typing import Any


def run(config: Any, workdir: Any) -> dict:
  """Evaluates `config` into `workdir` (see `rde_jax.evaluation.runner.run`)."""
  from rde_jax.evaluation import davis, generic, runner, youtube
  tasks = {"davis": davis.DavisTask, "youtube": youtube.YouTubeTask,
           "generic": generic.GenericTask}
  return runner.run(config, workdir, lambda cfg, wd: tasks[cfg.dataset.kind](cfg, wd))
