"""Evaluation config fields (shared by configs/*.py) and their validation.

Configs are ml_collections ConfigDicts loaded by eval.py with
`config_flags.DEFINE_config_file('config', lock_config=True)`; override any field on the command
line, e.g. `--config.dataset.root=/data/DAVIS --config.dtype=bfloat16`.
"""

from __future__ import annotations

import ml_collections

from rde_jax import validate as checks
from rde_jax.errors import UserError
from rde_jax.fileio import storage
from rde_jax.inference.settings import InferenceSettings


class ConfigError(UserError, ValueError):
  """An invalid evaluation config field."""


def base_config() -> ml_collections.ConfigDict:
  """Every field with its default (the official DAVIS-17 val protocol)."""
  c = ml_collections.ConfigDict()
  c.arch = "official"  # architecture the checkpoint must have ('official' | 'tiny'); '' = any
  c.checkpoint = ""  # model dir (python -m rde_jax.convert) or a training workdir with model/
  c.dataset = ml_collections.ConfigDict()
  c.dataset.kind = "davis"  # 'davis' | 'youtube' | 'generic'
  c.dataset.root = ""  # DAVIS: the folder with JPEGImages/ Annotations/ ImageSets/;
  #                      YouTube-VOS 2019: the folder with valid/ (and valid_all_frames/)
  c.dataset.year = "2017"  # DAVIS ImageSets/<year>/; 2016 merges all objects into one
  c.dataset.split = "val"  # DAVIS: val | test-dev; YouTube-VOS: valid
  c.dataset.resolution = "480p"  # DAVIS frame/annotation folder
  c.dataset.frames_split = ""  # YouTube-VOS: folder with ALL frames (valid_all_frames); '' = split
  c.dataset.short_side = 0  # resize frames to this short side (YouTube-VOS: 480); 0 = native
  # The inference settings (rde_jax/inference/settings.py, defaults from there): `preset`
  # ('' = none; 'float32' | 'official' | 'fast') sets dtype and conv_algorithm first, fields
  # changed from their defaults win over it.
  d = InferenceSettings()
  c.preset = ""
  c.mem_every = d.mem_every  # a memory frame (RDE update) every N frames
  c.include_last = d.include_last  # official --include_last: every frame but the last
  # The official MemoryBank modes (docs/evaluation.md): two-frames-compress (the paper's RDE),
  # compress, gt-compress, last-compress, two-frames, gt, last, stm (growing, STCN-style).
  c.memory_mode = d.memory_mode
  c.top_k = d.top_k  # top-k memory read-out
  # compute dtype ('float32' | 'bfloat16' | 'float16' = the paper's AMP); params stay float32
  c.dtype = d.dtype
  c.matmul_precision = "default"  # jax_default_matmul_precision ('default' | 'high' | 'highest')
  # convolutions: 'auto' (Winograd F(4x4,3x3) on the CPU, direct elsewhere), 'direct'
  # (XLA's, the exact sums), 'winograd'; 'highest' matmul precision always runs them direct.
  c.conv_algorithm = d.conv_algorithm
  c.chunk = d.chunk  # frames per device call (lax.scan length); does not change results
  # Padded (H, W) sizes, multiples of 16: a frame is padded to the smallest bucket that holds it
  # (one compilation per bucket instead of per frame size). Padding beyond the official amount
  # changes numerics slightly, so the default () keeps the official padding.
  c.shape_buckets = ()
  c.vis = False  # overlay videos in <workdir>/vis (MP4 with imageio-ffmpeg, else GIF)
  c.vis_max_side = 480
  c.num_videos = 0  # evaluate only the first N videos; 0 = all
  c.videos = ()  # evaluate only these video names; () = all
  c.num_devices = 1  # videos in parallel, one per device; 0 = every local device
  # JAX persistent compilation cache: a folder, 'workdir' (= <workdir>/jax_cache) or '' (off).
  c.compilation_cache = "~/.cache/rde_jax/jax_compilation_cache"
  c.evaluate = True  # DAVIS: compute J&F when every frame has ground truth (val)
  c.zip = False  # also write <workdir>/submission.zip (the evaluation servers' format)
  # YouTube-VOS: write every frame from the first annotation on, not only the frames meta.json
  # lists (the official eval_youtube.py --output_all; the server scores the meta.json ones)
  c.output_all = False
  return c


def runlocal(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Tiny settings for tests and smoke runs (the tiny architecture, small chunks)."""
  c.arch = "tiny"
  c.top_k = 20
  c.num_videos = 0
  c.compilation_cache = ""
  c.vis_max_side = 128
  return c


def validate(c: ml_collections.ConfigDict) -> None:
  """Raises ConfigError / UserError naming the first bad field (before any file is written)."""
  checks.unknown_fields("config", c, base_config())
  if not c.checkpoint:
    raise ConfigError("config.checkpoint is empty: pass --config.checkpoint=MODEL_DIR")
  if not c.dataset.root:
    raise ConfigError("config.dataset.root is empty: pass --config.dataset.root=DATASET_DIR")
  if c.dataset.kind not in ("davis", "youtube", "generic"):
    raise ConfigError("config.dataset.kind must be 'davis', 'youtube' or 'generic', got "
                      f"{c.dataset.kind!r}")
  if str(c.dataset.year) not in ("2016", "2017"):
    raise ConfigError(f"config.dataset.year must be 2016 or 2017, got {c.dataset.year!r}")
  inference_settings(c)
  for b in c.shape_buckets:
    if len(b) != 2 or any(int(x) <= 0 or int(x) % 16 for x in b):
      raise ConfigError(f"config.shape_buckets: {b} is not an (H, W) pair of multiples of 16")
  if int(c.num_devices) < 0 or int(c.num_videos) < 0:
    raise ConfigError("config.num_devices and config.num_videos must be >= 0")
  checks.choice("config.arch", c.arch, ("",) + checks.ARCHES)
  checks.choice("config.output_all", c.output_all, (False, True))
  checks.choice("config.matmul_precision", c.matmul_precision, checks.PRECISIONS)
  checks.side("config.dataset.short_side", c.dataset.short_side)
  checks.integer("config.vis_max_side", c.vis_max_side, minimum=16)
  checks.existing("config.dataset.root", c.dataset.root, kind="dir")
  checks.model_dir("config.checkpoint", c.checkpoint)


def inference_settings(c: ml_collections.ConfigDict) -> InferenceSettings:
  """The config's InferenceSettings (preset applied; UserError naming the config field)."""
  return InferenceSettings.from_config(c)


def settings(c: ml_collections.ConfigDict) -> dict:
  """The fields that change a video's output (a finished video is reused only if they match)."""
  s = inference_settings(c)
  return {"checkpoint": storage.canonical(c.checkpoint), "arch": c.arch,
          "dataset": c.dataset.to_dict(), "mem_every": s.mem_every, "top_k": s.top_k,
          "memory_mode": s.memory_mode, "include_last": s.include_last,
          "dtype": s.dtype, "matmul_precision": c.matmul_precision,
          "conv_algorithm": s.conv_algorithm,
          "shape_buckets": [list(map(int, b)) for b in c.shape_buckets],
          **({"output_all": True} if c.output_all else {})}  # absent: older records stay valid
