"""Stage 1: BL30K (synthetic Blender videos) after stage 0, 5 frames, 2 objects, RDE/SAM on.

    python train.py --config configs/stage1.py --workdir gs://BUCKET/rde/s01 \\
        --config.init.checkpoint=gs://BUCKET/rde/s0/model --config.data.tfds_dir=gs://BUCKET/tfds

Official (SPEC §5.4): 2 GPUs x 4 = global batch 8, lr 1e-5, 500k iterations, LR x0.1 at 400k,
warm-up 20k -> 70k, lambdas 10/10/10, crop scale (0.25, 1), skip curriculum with BL30K fractions.
Sized for a TPU v4-8 (global batch 8): several days. BL30K must be converted to the video TFDS
layout (a `youtube_vos_2019`-style folder; no builder ships for it yet). Reproduces: the s01
checkpoint that stage 2 starts from.
"""

import ml_collections

from rde_jax.train.config import base_config


def get_config(variant: str = "") -> ml_collections.ConfigDict:
  c = base_config()
  c.stage = 1
  c.data.sources = "youtube"  # point tfds_dir at BL30K converted to this layout
  c.data.crop_scale = (0.25, 1.0)
  c.batch_size = 8
  c.num_steps = 500_000
  c.lr = 1e-5
  c.lr_steps = (400_000,)
  c.start_warm = 20_000
  c.end_warm = 70_000
  if variant:
    raise ValueError(f"unknown variant {variant!r}")
  return c
