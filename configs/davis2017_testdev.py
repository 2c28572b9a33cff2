r"""DAVIS 2017 test-dev (30 sequences; first-frame annotations only: scored by the server).

  python eval.py --config configs/davis2017_testdev.py --workdir /tmp/rde_d17_testdev \
      --config.checkpoint=models/model_s012_final --config.dataset.root=/data/DAVIS-test-dev

Checkpoint: model_s012_final.pth (converted with `python -m rde_jax.convert`).
Official J&F to reproduce (the official README): 78.9 (J 74.9, F 82.9) with model_s012_final
(the README prints F 92.9, a typo); 77.4 (J 73.6, F 81.2) with model_s03_final; the author's
re-run gave 79.2. Same protocol as val: 480p, mem_every 3, top_k 40.
Upload <workdir>/submission.zip (<seq>/<frame>.png) to the DAVIS challenge server.
Smoke test: --config configs/davis2017_testdev.py:runlocal
"""

from rde_jax.evaluation import config as config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset.kind = "davis"
  c.dataset.year = "2017"
  c.dataset.split = "test-dev"
  # mem_every 3, top_k 40: the defaults (rde_jax/inference/settings.py)
  c.zip = True
  if arg == "runlocal":
    config_lib.runlocal(c)
  elif arg:
    raise ValueError(f"unknown config variant {arg!r} (expected 'runlocal')")
  return c
