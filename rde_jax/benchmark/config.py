"""Configs of the inference speed benchmark (`python -m rde_jax.benchmark`), and their checks.

This file is the default `--config` of `python -m rde_jax.benchmark` / `rde-benchmark` (it lives
inside the package, so an installed wheel finds it); configs/benchmark.py re-exports it.

    python -m rde_jax.benchmark                                  # official, 480x864, 2 objects
    python -m rde_jax.benchmark --config=configs/benchmark.py:long
    python -m rde_jax.benchmark --config.dtype=bfloat16 --config.num_frames=60

Presets (the part after ':'): `default` (official architecture, DAVIS size, RDE only), `long`
(official architecture at 128x128: RDE over 5,000 frames against the growing STM baseline over
2,000, to check that RDE's latency and memory stay flat; ~10 min on 2 CPU cores), `long_tiny`
(the same with the tiny architecture, both over 5,000 frames; ~3 min, ms-scale frames so more
sensitive to other processes) and `runlocal` (alias `test`: seconds; used by the tests).
"""

from __future__ import annotations

import os
from typing import Any

import ml_collections

from rde_jax import validate as checks
from rde_jax.errors import UserError
from rde_jax.inference.settings import DEFAULT_MEMORY_MODE, InferenceSettings
from rde_jax.model.conv_algorithm import TRAIN_ALGORITHMS as TRAIN_CONV_ALGORITHMS

# Report keys -> memory modes: `rde` is the paper's constant-size memory, `stm` the growing bank.
MODES = {"rde": DEFAULT_MEMORY_MODE, "stm": "stm"}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The benchmark settings for the preset `arg` (None/'default', 'long', 'long_tiny',
  'runlocal' = 'test')."""
  preset = {None: "default", "": "default", "runlocal": "test"}.get(arg, arg)
  d = InferenceSettings()  # the defaults, from their one place
  c = ml_collections.ConfigDict()
  c.arch = "official"  # rde_jax.model.architectures name: official | tiny
  c.height = 480  # frame size, multiples of 16 (DAVIS 480x854 pads to 480x864)
  c.width = 864
  c.num_objects = 2
  c.num_frames = 40  # video length including the annotated first frame
  c.distinct_frames = 8  # synthetic frames generated, then cycled (content does not change cost)
  c.modes = "rde"  # comma list of: rde (official two-frames-compress), stm (growing baseline)
  c.dtype = d.dtype  # float32 | bfloat16 | float16 (compute dtype of the network)
  c.precision = "default"  # jax_default_matmul_precision: default | high | highest
  c.conv_algorithm = d.conv_algorithm  # convs: auto (Winograd on the CPU) | direct | winograd
  c.mem_every = d.mem_every
  c.top_k = d.top_k
  c.chunk = 1  # frames per jitted call (the RDE scan); latency = call time / chunk
  c.warmup = 3  # frames after the first left out of the summary statistics
  c.stm_max_frames = 0  # STM video length (0: num_frames); its cost grows, so it may be capped
  c.stages = True  # also time encode_key / read / decode / value / SAM, jitted separately
  c.stage_repeats = 3
  c.peak = True  # with stages: measure the float32/bfloat16 matmul peak (roofline fractions)
  # XLA:CPU flags (rde_jax.cpu_settings): auto | none | '--xla_... ...' | 'auto --xla_... ...'
  c.cpu_flags = "auto"
  c.window = 30  # flatness: median latency of frames [50, 50+window) vs the last `window`
  c.quiet_wait_s = 0.0  # before timing each mode, wait up to this long for other processes
  c.seed = 0
  # Training mode (`mode='train'`, rde_jax/benchmark/train_run.py; configs/benchmark_train.py):
  # one Trainer step at height x height crops (height = the crop size).
  c.mode = "inference"  # inference | train
  c.train_stage = 2  # 0: 3 frames, 1 object; 2: 5 frames, 2 objects, SAM frames 2 and 4
  c.batch_size = 1  # clips per step
  c.remat = "none"  # rde_jax/train/remat.py policy: none | encoders | all | all_dots
  c.train_conv_algorithm = "auto"  # auto (Winograd on the CPU) | direct | winograd | winograd_forward
  c.train_steps = 3  # timed steps after one warm-up step
  c.compile_only = False  # only compile: XLA's FLOPs and memory estimate, no step is run
  c.out = ""  # JSON path ('' = stdout only)
  c.plot = ""  # PNG path of latency and memory against frame index ('' = no plot)
  if preset in ("long", "long_tiny"):
    c.arch = "official" if preset == "long" else "tiny"
    c.height, c.width = 128, 128
    c.num_frames = 5000
    c.modes = "rde,stm"
    c.stm_max_frames = 2000 if preset == "long" else 0
    c.stages = False
    c.window = 90
  elif preset == "test":
    c.arch = "tiny"
    c.height, c.width = 64, 96
    c.num_frames = 20
    c.distinct_frames = 4
    c.modes = "rde,stm"
    c.mem_every = 2  # 10 memory frames: stm outgrows its first 8 slots
    c.warmup = 1
    c.top_k = 20
    c.stage_repeats = 1
    c.peak = False
    c.window = 4
  elif preset != "default":
    raise UserError(f"--config: unknown preset {arg!r}; expected default, long, long_tiny or "
                    "runlocal")
  return c



def modes(c: Any) -> list[str]:
  """The report keys of `config.modes` ('rde,stm' -> ['rde', 'stm'])."""
  return [m.strip() for m in str(c.modes).split(",") if m.strip()]


def _output_file(name: str, path: str) -> None:
  """'' or a file path whose folder exists and which is not a folder itself."""
  if not path:
    return
  p = os.path.abspath(os.path.expanduser(path))
  if os.path.isdir(p):
    raise UserError(f"{name}: {path} is a folder; give a file path")
  if not os.path.isdir(os.path.dirname(p)):
    raise UserError(f"{name}: {os.path.dirname(p)}: no such folder")


def validate(c: Any) -> InferenceSettings:
  """Checks every field before any work (UserError naming `config.FIELD`); returns the
  InferenceSettings of the `rde` mode."""
  checks.unknown_fields("config", c, get_config())
  checks.choice("config.arch", c.arch, checks.ARCHES)
  for field in ("height", "width"):
    value = checks.integer(f"config.{field}", c[field], minimum=16)
    if value % 16:
      raise UserError(f"config.{field} must be a multiple of 16 (pad like inference.propagate), "
                      f"got {value}")
  checks.integer("config.num_objects", c.num_objects, minimum=1)
  if c.num_objects > 255:
    raise UserError(f"config.num_objects must be <= 255, got {c.num_objects}")
  checks.integer("config.num_frames", c.num_frames, minimum=2, note="the annotated frame + 1")
  checks.integer("config.distinct_frames", c.distinct_frames, minimum=1)
  checks.integer("config.stm_max_frames", c.stm_max_frames, minimum=0, note="0: num_frames")
  if c.stm_max_frames == 1:
    raise UserError("config.stm_max_frames must be 0 (num_frames) or >= 2, got 1")
  checks.integer("config.warmup", c.warmup, minimum=0)
  checks.integer("config.window", c.window, minimum=1)
  checks.integer("config.stage_repeats", c.stage_repeats, minimum=1)
  checks.integer("config.seed", c.seed, minimum=0)
  checks.number("config.quiet_wait_s", c.quiet_wait_s, minimum=0)
  checks.choice("config.precision", c.precision, checks.PRECISIONS)
  unknown = sorted(set(modes(c)) - set(MODES))
  if unknown or not modes(c):
    raise UserError(f"config.modes must be a comma list of {', '.join(MODES)}, got {c.modes!r}")
  checks.choice("config.mode", c.mode, ("inference", "train"))
  checks.choice("config.train_stage", c.train_stage, (0, 2))
  checks.integer("config.batch_size", c.batch_size, minimum=1)
  checks.choice("config.remat", c.remat, checks.REMAT_POLICIES)
  checks.choice("config.train_conv_algorithm", c.train_conv_algorithm, TRAIN_CONV_ALGORITHMS)
  checks.integer("config.train_steps", c.train_steps, minimum=1)
  if c.mode == "train" and c.dtype == "float16":
    raise UserError("config.dtype: the training benchmark runs float32 or bfloat16, got float16")
  _output_file("config.out", c.out)
  _output_file("config.plot", c.plot)
  return InferenceSettings.from_values(
      "config.", mem_every=c.mem_every, top_k=c.top_k, dtype=c.dtype,
      conv_algorithm=c.conv_algorithm, chunk=c.chunk)
