"""Configs of the training benchmark (`python -m rde_jax.benchmark --config=configs/benchmark_train.py`).

    python -m rde_jax.benchmark --config=configs/benchmark_train.py             # stage 2, 1 clip, 384²
    python -m rde_jax.benchmark --config=configs/benchmark_train.py:stage0      # stage 0, 2 clips
    python -m rde_jax.benchmark --config=configs/benchmark_train.py:official8   # 8 clips, memory only
    python -m rde_jax.benchmark --config=configs/benchmark_train.py:official8 \\
        --config.remat=all --config.dtype=bfloat16

Presets: '' (stage 2 as the official recipe: 5 frames, 2 objects, SAM frames 2 and 4, 384x384
crops, batch 1), `stage0` (3 frames, 1 object, batch 2), `official8` (stage 2 with the official
8 clips per GPU, `compile_only`: XLA's memory estimate with remat 'all', 'auto' convolutions
(on the CPU: Winograd forward, direct gradients) and the memory-optimised XLA:CPU scheduler,
minutes to compile on 2 CPU cores) and
`runlocal` (= test: the tiny model at 32x32, seconds; used by the tests).
"""

import ml_collections

from rde_jax.benchmark.config import get_config as benchmark_config

# XLA:CPU's memory-minimising scheduler (train.py: RDE_JAX_CPU_FLAGS="auto <this flag>").
MEMORY_SCHEDULER_FLAG = "--xla_cpu_scheduler_type=CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = benchmark_config()
  c.mode = "train"
  c.height = c.width = 384
  c.train_stage, c.batch_size = 2, 1
  c.stages = False
  preset = {None: "", "test": "runlocal"}.get(arg, arg)
  if preset == "stage0":
    c.train_stage, c.batch_size = 0, 2
  elif preset == "official8":
    c.batch_size = 8
    c.compile_only = True
    # The setting measured to fit 24 GiB in float32 (benchmarks/RESULTS_training.md): remat
    # 'all' and XLA:CPU's memory-optimised scheduler (without it, remat saves nothing on the CPU);
    # 'auto' convolutions: under remat the CPU's Winograd forward with the direct gradients
    # (17.7 GiB; autodiff's Winograd backward needed 48.2 GiB here), direct on accelerators.
    c.remat = "all"
    c.train_conv_algorithm = "auto"
    c.cpu_flags = "auto " + MEMORY_SCHEDULER_FLAG  # the training flags of this CPU, plus it
  elif preset == "runlocal":
    c.arch = "tiny"
    c.height = c.width = 32
    c.train_steps = 1
    c.peak = False
  elif preset != "":
    raise ValueError(f"unknown preset {arg!r}; expected '', stage0, official8 or runlocal")
  return c
