"""The demo: tiny RDE-VOS trained on the procedurally generated synthetic_vos videos on a CPU.

    python train.py --config configs/synthetic.py --workdir /tmp/rde_demo

Measured here on the 2-core development machine: 4 min 6 s for the command above in a fresh
clone (README). It trains the tiny architecture from scratch (stage-3 two-branch training: STM
and RDE/SAM branches, mask-consistency and guidance KL terms), then J&F on 16 held-out synthetic
videos, palette PNG masks and overlay GIFs under WORKDIR/eval. No downloads. Differences from
the official video stages, because the model starts from scratch and must learn in minutes:
equal frame weights instead of 1/16..1/2 and plain cross-entropy (bootstrapping off), lr 1e-3,
96x96 videos with 64x64 crops.
`:runlocal` is the seconds-long variant the tests run.
"""

import ml_collections

from rde_jax.train.config import base_config


def get_config(variant: str = "") -> ml_collections.ConfigDict:
  c = base_config()
  c.arch = "tiny"
  c.seed = 0
  c.data.sources = "synthetic"
  c.data.crop_size = 64
  c.data.crop_scale = (0.5, 1.0)
  c.data.synthetic_videos = 512
  c.data.synthetic_size = 96
  c.data.synthetic_frames = 20
  c.data.max_skip = 3
  c.batch_size = 8
  c.num_steps = 1000
  c.lr = 1e-3
  c.lr_steps = (800,)
  c.start_warm = 10**9  # plain cross-entropy throughout
  c.end_warm = 10**9 + 1
  c.equal_frame_weights = True
  c.lambda_mc = 10.0
  c.lambda_f2 = 10.0
  c.lambda_f4 = 10.0
  c.log_every = 100
  c.checkpoint_every = 500
  c.eval_every = 0
  c.eval.num_videos = 16
  c.eval.mem_every = 3
  c.eval.top_k = 20
  c.eval.write_outputs = True
  if variant == "runlocal":
    c.data.synthetic_videos = 8
    c.data.synthetic_size = 48
    c.data.synthetic_frames = 8
    c.data.crop_size = 32
    c.batch_size = 2
    c.num_steps = 4
    c.lr_steps = (3,)
    c.start_warm = 1
    c.end_warm = 3
    c.log_every = 1
    c.checkpoint_every = 2
    c.eval.num_videos = 2
  elif variant:
    raise ValueError(f"unknown variant {variant!r} (expected '' or 'runlocal')")
  return c
