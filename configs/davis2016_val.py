r"""DAVIS 2016 val (20 sequences, one object each: every object id merged into one).

  python eval.py --config configs/davis2016_val.py --workdir /tmp/rde_d16_val \
      --config.checkpoint=models/model_s012_final --config.dataset.root=/data/DAVIS

The dataset root is the DAVIS-2017 trainval folder (it holds ImageSets/2016/val.txt), as in the
official eval_davis_2016.py. Checkpoint: model_s012_final.pth (converted with
`python -m rde_jax.convert`). Official J&F to reproduce (README, SPEC §8): 91.6 (J 90.0, F 93.2)
with model_s012_final; 91.1 (J 89.7, F 92.5) with model_s03_final; paper FPS 35.0.
Protocol: mem_every 3, top_k 40 (the script's docstring; its default is 20, so the exact
official setting is slightly uncertain: try --config.top_k=20). J&F is scored with the 2016
rules (any non-zero pixel is the object, mean over sequences). Masks are written with id 1
(the official script writes 0/255; both score the same).
Smoke test: --config configs/davis2016_val.py:runlocal
"""

from rde_jax.evaluation import config as config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset.kind = "davis"
  c.dataset.year = "2016"
  c.dataset.split = "val"
  c.mem_every = 3
  c.top_k = 40
  if arg == "runlocal":
    config_lib.runlocal(c)
  elif arg:
    raise ValueError(f"unknown config variant {arg!r} (expected 'runlocal')")
  return c
