"""Defaults shared by every training config (configs/*.py override what their stage changes)."""

from __future__ import annotations

import ml_collections

from rde_jax.inference.settings import InferenceSettings
from rde_jax.model.conv_algorithm import TRAIN_ALGORITHMS as CONV_ALGORITHMS


def base_config() -> ml_collections.ConfigDict:
  """Field defaults shared by the stage configs (configs/stage*.py set every stage-specific one)."""
  c = ml_collections.ConfigDict()
  c.stage = 3  # 0 = static images (3 frames, 1 object, no SAM); 1-3 = video stages
  c.arch = "official"  # rde_jax.model.architectures name
  c.arch_overrides = ml_collections.ConfigDict()  # e.g. {"value_dim": 128} on top of `arch`
  c.seed = 14159265
  c.dtype = "float32"  # compute dtype: float32, bfloat16 or float16 (parameters stay float32)
  # Memory of the step: a rde_jax/train/remat.py policy (none | encoders | all | all_dots), and
  # the convolutions: auto (Winograd F(4x4,3x3) and 1x1 as matrix products on the CPU, direct on
  # accelerators; with a remat policy Winograd with the direct convolution's gradients, less
  # memory), direct (the official arithmetic everywhere), winograd or winograd_forward.
  c.remat = "none"
  c.conv_algorithm = "auto"
  c.loss_scale_init = 2.0 ** 16  # float16 only: dynamic loss scale, as torch's GradScaler
  c.loss_scale_growth_interval = 2000  # doubles after this many good steps; halves on overflow
  c.compilation_cache = "~/.cache/rde_jax/jax_compilation_cache"  # '' = off

  c.data = ml_collections.ConfigDict()
  c.data.sources = "davis+youtube"  # '+'-joined: synthetic, bl30k, davis, youtube (stage 0: static)
  c.data.tfds_dir = ""  # TFDS data_dir holding the built davis_vos / youtube_vos_2019 /
  #                       bl30k_vos / static_masks datasets (see rde_jax/data/builders.py)
  # Official folders read directly (no build step; rde_jax/data/stage_sources.py); a source
  # whose root is empty comes from tfds_dir.
  # stage 0: static/ (fss/, DUTS-TR/, DUTS-TE/, ecssd/, BIG_small/, HRSOD_small/)
  c.data.static_root = ""
  c.data.bl30k_root = ""  # BL30K/ (JPEGImages/, Annotations/)
  c.data.davis_root = ""  # DAVIS/2017/trainval (JPEGImages/480p/, Annotations/480p/)
  c.data.youtube_root = ""  # the folder holding train_480p/
  c.data.official_subsets = True  # the official DAVIS / YouTube-VOS training lists
  c.data.davis_repeat = 5
  c.data.crop_size = 384
  c.data.num_frames = 5  # 3 for stage 0
  c.data.crop_scale = (0.36, 1.0)
  c.data.num_threads = 2
  c.data.synthetic_videos = 256
  c.data.synthetic_size = 96
  c.data.synthetic_frames = 24
  c.data.max_skip = -1  # -1 = the official curriculum of the stage; else a constant

  c.batch_size = 8  # global batch (split over all devices of all hosts)
  c.num_steps = 150_000
  c.lr = 2e-5
  c.lr_steps = (125_000,)  # MultiStepLR milestones, gamma 0.1
  c.weight_decay = 1e-7  # Adam's coupled L2, as torch.optim.Adam(weight_decay=...)
  c.grad_clip_norm = 0.0  # 0 = off (official: off)
  c.start_warm = 20_000
  c.end_warm = 70_000
  c.top_p = 0.15
  c.lambda_mc = 10.0
  c.lambda_f2 = 10.0
  c.lambda_f4 = 10.0
  c.equal_frame_weights = False  # True: 1/S per frame instead of the official 1/16..1/2
  c.detach_teacher = False

  c.init = ml_collections.ConfigDict()
  c.init.checkpoint = ""  # previous stage: model dir (4-channel value encoder is extended)
  c.init.resnet50 = ""  # ImageNet torchvision resnet50 .pth (key encoder)
  c.init.resnet18 = ""  # ImageNet torchvision resnet18 .pth (value encoder)

  c.log_every = 100
  c.checkpoint_every = 2_500
  c.keep_checkpoints = 3
  c.eval_every = 10_000  # periodic J&F on `eval` videos (0 = only at the end)
  c.eval = ml_collections.ConfigDict()
  c.eval.source = "synthetic"  # synthetic | davis (val split of data.davis_root) | none
  c.eval.num_videos = 8
  # Inference settings of the evaluation (InferenceSettings fields; its defaults otherwise).
  c.eval.mem_every = InferenceSettings.mem_every
  c.eval.top_k = InferenceSettings.top_k
  c.eval.write_outputs = False  # palette PNGs + overlay GIFs of the final evaluation
  return c


def shrink_to_runlocal(c: ml_collections.ConfigDict,
                       num_steps: int = 2) -> ml_collections.ConfigDict:
  """The `runlocal` variant of a stage config: the same code path, seconds on a CPU.

  Tiny architecture, batch 2, a handful of steps on 32x32 crops, checkpoints at the end, logs every
  step, no evaluation; one learning rate (1e-4) and, for the video stages, the paper's loss
  weights, so stages 1-3 compile one identical step. The data still comes from the stage's own
  sources (the tests point the roots at tiny generated folders); only the sizes shrink.
  """
  c.arch = "tiny"
  c.batch_size = 2
  c.num_steps = num_steps
  c.lr = 1e-4
  c.lr_steps = (num_steps - 1,)
  if c.stage != 0:
    c.lambda_mc = c.lambda_f2 = c.lambda_f4 = 10.0
  c.data.crop_size = 32
  c.data.num_threads = 1
  c.start_warm, c.end_warm = 1, num_steps
  c.log_every = 1
  c.checkpoint_every = num_steps
  c.eval_every = 0
  c.eval.source = "none"
  return c


SEED_MAX = 2**31 - 1  # numpy / grain seeds; the held-out videos use seed + 7919 (< 2**32)


def validate(c: ml_collections.ConfigDict) -> None:
  """Raises UserError naming the first bad field (before anything is created or computed)."""
  from rde_jax import validate as v
  v.unknown_fields("config", c, base_config(), skip=("arch_overrides",))
  v.choice("config.stage", c.stage, (0, 1, 2, 3))
  v.choice("config.arch", c.arch, v.ARCHES)
  v.dtype_name("config.dtype", c.dtype, v.TRAIN_DTYPES)
  v.choice("config.remat", c.remat, v.REMAT_POLICIES)
  v.choice("config.conv_algorithm", c.conv_algorithm, CONV_ALGORITHMS)
  d = c.data
  sources = str(d.sources).split("+")
  for s in sources if c.stage != 0 else ():  # stage 0 reads the static image sets
    v.choice("config.data.sources", s, ("synthetic", "bl30k", "davis", "youtube"))
  v.choice("config.eval.source", c.eval.source, ("synthetic", "davis", "none"))
  if d.tfds_dir:
    v.existing("config.data.tfds_dir", d.tfds_dir, kind="dir")
  for root in [k for k in d.keys() if k.endswith("_root")]:
    if d[root]:
      v.existing(f"config.data.{root}", d[root], kind="dir")
  for field, low in (("davis_repeat", 1), ("num_threads", 1), ("synthetic_videos", 1),
                     ("synthetic_size", 16), ("num_frames", 3)):
    v.integer(f"config.data.{field}", d[field], minimum=low)
  crop = v.integer("config.data.crop_size", d.crop_size, minimum=16)
  if crop % 16:
    raise v.UserError(f"config.data.crop_size must be a multiple of 16 (the network's stride), "
                      f"got {crop}")
  v.integer("config.data.synthetic_frames", d.synthetic_frames, minimum=d.num_frames,
            note="config.data.num_frames")
  if d.max_skip != -1:
    v.integer("config.data.max_skip", d.max_skip, minimum=1, note="-1: the stage's curriculum")
  for x in d.crop_scale:
    v.number("config.data.crop_scale", x, above=0, maximum=1)
  if len(d.crop_scale) != 2 or not 0 < d.crop_scale[0] <= d.crop_scale[1] <= 1:
    raise v.UserError(f"config.data.crop_scale must be (low, high) with 0 < low <= high <= 1, "
                      f"got {tuple(d.crop_scale)}")
  v.integer("config.seed", c.seed, minimum=0)
  if c.seed > SEED_MAX:
    raise v.UserError(f"config.seed must be <= {SEED_MAX}, got {c.seed}")
  v.number("config.loss_scale_init", c.loss_scale_init, above=0)
  v.integer("config.loss_scale_growth_interval", c.loss_scale_growth_interval, minimum=1)
  v.integer("config.batch_size", c.batch_size, minimum=1)
  v.integer("config.num_steps", c.num_steps, minimum=1)
  v.number("config.lr", c.lr, above=0)
  for m in c.lr_steps:
    v.integer("config.lr_steps", m, minimum=1)
  for field in ("weight_decay", "grad_clip_norm", "lambda_mc", "lambda_f2", "lambda_f4"):
    v.number(f"config.{field}", c[field], minimum=0)
  v.number("config.top_p", c.top_p, above=0, maximum=1)
  v.integer("config.start_warm", c.start_warm, minimum=0)
  v.integer("config.end_warm", c.end_warm, minimum=c.start_warm, note="config.start_warm")
  for field in ("log_every", "checkpoint_every", "keep_checkpoints"):
    v.integer(f"config.{field}", c[field], minimum=1)
  v.integer("config.eval_every", c.eval_every, minimum=0, note="0: only at the end")
  v.integer("config.eval.num_videos", c.eval.num_videos, minimum=0)
  InferenceSettings.from_config(c.eval, prefix="config.eval.")
  if c.init.checkpoint:
    v.model_dir("config.init.checkpoint", c.init.checkpoint)
  for field in ("resnet50", "resnet18"):
    if c.init[field]:
      v.existing(f"config.init.{field}", c.init[field], kind="file")
  from rde_jax.model import architectures
  a = architectures.get(c.arch)
  try:
    a.update(dict(c.arch_overrides))
    architectures.validate(a)
  except (KeyError, AttributeError, TypeError, ValueError) as e:
    raise v.UserError(f"config.arch_overrides: {e}") from e
