"""J&F and probability drift of float16 and bfloat16 against float32 on the trained demo model.

    python train.py --config configs/synthetic.py --workdir /tmp/rde_demo    # the demo, first
    python benchmarks/dtype_drift.py --workdir /tmp/rde_demo [--config configs/synthetic.py]

Segments the demo's held-out synthetic videos (the same `eval_videos` the demo scores) with each
compute dtype and prints J&F (DAVIS-2017 rules) and the largest probability difference to
float32, as JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import rde_jax  # noqa: E402
from rde_jax import inference  # noqa: E402
from rde_jax.metrics import davis_scores  # noqa: E402
from rde_jax.train import inputs  # noqa: E402


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True, help="the demo's training workdir")
  p.add_argument("--config", default=os.path.join(ROOT, "configs", "synthetic.py"))
  args = p.parse_args()
  spec = importlib.util.spec_from_file_location("cfg", args.config)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  cfg = module.get_config()
  model = rde_jax.load(args.workdir)
  videos = inputs.eval_videos(cfg)
  out, ref = {}, {}
  for dtype in ("float32", "float16", "bfloat16"):
    results, drift = [], 0.0
    for v in videos:
      frames, gt = np.asarray(v["frames"]), np.asarray(v["labels"])
      probs = inference.segment_video(model.variables, frames, gt[0],
                                      inference.InferenceSettings(
                                          mem_every=cfg.eval.mem_every, top_k=cfg.eval.top_k,
                                          dtype=dtype))
      if dtype == "float32":
        ref[v["name"]] = probs
      else:
        drift = max(drift, float(np.abs(probs - ref[v["name"]]).max()))
      results.append(davis_scores.evaluate_sequence(gt, probs.argmax(1).astype(np.uint8),
                                                    name=str(v["name"])))
    scores = davis_scores.global_scores(results)
    out[dtype] = {"J&F": round(scores["J&F-Mean"], 4), "J": round(scores["J-Mean"], 4),
                  "F": round(scores["F-Mean"], 4), "max_prob_diff_vs_float32": round(drift, 5)}
  print(json.dumps({"videos": len(videos), **out}, indent=1))


if __name__ == "__main__":
  main()
