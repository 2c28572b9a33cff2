r"""Training-step variants side by side: each in its own process (its own XLA_FLAGS), steps
interleaved round by round, the PyTorch twin among them.

    python benchmarks/train_variants.py --stage 2 --batch 1 --size 384 --rounds 3 \
        --variant twin --variant "ynn=conv=direct" \
        --variant "eigen=conv=direct,flags=--xla_cpu_experimental_ynn_fusion_type=" \
        --out variants.json

A variant is `NAME=key=value,...` with keys `conv` (auto | direct | winograd | winograd_forward;
unset = auto, what train.py runs; before session 7 unset meant direct), `remat`,
`dtype`, `min_pixels` / `min_channels` (the Winograd thresholds of rde_jax.model.conv_algorithm),
`code` (another checkout of rde-jax, e.g. a `git worktree` of the commit before a change: that
variant's worker runs its code; its train_variants.py must speak the same step protocol),
`flags` (that process's `cpu_settings.apply(flags, purpose="train")`: unset or empty = 'none',
XLA's defaults; 'auto' = what train.py runs; or --xla_... flags; the rest of the value, commas
included, after `flags=`), or the word `twin` (benchmarks/torch_train_twin.py). Every worker
builds the same weights (`train_run.benchmark_variables`) and batch (`train_run.synthetic_batch`),
compiles and runs one untimed step, then waits; each round the parent asks every worker for one
step, the order rotating, so all see the same machine load. Reported: first-step loss of each
(equal up to rounding), compile + first step, the step times and their medians, and each
variant's speed relative to the twin (twin median / variant median) where the twin runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


# conv, remat, dtype: the training config; min_pixels, min_channels: the Winograd thresholds of
# rde_jax.model.conv_algorithm (set in the worker before tracing).
KEYS = ("conv", "remat", "dtype", "min_pixels", "min_channels", "code")


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
  """'name=k=v,k=v,flags=...' -> (name, {k: v}); 'twin' -> ('twin', {'kind': 'twin'})."""
  if text == "twin":
    return "twin", {"kind": "twin"}
  name, _, rest = text.partition("=")
  opts: dict[str, str] = {"kind": "jax"}
  if "flags=" in rest:
    rest, _, flags = rest.partition("flags=")
    opts["flags"] = flags
    rest = rest.rstrip(",")
  for item in filter(None, rest.split(",")):
    k, _, v = item.partition("=")
    if k not in KEYS:
      raise SystemExit(f"variant {text!r}: unknown key {k!r} ({', '.join(KEYS)}, flags)")
    opts[k] = v
  return name, opts


def worker(args: argparse.Namespace, opts: dict[str, str]) -> None:
  """Builds one side, reports 'ready', then answers each 'step' line with its time (JSON)."""
  if opts["kind"] == "jax":
    from rde_jax import cpu_settings
    cpu_settings.apply(opts.get("flags", "") or "none", purpose="train")
  import jax
  from rde_jax.benchmark import train_run
  from rde_jax.model import conv_algorithm
  conv_algorithm.MIN_PIXELS = int(opts.get("min_pixels", conv_algorithm.MIN_PIXELS))
  conv_algorithm.MIN_CHANNELS = int(opts.get("min_channels", conv_algorithm.MIN_CHANNELS))
  from rde_jax.train import losses
  from rde_jax.train.trainer import Trainer
  bcfg = argparse.Namespace(train_stage=args.stage, arch=args.arch, batch_size=args.batch,
                            dtype=opts.get("dtype", "float32"), remat=opts.get("remat", "none"),
                            train_conv_algorithm=opts.get("conv", "auto"), height=args.size)
  tcfg = train_run.train_config(bcfg)
  tr = Trainer(tcfg)
  v = train_run.benchmark_variables(tr.arch, 0)
  batch = train_run.synthetic_batch(tcfg)
  if opts["kind"] == "twin":
    import torch
    from torch_train_twin import TwinTrainStep
    from torch_twin import TwinNetwork
    torch.set_num_threads(args.threads)
    k = losses.bootstrap_k(0, args.size ** 2, tcfg.start_warm, tcfg.end_warm, tcfg.top_p)
    twin = TwinTrainStep(TwinNetwork.from_variables(v, tr.arch), stage=args.stage, lr=tcfg.lr,
                         weight_decay=tcfg.weight_decay, lambda_mc=tcfg.lambda_mc,
                         guidance=(tcfg.lambda_f2, tcfg.lambda_f4))
    step = lambda: float(twin(batch, k)["total_loss"])
  else:
    holder = {"state": tr.init_state(v["params"])}

    def step() -> float:
      holder["state"], m = tr.step(holder["state"], v["batch_stats"], batch, 0)
      return float(jax.block_until_ready(m["total_loss"]))
  t0 = time.perf_counter()
  loss = step()
  print(json.dumps({"ready": True, "first_loss": loss,
                    "first_s": round(time.perf_counter() - t0, 2)}), flush=True)
  for line in sys.stdin:
    if line.strip() != "step":
      break
    t0 = time.perf_counter()
    step()
    print(json.dumps({"step_s": round(time.perf_counter() - t0, 3)}), flush=True)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--arch", default="official")
  p.add_argument("--stage", type=int, default=2, choices=(0, 2))
  p.add_argument("--batch", type=int, default=1)
  p.add_argument("--size", type=int, default=384)
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--threads", type=int, default=2)
  p.add_argument("--variant", action="append", default=[])
  p.add_argument("--out", default="")
  p.add_argument("--worker", default="")
  a = p.parse_args()
  if a.worker:
    worker(a, parse_variant(a.worker)[1])
    return
  import numpy as np
  texts = a.variant or ["twin", "default=conv=direct"]
  common = ["--arch", a.arch, "--stage", str(a.stage), "--batch", str(a.batch),
            "--size", str(a.size), "--threads", str(a.threads)]
  procs: dict[str, Any] = {}
  first: dict[str, Any] = {}
  for text in texts:
    name, opts = parse_variant(text)
    root = os.path.abspath(opts.get("code", ROOT))
    script = os.path.join(root, "benchmarks", "train_variants.py")
    if not os.path.isfile(script):
      raise SystemExit(f"variant {name}: no {script} (code= must name an rde-jax checkout)")
    worker_text = text
    if "code" in opts:
      head, _, rest = text.partition("=")
      worker_text = head + "=" + ",".join(i for i in rest.split(",") if not i.startswith("code="))
    env = dict(os.environ, PYTHONPATH=root)
    procs[name] = subprocess.Popen([sys.executable, script, "--worker", worker_text] + common,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                   env=env)
    # One at a time: compiles do not overlap each other (or the steps of the others).
    line = procs[name].stdout.readline()
    if not line:
      raise SystemExit(f"variant {name} failed to start (see its stderr above)")
    first[name] = json.loads(line)
    print(name, first[name], flush=True)
  names = list(procs)
  times: dict[str, list[float]] = {n: [] for n in names}
  for r in range(a.rounds):
    order = names[r % len(names):] + names[:r % len(names)]
    for n in order:
      procs[n].stdin.write("step\n")
      procs[n].stdin.flush()
      times[n].append(json.loads(procs[n].stdout.readline())["step_s"])
    print(f"round {r}: " + ", ".join(f"{n} {times[n][-1]:.2f} s" for n in names), flush=True)
  for proc in procs.values():
    proc.stdin.close()
    proc.wait()
  med = {n: float(np.median(t)) for n, t in times.items()}
  report = {"args": {k: v for k, v in vars(a).items() if k != "worker"}, "first": first,
            "step_s": times, "median_s": med, "load_avg": os.getloadavg()}
  if "twin" in med:
    report["speed_vs_twin"] = {n: round(med["twin"] / m, 3) for n, m in med.items()}
  print(json.dumps({k: report[k] for k in ("median_s", "speed_vs_twin") if k in report}))
  if a.out:
    with open(a.out, "w") as f:
      json.dump(report, f, indent=1)


if __name__ == "__main__":
  main()
