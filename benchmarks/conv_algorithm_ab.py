r"""rde-jax's stages with direct and Winograd 3x3 convolutions, interleaved in one process.

    python benchmarks/conv_algorithm_ab.py                      # official arch, 480x864, 2 objects
    python benchmarks/conv_algorithm_ab.py --repeats 7 --out ab.json

Both variants of every stage (`rde_jax.benchmark.stages`) are compiled on the same inputs; then
each stage is called `--repeats` times per variant, alternating (the one going first alternates
too), so both see the same machine load: the ratio of the medians (and of the minima) is the
speed-up of the algorithm, robust to a busy machine. Also printed: the largest difference of the
stage outputs between the variants (float32), i.e. what the faster rounding costs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _compiled(variables: Any, arch: Any, top_k: int, frame0: Any, frame: Any, onehot: Any,
              algorithm: str) -> dict:
  from rde_jax import inference
  from rde_jax.benchmark import stages
  settings = inference.InferenceSettings(top_k=top_k, conv_algorithm=algorithm)
  engine = inference.Engine(variables, arch, settings)
  return {s.name: s for s in stages.compile_stages(engine, engine.variables, frame0, frame,
                                                   onehot, frames=True)}


def _max_difference(a: Any, b: Any) -> float:
  import jax
  import numpy as np
  diffs = [float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
           for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
           if np.issubdtype(np.asarray(x).dtype, np.floating)]
  return max(diffs, default=0.0)


def run(args: argparse.Namespace) -> dict[str, Any]:
  import jax
  import jax.numpy as jnp
  import numpy as np
  from rde_jax import cpu_settings, inference
  from rde_jax.data.synthetic import generate_video
  from rde_jax.model import architectures
  from rde_jax.model.architectures import Arch
  from rde_jax.model.network import init_variables

  load_start = os.getloadavg()
  arch = Arch.from_config(architectures.get(args.arch))
  variables = init_variables(arch, args.seed)
  vids, labels = generate_video(args.seed, height=args.height, width=args.width, num_frames=2,
                                min_objects=args.objects, max_objects=args.objects)
  onehot = jnp.asarray(np.stack([labels[0] == i for i in range(1, args.objects + 1)]),
                       jnp.float32)
  frame0, frame = (jnp.asarray(inference.normalize(f)) for f in vids)
  variables = jax.device_put(variables)
  variants = {a: _compiled(variables, arch, args.top_k, frame0, frame, onehot, a)
              for a in ("direct", "winograd")}
  rows = {}
  for name in variants["direct"]:
    pair = [variants["direct"][name], variants["winograd"][name]]
    diff = _max_difference(pair[0].call(), pair[1].call())
    times: dict[str, list[float]] = {"direct": [], "winograd": []}
    for r in range(args.repeats):
      order = ("direct", "winograd") if r % 2 == 0 else ("winograd", "direct")
      for algorithm in order:
        t0 = time.perf_counter()
        variants[algorithm][name].call()
        times[algorithm].append(time.perf_counter() - t0)
    med = {a: float(np.median(t)) for a, t in times.items()}
    rows[name] = {"direct_s": round(med["direct"], 4), "winograd_s": round(med["winograd"], 4),
                  "direct_min_s": round(min(times["direct"]), 4),
                  "winograd_min_s": round(min(times["winograd"]), 4),
                  "speedup": round(med["direct"] / med["winograd"], 3),
                  "speedup_of_minima": round(min(times["direct"]) / min(times["winograd"]), 3),
                  "max_abs_difference": diff,
                  "compile_s": {a: variants[a][name].compile_s for a in variants}}
    print(f"{name}: {rows[name]}", file=sys.stderr, flush=True)
  every = args.mem_every
  mean = {a: ((every - 1) * rows["plain_frame"][f"{a}_s"] + rows["memory_frame"][f"{a}_s"]) / every
          for a in ("direct", "winograd")}
  return {"rows": rows, "mean_at_mem_every": {**{k: round(v, 4) for k, v in mean.items()},
                                              "speedup": round(mean["direct"] / mean["winograd"], 3)},
          "environment": {"cpu_settings": cpu_settings.record(),
                          "load_avg_start": [round(x, 2) for x in load_start],
                          "load_avg_end": [round(x, 2) for x in os.getloadavg()],
                          "jax": jax.__version__, "date": time.strftime("%Y-%m-%d %H:%M:%S")},
          "config": vars(args)}


def table(report: dict[str, Any]) -> str:
  lines = ["| stage | direct s | winograd s | speed-up (medians) | speed-up (minima) | "
           "max abs difference | compile s (direct / winograd) |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
  for name, r in report["rows"].items():
    lines.append(f"| {name} | {r['direct_s']:.3f} | {r['winograd_s']:.3f} | {r['speedup']:.2f}x | "
                 f"{r['speedup_of_minima']:.2f}x | {r['max_abs_difference']:.1e} | "
                 f"{r['compile_s']['direct']:.1f} / {r['compile_s']['winograd']:.1f} |")
  m = report["mean_at_mem_every"]
  lines.append(f"| **mean at mem_every {report['config']['mem_every']}** | **{m['direct']:.3f}** | "
               f"**{m['winograd']:.3f}** | **{m['speedup']:.2f}x** | | | |")
  env = report["environment"]
  lines.append(f"CPU: {env['cpu_settings'].get('model_name')} ({env['cpu_settings'].get('family')});"
               f" load average {env['load_avg_start']} -> {env['load_avg_end']}")
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--arch", default="official", help="official | tiny")
  parser.add_argument("--height", type=int, default=480)
  parser.add_argument("--width", type=int, default=864)
  parser.add_argument("--objects", type=int, default=2)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--top_k", type=int, default=40)
  parser.add_argument("--mem_every", type=int, default=3)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="", help="JSON path")
  args = parser.parse_args()
  from rde_jax import cpu_settings
  cpu_settings.apply()
  report = run(args)
  print(table(report))
  if args.out:
    with open(args.out, "w") as f:
      json.dump(report, f, indent=1)


if __name__ == "__main__":
  main()
