r"""Per-frame time of an exported artifact (StableHLO through jax.export, ONNX through
onnxruntime on the CPU) against the in-process Engine: same frames, same process, interleaved.

    python benchmarks/export_speed.py                           # official arch, 240x432, K=2
    python benchmarks/export_speed.py --arch tiny --height 480 --width 864 --out speed.json

The model (random weights of --arch, or --checkpoint) is exported once to a temporary folder
(`rde_jax.export.build`, both formats, CPU StableHLO). Then each variant segments the same
synthetic video `--repeats` times, the variants taking turns (the one going first rotates), so all
see the same machine load; every variant runs once before timing (compilation, session set-up).
Per-frame time = model time (`RunStats.model_seconds`: calls and fetching the probabilities, no
frame reading) / frames, median over the repeats.

Also reported: each variant's largest probability difference from the Engine (chunk 8, direct
convolutions), over all frames of the warm-up run.

Variants: the Engine with 8-frame chunks (one lax.scan per chunk, what `segment` runs) and with
1-frame chunks (one call per frame, as the artifact), both with the artifact's direct
convolutions and with 'auto' (Winograd on the CPU); the StableHLO artifact; onnxruntime.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


REFERENCE = "engine chunk 8, direct"  # parity: every variant's probabilities against this one


def _variants(variables: Any, arch: Any, folder: str, labels: Any, args: Any) -> dict:
  from rde_jax import inference
  from rde_jax.export import runtime

  def engine(chunk: int, algorithm: str) -> Callable[[Any, Any], list]:
    settings = inference.InferenceSettings(top_k=args.top_k, mem_every=args.mem_every,
                                           chunk=chunk, conv_algorithm=algorithm)
    e = inference.Engine(variables, arch, settings)

    def go(frames: Any, stats: Any) -> list:
      return [p for _, p in inference.propagate(e, frames, labels, settings, output="probs",
                                                stats=stats)]
    return go

  def artifact(backend: str) -> Callable[[Any, Any], list]:
    a = runtime.load_artifact(folder, backend, verify=False)
    return lambda frames, stats: [p for _, p in a.probs_iter(frames, labels, stats=stats)]

  return {REFERENCE: engine(8, "direct"),
          "engine chunk 1, direct": engine(1, "direct"),
          "engine chunk 8, auto (winograd)": engine(8, "auto"),
          "stablehlo (jax.export)": artifact("stablehlo"),
          "onnxruntime CPU": artifact("onnxruntime")}


def run(args: argparse.Namespace) -> dict[str, Any]:
  import jax
  import numpy as np
  from rde_jax import checkpoint, inference
  from rde_jax.data.synthetic import generate_video
  from rde_jax.export import build
  from rde_jax.inference.settings import InferenceSettings
  from rde_jax.model import architectures
  from rde_jax.model.architectures import Arch
  from rde_jax.model.network import init_variables

  if args.checkpoint:
    arch, variables = checkpoint.load_model(args.checkpoint)
  else:
    arch = Arch.from_config(architectures.get(args.arch))
    variables = init_variables(arch, 0)
  size = (args.height, args.width)
  frames, masks = generate_video(0, height=size[0], width=size[1], num_frames=args.frames,
                                 min_objects=args.objects, max_objects=args.objects)
  labels = masks[0]
  with tempfile.TemporaryDirectory(prefix="rde_export_speed_") as tmp:
    start = time.perf_counter()
    build.export_artifact(variables, arch, InferenceSettings(top_k=args.top_k,
                                                             mem_every=args.mem_every),
                          os.path.join(tmp, "a"), size=size, num_objects=args.objects,
                          platforms=("cpu",))
    export_s = time.perf_counter() - start
    variants = _variants(variables, arch, os.path.join(tmp, "a"), labels, args)
    times: dict[str, list[float]] = {n: [] for n in variants}
    probs = {name: np.stack(go(frames, inference.RunStats()))  # warm-up: compiles, sessions
             for name, go in variants.items()}
    names = list(variants)
    for r in range(args.repeats):
      for name in names[r % len(names):] + names[:r % len(names)]:
        stats = inference.RunStats()
        variants[name](frames, stats)
        times[name].append(stats.model_seconds / stats.frames)
  base = probs[REFERENCE]
  rows = {n: {"ms_per_frame_median": 1e3 * float(np.median(t)),
              "ms_per_frame_min": 1e3 * float(np.min(t)), "repeats": len(t),
              "max_abs_prob_difference": float(np.max(np.abs(probs[n] - base)))}
          for n, t in times.items()}
  return {"arch": args.checkpoint or args.arch, "size": list(size), "objects": args.objects,
          "frames": args.frames, "top_k": args.top_k, "mem_every": args.mem_every,
          "export_seconds": export_s, "device": str(jax.devices()[0]), "cpus": os.cpu_count(),
          "rows": rows}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--arch", default="official", choices=["official", "tiny"])
  p.add_argument("--checkpoint", default="", help="a model directory instead of random weights")
  p.add_argument("--height", type=int, default=240)
  p.add_argument("--width", type=int, default=432)
  p.add_argument("--objects", type=int, default=2)
  p.add_argument("--frames", type=int, default=12)
  p.add_argument("--top_k", type=int, default=40)
  p.add_argument("--mem_every", type=int, default=3)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--out", default="")
  args = p.parse_args()
  report = run(args)
  print(f"{report['arch']} {args.height}x{args.width}, K={args.objects}, {args.frames} frames, "
        f"export {report['export_seconds']:.0f} s, {report['device']}")
  for name, row in report["rows"].items():
    print(f"  {name:34s} {row['ms_per_frame_median']:9.1f} ms/frame (min "
          f"{row['ms_per_frame_min']:.1f}), max |dp| {row['max_abs_prob_difference']:.1e}")
  if args.out:
    with open(args.out, "w") as f:
      json.dump(report, f, indent=1)


if __name__ == "__main__":
  main()
