"""Stage 2 (after stage 1): DAVIS-2017 train x5 + YouTube-VOS 2019 train; gives model_s012.

    python train.py --config configs/stage2.py --workdir gs://BUCKET/rde/s012 \\
        --config.init.checkpoint=gs://BUCKET/rde/s01/model --config.data.tfds_dir=gs://BUCKET/tfds

Official README command (SPEC §5.4): 2 GPUs x 8 = global batch 16, lr 2e-5, 75k iterations, LR
x0.1 at 62.5k, warm-up 5k -> 17.5k, lambdas 5/5/5 (the paper: 10/10/10, set
--config.lambda_mc=10 ...). Sized for a TPU v4-16 (global batch 16): about a day.
Reproduces (with stage 0 -> 1 -> 2): DAVIS-17 val J&F 86.1 (author re-run 85.7), DAVIS-16 val
91.6, DAVIS-17 test-dev 78.9, YouTube-VOS 2019 val 83.3 (SPEC §8).
"""

import ml_collections

from rde_jax.train.config import base_config


def get_config(variant: str = "") -> ml_collections.ConfigDict:
  c = base_config()
  c.stage = 2
  c.data.sources = "davis+youtube"
  c.batch_size = 16
  c.num_steps = 75_000
  c.lr = 2e-5
  c.lr_steps = (62_500,)
  c.start_warm = 5_000
  c.end_warm = 17_500
  c.lambda_mc = c.lambda_f2 = c.lambda_f4 = 5.0
  c.eval.source = "davis"
  if variant:
    raise ValueError(f"unknown variant {variant!r}")
  return c
