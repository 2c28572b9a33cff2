"""J&F and probability drift of Winograd 3x3 convolutions against direct ones, trained demo model.

    python train.py --config configs/synthetic.py --workdir /tmp/rde_demo    # the demo, first
    python benchmarks/conv_drift.py --workdir /tmp/rde_demo                  # demo videos
    python benchmarks/conv_drift.py --workdir /tmp/rde_demo --height 480 --width 864 --videos 3

Segments the demo's held-out synthetic videos (or `--videos` new synthetic videos of the given
size) with `conv_algorithm` 'direct' and 'winograd' and prints, as JSON, J&F (DAVIS-2017 rules)
of both, the largest and the mean probability difference and the share of pixels whose label
changes. At the demo's small frames no convolution passes the size thresholds of
`rde_jax.model.conv_algorithm`, so there they are lowered to 0 (`--all_convs`, the default when
no size is given): every 3x3 stride-1 convolution runs as Winograd, the worst case.
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
from rde_jax.data.synthetic import generate_video  # noqa: E402
from rde_jax.metrics import davis_scores  # noqa: E402
from rde_jax.model import conv_algorithm  # noqa: E402
from rde_jax.train import inputs  # noqa: E402


def _videos(args: argparse.Namespace, cfg) -> list[tuple[str, np.ndarray, np.ndarray]]:
  if not args.height:
    return [(str(v["name"]), np.asarray(v["frames"]), np.asarray(v["labels"]))
            for v in inputs.eval_videos(cfg)]
  out = []
  for i in range(args.videos):
    frames, labels = generate_video(1000 + i, height=args.height, width=args.width,
                                    num_frames=args.frames, min_objects=2, max_objects=3)
    out.append((f"synthetic{i}", np.asarray(frames), np.asarray(labels)))
  return out


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True, help="the demo's training workdir")
  p.add_argument("--config", default=os.path.join(ROOT, "configs", "synthetic.py"))
  p.add_argument("--height", type=int, default=0, help="0: the demo's own held-out videos")
  p.add_argument("--width", type=int, default=0)
  p.add_argument("--videos", type=int, default=3)
  p.add_argument("--frames", type=int, default=10)
  p.add_argument("--all_convs", type=int, default=-1,
                 help="1: every 3x3 conv Winograd (thresholds 0); default: 1 without --height")
  args = p.parse_args()
  spec = importlib.util.spec_from_file_location("cfg", args.config)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  cfg = module.get_config()
  if args.all_convs == 1 or (args.all_convs == -1 and not args.height):
    conv_algorithm.MIN_CHANNELS = conv_algorithm.MIN_PIXELS = 0
  model = rde_jax.load(args.workdir)
  videos = _videos(args, cfg)
  out, ref = {}, {}
  for algorithm in ("direct", "winograd"):
    results, worst, mean, flipped, pixels = [], 0.0, 0.0, 0, 0
    settings = inference.InferenceSettings(mem_every=cfg.eval.mem_every, top_k=cfg.eval.top_k,
                                           conv_algorithm=algorithm)
    for name, frames, gt in videos:
      probs = inference.segment_video(model.variables, frames, gt[0], settings)
      if algorithm == "direct":
        ref[name] = probs
      else:
        d = np.abs(probs - ref[name])
        worst, mean = max(worst, float(d.max())), mean + float(d.mean()) / len(videos)
        flipped += int(np.sum(probs.argmax(1) != ref[name].argmax(1)))
        pixels += probs[:, 0].size
      results.append(davis_scores.evaluate_sequence(gt, probs.argmax(1).astype(np.uint8),
                                                    name=name))
    scores = davis_scores.global_scores(results)
    out[algorithm] = {"J&F": round(scores["J&F-Mean"], 5), "J": round(scores["J-Mean"], 5),
                      "F": round(scores["F-Mean"], 5)}
    if algorithm != "direct":
      out[algorithm].update(max_prob_diff=float(f"{worst:.3g}"), mean_prob_diff=float(f"{mean:.3g}"),
                            labels_changed=f"{flipped}/{pixels}")
  print(json.dumps({"videos": len(videos), "size": [int(x) for x in videos[0][1].shape[1:3]],
                    "thresholds": [conv_algorithm.MIN_CHANNELS, conv_algorithm.MIN_PIXELS],
                    **out}, indent=1))


if __name__ == "__main__":
  main()
