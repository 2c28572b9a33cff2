"""Stage 0: static-image pretraining (3 frames from one image, 1 object, no SAM).

    python train.py --config configs/stage0.py --workdir gs://BUCKET/rde/s0 \\
        --config.data.tfds_dir=gs://BUCKET/tfds \\
        --config.init.resnet50=resnet50-19c8e357.pth --config.init.resnet18=resnet18-5c106cde.pth

Official protocol (SPEC §5.4): 4 GPUs x 16 = global batch 64, lr 2e-5, 75k iterations, LR x0.1 at
37.5k, bootstrapped CE warm-up 5k -> 17.5k, lambda_MC 10; ImageNet ResNet-50/18 initialisation.
Sized for a TPU v4-32 / v5e-64 pod slice (global batch 64, 384^2 crops, float32): expect ~1 day.
Data: build `static_masks/{fss,duts_tr,duts_te,ecssd,big_small,hrsod_small}` first
(rde_jax/data/builders.py). Reproduces: the stage-0 checkpoint the later stages start from
(no benchmark number is reported for it).
"""

import ml_collections

from rde_jax.train.config import base_config


def get_config(variant: str = "") -> ml_collections.ConfigDict:
  c = base_config()
  c.stage = 0
  c.data.sources = "static"
  c.data.num_frames = 3
  c.batch_size = 64
  c.num_steps = 75_000
  c.lr = 2e-5
  c.lr_steps = (37_500,)
  c.start_warm = 5_000
  c.end_warm = 17_500
  c.lambda_mc = 10.0
  c.eval.source = "none"
  if variant == "runlocal":
    c.arch = "tiny"
    c.batch_size, c.num_steps, c.data.crop_size = 2, 2, 32
  elif variant:
    raise ValueError(f"unknown variant {variant!r}")
  return c
