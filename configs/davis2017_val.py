r"""DAVIS 2017 val (30 sequences, 59 objects) with the official protocol.

  python eval.py --config configs/davis2017_val.py --workdir /tmp/rde_d17_val \
      --config.checkpoint=models/model_s012_final --config.dataset.root=/data/DAVIS

Checkpoint: model_s012_final.pth, converted with
`python -m rde_jax.convert --input model_s012_final.pth --output models/model_s012_final`.
Official J&F to reproduce (the official README): 86.1 (J 82.1, F 90.0) with model_s012_final;
84.2 (J 80.8, F 87.5) with model_s03_final (users measured 82.1 with the released s03 file;
the author's re-run of the s012 code gave 85.7). FPS in the paper: 27.0 (GPU not stated).
Protocol: 480p, mem_every 3, top_k 40, all objects in one memory, official padding. The
official runs used AMP: --config.dtype=float16 reproduces that (bfloat16 is the TPU choice).
Writes <workdir>/results/<seq>/<frame>.png, global_results-val.csv and
per-sequence_results-val.csv there, and <workdir>/summary.json.
Smoke test with the tiny architecture: --config configs/davis2017_val.py:runlocal
"""

from rde_jax.evaluation import config as config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset.kind = "davis"
  c.dataset.year = "2017"
  c.dataset.split = "val"
  # mem_every 3, top_k 40: the defaults (rde_jax/inference/settings.py)
  if arg == "runlocal":
    config_lib.runlocal(c)
  elif arg:
    raise ValueError(f"unknown config variant {arg!r} (expected 'runlocal')")
  return c
