"""Drift of each precision preset (float32, official, fast) against float32 on the demo videos.

    python train.py --config configs/synthetic.py --workdir /tmp/rde_demo    # the demo, first
    python benchmarks/dtype_drift.py --workdir /tmp/rde_demo
    python benchmarks/dtype_drift.py --random tiny                # no trained model: random weights
    python benchmarks/dtype_drift.py --random official --num_videos 2   # the official architecture

Segments the demo's held-out synthetic videos (the same `eval_videos` the demo scores, 96x96,
20 frames, 1-3 objects) with each preset of `InferenceSettings` (rde_jax/inference/settings.py)
and prints, as JSON: J&F (DAVIS-2017 rules), the largest probability difference to float32,
and the labels that change (pixels whose argmax differs from float32's, and frames holding any).
Random weights give meaningless J&F and many near-ties between objects, so their label changes
are an upper bound of what a trained model shows.
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
from rde_jax.inference.settings import PRESETS  # noqa: E402
from rde_jax.metrics import davis_scores  # noqa: E402
from rde_jax.model import architectures  # noqa: E402
from rde_jax.model.architectures import Arch  # noqa: E402
from rde_jax.model.network import init_variables  # noqa: E402
from rde_jax.train import inputs  # noqa: E402


def _variables(args: argparse.Namespace):
  if args.workdir:
    return rde_jax.load(args.workdir).variables, f"trained model {args.workdir}"
  if args.random == "tiny":
    return init_variables(Arch.from_config(architectures.tiny()), 0), "random tiny weights"
  # The official architecture with the parity tests' weights (../shared/reference recipe:
  # fan-in scaled convolutions and non-trivial BatchNorm statistics). `init_variables` is not
  # used here: its identity BatchNorm statistics let a deep random ResNet's activations grow
  # past float16's range.
  sys.path.insert(0, os.path.join(ROOT, "tests"))
  import reference_data  # noqa: E402
  from rde_jax import convert  # noqa: E402
  return (convert.from_torch_state_dict(reference_data.official_state_dict()),
          "random official-architecture weights (the parity tests' recipe)")


def _segment(variables, frames: np.ndarray, first: np.ndarray, preset: str, cfg) -> np.ndarray:
  """(T,K+1,H,W) probabilities under `preset` (dtype and convolution algorithm)."""
  settings = inference.InferenceSettings.from_preset(preset, mem_every=cfg.eval.mem_every,
                                                     top_k=cfg.eval.top_k)
  return inference.segment_video(variables, frames, first, settings)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", help="the demo's training workdir (a trained model)")
  p.add_argument("--random", choices=("tiny", "official"),
                 help="random weights of this architecture instead of a trained model")
  p.add_argument("--config", default=os.path.join(ROOT, "configs", "synthetic.py"))
  p.add_argument("--num_videos", type=int, default=0, help="first N eval videos (0: all)")
  args = p.parse_args()
  if bool(args.workdir) == bool(args.random):
    p.error("pass --workdir (a trained model) or --random tiny|official")
  spec = importlib.util.spec_from_file_location("cfg", args.config)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  cfg = module.get_config()
  variables, source = _variables(args)
  videos = inputs.eval_videos(cfg)[:args.num_videos or None]
  out, ref = {}, {}
  for preset in PRESETS:  # float32 first: the reference
    results, drift, changed, pixels, frames_changed, frames_total = [], 0.0, 0, 0, 0, 0
    nonfinite = 0
    for v in videos:
      frames, gt = np.asarray(v["frames"]), np.asarray(v["labels"])
      probs = _segment(variables, frames, gt[0], preset, cfg)
      labels = probs.argmax(1).astype(np.uint8)
      nonfinite += int((~np.isfinite(probs)).sum())
      if preset == "float32":
        ref[v["name"]] = (probs, labels)
      else:
        drift = max(drift, float(np.nanmax(np.abs(probs - ref[v["name"]][0]))))
        diff = labels != ref[v["name"]][1]
        changed += int(diff.sum())
        frames_changed += int(diff.reshape(len(diff), -1).any(1).sum())
      pixels += labels.size
      frames_total += len(labels)
      results.append(davis_scores.evaluate_sequence(gt, labels, name=str(v["name"])))
    scores = davis_scores.global_scores(results)
    out[preset] = {**PRESETS[preset], "J&F": round(scores["J&F-Mean"], 4),
                   "J": round(scores["J-Mean"], 4), "F": round(scores["F-Mean"], 4),
                   "max_prob_diff_vs_float32": float(f"{drift:.3g}"),
                   "labels_changed": changed, "labels_changed_fraction": changed / pixels,
                   "frames_with_changed_labels": f"{frames_changed}/{frames_total}",
                   "nonfinite_probabilities": nonfinite}
  print(json.dumps({"weights": source, "videos": len(videos), **out}, indent=1))


if __name__ == "__main__":
  main()
