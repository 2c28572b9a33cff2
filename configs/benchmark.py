"""Configs of the inference speed benchmark (`python -m rde_jax.benchmark`).

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

import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The benchmark settings for the preset `arg` (None/'default', 'long', 'long_tiny',
  'runlocal' = 'test')."""
  preset = {None: "default", "": "default", "runlocal": "test"}.get(arg, arg)
  c = ml_collections.ConfigDict()
  c.arch = "official"  # rde_jax.model.architectures name: official | tiny
  c.height = 480  # frame size, multiples of 16 (DAVIS 480x854 pads to 480x864)
  c.width = 864
  c.num_objects = 2
  c.num_frames = 40  # video length including the annotated first frame
  c.distinct_frames = 8  # synthetic frames generated, then cycled (content does not change cost)
  c.modes = "rde"  # comma list of: rde (official two-frames-compress), stm (growing baseline)
  c.dtype = "float32"  # float32 | bfloat16 | float16 (compute dtype of the network)
  c.precision = "default"  # jax_default_matmul_precision: default | high | highest
  c.conv_algorithm = "auto"  # 3x3 convs: auto (Winograd on the CPU) | direct | winograd
  c.mem_every = 3
  c.top_k = 40
  c.chunk = 1  # frames per jitted call (the RDE scan); latency = call time / chunk
  c.warmup = 3  # frames after the first left out of the summary statistics
  c.stm_grow_slots = 8  # STM capacity step in frames: one recompilation per step
  c.stm_max_frames = 0  # STM video length (0: num_frames); its cost grows, so it may be capped
  c.stages = True  # also time encode_key / read / decode / value / SAM, jitted separately
  c.stage_repeats = 3
  c.peak = True  # with stages: measure the float32/bfloat16 matmul peak (roofline fractions)
  c.cpu_flags = "auto"  # XLA:CPU flags: auto (rde_jax.cpu_settings) | none | '--xla_... ...'
  c.window = 30  # flatness: median latency of frames [50, 50+window) vs the last `window`
  c.quiet_wait_s = 0.0  # before timing each mode, wait up to this long for other processes
  c.seed = 0
  c.out = ""  # JSON path ('' = stdout only)
  c.plot = ""  # PNG path of latency and memory against frame index ('' = no plot)
  if preset in ("long", "long_tiny"):
    c.arch = "official" if preset == "long" else "tiny"
    c.height, c.width = 128, 128
    c.num_frames = 5000
    c.modes = "rde,stm"
    c.stm_grow_slots = 64
    c.stm_max_frames = 2000 if preset == "long" else 0
    c.stages = False
    c.window = 90
  elif preset == "test":
    c.arch = "tiny"
    c.height, c.width = 64, 96
    c.num_frames = 14
    c.distinct_frames = 4
    c.modes = "rde,stm"
    c.warmup = 1
    c.stm_grow_slots = 2
    c.top_k = 20
    c.stage_repeats = 1
    c.peak = False
    c.window = 4
  elif preset != "default":
    raise ValueError(f"unknown preset {arg!r}; expected default, long, long_tiny or runlocal")
  return c
