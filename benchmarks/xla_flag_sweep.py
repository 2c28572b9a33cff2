r"""What each XLA:CPU flag set does to the per-stage times of rde-jax (one process per set).

    python benchmarks/xla_flag_sweep.py --out sweep.json                 # the built-in sets
    python benchmarks/xla_flag_sweep.py --sets "onednn=--xla_cpu_use_onednn=true" --rounds 2
    python benchmarks/xla_flag_sweep.py --height 128 --width 224 --repeats 2  # quick look

XLA reads XLA_FLAGS once per process, so every flag set runs in its own subprocess (`--worker`):
it compiles the stages of `rde_jax.benchmark.stages` (official architecture, random weights, one
synthetic frame) and times each `--repeats` times after one untimed call. `--rounds` > 1
repeats the whole list, the sets interleaved, so a change in machine load hits all of them; the
table gives each stage's best median over the rounds and the ratio to the first set. The
probabilities are compared with the first set's (max |difference| of a plain frame), so a flag
that changes numerics shows. A set that fails to compile or run is reported, not fatal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import os
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SETS = {
    "default": "",
    "onednn": "--xla_cpu_use_onednn=true",
    "onednn_dot": "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type=dot",
    "onednn_custom_call": "--xla_cpu_experimental_onednn_custom_call=true",
    "ynn_off": "--xla_cpu_experimental_ynn_fusion_type=",
    "ynn_dot_eltwise_conv": ("--xla_cpu_experimental_ynn_fusion_type="
                             "dot,eltwise,individual_convolution"),
    "xnn_dot_eltwise": "--xla_cpu_experimental_xnn_fusion_type=dot,eltwise",
    "fast_math": "--xla_cpu_enable_fast_math=true",
    "vector_width_512": "--xla_cpu_prefer_vector_width=512",
    "vector_width_128": "--xla_cpu_prefer_vector_width=128",
}
STAGES = ("encode_key", "read", "decode", "value", "sam")


def worker(args: argparse.Namespace) -> dict[str, Any]:
  """Runs in the subprocess: compile and time the stages under the XLA_FLAGS it was given."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  from rde_jax import inference
  from rde_jax.benchmark import stages
  from rde_jax.model import architectures
  from rde_jax.data.synthetic import generate_video
  from rde_jax.model.architectures import Arch
  from rde_jax.model.network import init_variables
  jax.config.update("jax_default_matmul_precision", args.precision)
  arch = Arch.from_config(architectures.get(args.arch))
  variables = jax.device_put(init_variables(arch, 0))
  vids, labels = generate_video(0, height=args.height, width=args.width, num_frames=2,
                                min_objects=args.objects, max_objects=args.objects)
  onehot = np.stack([labels[0] == i for i in range(1, args.objects + 1)]).astype(np.float32)
  engine = inference.Engine(variables, arch, inference.InferenceSettings())
  first, frame = (jnp.asarray(inference.normalize(v)) for v in vids)
  out: dict[str, Any] = {"xla_flags": os.environ.get("XLA_FLAGS", "")}
  for s in stages.compile_stages(engine, variables, first, frame, jnp.asarray(onehot),
                                      frames=True):
    if s.name not in STAGES and s.name != "plain_frame":
      continue
    times = []
    for _ in range(args.repeats):
      t0 = time.perf_counter()
      result = s.call()
      times.append(time.perf_counter() - t0)
    out[s.name] = {"median_s": round(float(np.median(times)), 5), "min_s": round(min(times), 5),
                   "compile_s": s.compile_s}
    if s.name == "plain_frame":
      out["probs"] = np.asarray(result[1]).ravel()[:: max(1, result[1].size // 20000)].tolist()
      # Same optimised HLO as another set: the flag changed no op or library choice (codegen
      # flags such as the vector width act below HLO and keep it).
      out["hlo_sha1"] = hashlib.sha1(_strip_metadata(s.compiled.as_text()).encode()).hexdigest()
  return out


def _strip_metadata(hlo: str) -> str:
  """HLO text without metadata and module names (those differ between identical programs)."""
  hlo = re.sub(r", metadata=\{[^}]*\}", "", hlo)
  return re.sub(r"^HloModule \S+", "HloModule", hlo, flags=re.M)


def _run_set(flags: str, args: argparse.Namespace) -> dict[str, Any]:
  cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--arch", args.arch,
         "--height", str(args.height), "--width", str(args.width), "--objects",
         str(args.objects), "--repeats", str(args.repeats), "--precision", args.precision]
  env = dict(os.environ, XLA_FLAGS=flags, RDE_JAX_CPU_FLAGS="none")
  t0 = time.perf_counter()
  proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
  if proc.returncode != 0:
    return {"error": proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}
  res = json.loads(proc.stdout.strip().splitlines()[-1])
  res["wall_s"] = round(time.perf_counter() - t0, 1)
  res["load_avg"] = [round(x, 2) for x in os.getloadavg()]
  return res


def sweep(sets: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
  import numpy as np
  runs: dict[str, list] = {name: [] for name in sets}
  for r in range(args.rounds):
    for name, flags in sets.items():
      res = _run_set(flags, args)
      runs[name].append(res)
      print(f"round {r} {name}: " + ("error " + str(res["error"]) if "error" in res else ", ".join(
          f"{s} {res[s]['median_s']:.3f}" for s in STAGES + ("plain_frame",))),
          file=sys.stderr, flush=True)
  ref = next(iter(sets))
  ref_probs = next((np.asarray(x["probs"]) for x in runs[ref] if "probs" in x), None)
  best: dict[str, Any] = {}
  for name, results in runs.items():
    ok = [x for x in results if "error" not in x]
    if not ok:
      best[name] = {"error": results[0]["error"]}
      continue
    best[name] = {s: min(x[s]["median_s"] for x in ok) for s in STAGES + ("plain_frame",)}
    if ref_probs is not None:
      best[name]["max_abs_prob_diff"] = float(np.abs(np.asarray(ok[0]["probs"]) - ref_probs).max())
    ref_hlo = next((x.get("hlo_sha1") for x in runs[ref] if "error" not in x), None)
    best[name]["same_hlo_as_reference"] = (ok[0].get("hlo_sha1") == ref_hlo) if ref_hlo else None
  return {"sets": sets, "best_median_s": best, "runs": runs, "config": vars(args)}


def table(report: dict[str, Any]) -> str:
  best = report["best_median_s"]
  ref = best[next(iter(report["sets"]))]
  cols = STAGES + ("plain_frame",)
  lines = ["| flag set | XLA_FLAGS | " + " | ".join(cols) + " | prob diff | same HLO |",
           "| --- | --- | " + " | ".join("---" for _ in cols) + " | --- | --- |"]
  for name, b in best.items():
    flags = report["sets"][name] or "(none)"
    if "error" in b:
      lines.append(f"| {name} | `{flags}` | failed: {b['error']} |")
      continue
    cells = [f"{b[c]:.3f} ({b[c] / ref[c]:.2f})" if "error" not in ref else f"{b[c]:.3f}"
             for c in cols]
    lines.append(f"| {name} | `{flags}` | " + " | ".join(cells)
                 + f" | {b.get('max_abs_prob_diff', float('nan')):.1e} | "
                 f"{b.get('same_hlo_as_reference')} |")
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--arch", default="official")
  parser.add_argument("--height", type=int, default=480)
  parser.add_argument("--width", type=int, default=864)
  parser.add_argument("--objects", type=int, default=2)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--rounds", type=int, default=1)
  parser.add_argument("--precision", default="default")
  parser.add_argument("--sets", default="", help="name=flags;name=flags (default: built-in SETS; "
                      "the first is the reference)")
  parser.add_argument("--only", default="", help="comma list of built-in set names to run")
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  if args.worker:
    print(json.dumps(worker(args)))
    return
  if args.sets:
    sets = dict(item.split("=", 1) for item in args.sets.split(";") if item.strip())
  else:
    names = [n for n in args.only.split(",") if n] or list(SETS)
    sets = {n: SETS[n] for n in names}
  report = sweep(sets, args)
  from rde_jax import cpu_settings
  report["environment"] = {"cpu": cpu_settings.record(),
                           "date": time.strftime("%Y-%m-%d %H:%M:%S")}
  from benchmarks.side_by_side import emit
  emit(table(report), report, args.out)


if __name__ == "__main__":
  main()
