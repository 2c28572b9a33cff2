r"""Any folder of videos (long ones included) in DAVIS layout, without ImageSets.

  python eval.py --config configs/generic.py --workdir /tmp/rde_generic \
      --config.checkpoint=models/model_s012_final --config.dataset.root=/data/long_videos

The root holds JPEGImages/<sequence>/*.jpg and Annotations/<sequence>/*.png: every sequence
folder is segmented from the annotation of its first frame (the official eval_generic.py
protocol, e.g. for the long-video benchmark; that script no longer runs). Outputs: DAVIS
palette PNGs <workdir>/results/<seq>/<frame>.png, J&F (DAVIS-2017 rules, CSVs) when every
frame of every sequence has ground truth, and per video in <workdir>/videos/<seq>.json the
memory (RSS before/after), seconds per frame and FPS. Rerunning with the same workdir resumes.
Protocol: native size, mem_every 3, top_k 40, the paper's two-frames-compress memory (constant
size however long the video); --config.memory_mode=stm for the growing STCN-style bank.
Smoke test with the tiny architecture: --config configs/generic.py:runlocal
"""

from rde_jax.evaluation import config as config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset.kind = "generic"
  c.dataset.resolution = ""  # JPEGImages/<seq>, no 480p level
  # mem_every 3, top_k 40, two-frames-compress: the defaults (rde_jax/inference/settings.py)
  if arg == "runlocal":
    config_lib.runlocal(c)
  elif arg:
    raise ValueError(f"unknown config variant {arg!r} (expected 'runlocal')")
  return c
