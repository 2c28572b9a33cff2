r"""DAVIS 2016 val (20 sequences, one object each: every object id merged into one).

  python eval.py --config configs/davis2016_val.py --workdir /tmp/rde_d16_val \
      --config.checkpoint=models/model_s012_final --config.dataset.root=/data/DAVIS

The dataset root is the DAVIS-2017 trainval folder (it holds ImageSets/2016/val.txt), as in the
official eval_davis_2016.py. Checkpoint: model_s012_final.pth (converted with
`python -m rde_jax.convert`). Official J&F to reproduce (the official README): 91.6 (J 90.0, F 93.2)
with model_s012_final; 91.1 (J 89.7, F 92.5) with model_s03_final; paper FPS 35.0.
Protocol: mem_every 3, top_k 40 (the official script's docstring and the README command use
`--top 40`; its argparse default is 20). The other setting:

  python eval.py --config configs/davis2016_val.py:top20 --workdir /tmp/rde_d16_val_top20 \
      --config.checkpoint=models/model_s012_final --config.dataset.root=/data/DAVIS

J&F is scored with the 2016 rules (any non-zero pixel is the object, mean over sequences).
Masks are written as the official script writes them: 8-bit grayscale PNGs, 0 / 255
(tools that threshold at 128 read them; `python -m rde_jax.score_davis --year 2016` reads both
these and palette PNGs).
Smoke test: --config configs/davis2016_val.py:runlocal
"""

from rde_jax.evaluation import config as config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset.kind = "davis"
  c.dataset.year = "2016"
  c.dataset.split = "val"
  # mem_every 3, top_k 40: the defaults (rde_jax/inference/settings.py)
  if arg == "top20":
    c.top_k = 20
  elif arg == "runlocal":
    config_lib.runlocal(c)
  elif arg:
    raise ValueError(f"unknown config variant {arg!r} (expected 'top20' or 'runlocal')")
  return c
