"""Stage 3 (after stage 0, no BL30K): DAVIS-2017 train x5 + YouTube-VOS 2019; gives model_s03.

    python train.py --config configs/stage3.py --workdir gs://BUCKET/rde/s03 \\
        --config.init.checkpoint=gs://BUCKET/rde/s0/model --config.data.tfds_dir=gs://BUCKET/tfds

Official (SPEC §5.4): 2 GPUs x 4 = global batch 8, lr 2e-5, 150k iterations, LR x0.1 at 125k,
warm-up 20k -> 70k, lambdas 10/10/10. Sized for a TPU v4-8: about 1.5 days.
Reproduces: DAVIS-17 val J&F 84.2 (users measured 82.1 with the released s03 weights, 83.6 after
retraining), DAVIS-16 val 91.1, DAVIS-17 test-dev 77.4, YouTube-VOS 2019 val 81.9 (SPEC §8, §9).
"""

import ml_collections

from rde_jax.train.config import base_config


def get_config(variant: str = "") -> ml_collections.ConfigDict:
  c = base_config()
  c.eval.source = "davis"
  if variant:
    raise ValueError(f"unknown variant {variant!r}")
  return c
