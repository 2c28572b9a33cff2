r"""YouTube-VOS 2019 valid (507 videos; objects may appear after the first frame).

  python eval.py --config configs/youtube2019_valid.py --workdir /tmp/rde_yt19 \
      --config.checkpoint=models/model_s012_final_yv --config.dataset.root=/data/YouTube2019

The root holds valid/ (JPEGImages, Annotations, meta.json) and valid_all_frames/JPEGImages
(every frame; the official eval reads all frames and writes the ones meta.json lists).
Checkpoint: model_s012_final_yv.pth (converted with `python -m rde_jax.convert`).
Official scores to reproduce (the official README): G 83.3 (J_s 81.9, F_s 86.3, J_u 78.0,
F_u 86.9) with model_s012_final_yv; 81.9 with the s03 model; the DAVIS model gives 83.0.
Protocol: short side 480 (PyTorch bicubic), mem_every 4, top_k 20, one memory bank per object.
Upload <workdir>/submission.zip (Annotations/<vid>/<frame>.png) to the CodaLab server.
Shape buckets (opt-in, slightly different numerics): e.g.
--config.shape_buckets="((480,864),(864,480),(480,656))".
Smoke test: --config configs/youtube2019_valid.py:runlocal
"""

from rde_jax.evaluation import config as config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset.kind = "youtube"
  c.dataset.split = "valid"
  c.dataset.frames_split = "valid_all_frames"
  c.dataset.short_side = 480
  c.mem_every = 4
  c.top_k = 20
  c.zip = True
  if arg == "runlocal":
    config_lib.runlocal(c)
    c.dataset.short_side = 64  # the test videos' size: no resize (tests cover resizing apart)
  elif arg:
    raise ValueError(f"unknown config variant {arg!r} (expected 'runlocal')")
  return c
