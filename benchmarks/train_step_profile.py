r"""Where the time of one training step goes: XLA:CPU's own trace, per phase, part and op kind.

    python benchmarks/train_step_profile.py --stage 2 --batch 1 --size 384 --out prof.json
    python benchmarks/train_step_profile.py --stage 0 --batch 2 --size 192 --conv winograd
    python benchmarks/train_step_profile.py --cpu_flags none --conv direct   # the step before
                                                                             # issue 23

Compiles `Trainer.step` exactly as `python -m rde_jax.benchmark --config=configs/benchmark_train.py`
does (benchmark weights, synthetic uint8 batch), runs one warm-up step, then `--steps` steps under
`jax.profiler.trace`. Every executed thunk of the trace is an HLO instruction of the compiled
step; its metadata (`op_name`, from JAX's tracing) says the phase (`transpose(jvp(...))`:
backward, `jvp(...)`: forward, the rest: the optimizer update and bookkeeping) and the network
part (the Flax module path: key_encoder, value_encoder, decoder, mem_compress, ...). The table
sums the thunk times per phase, per part and per op kind (convolution, dot, fusion, ...), and the
30 slowest instructions with their shapes. A weight gradient is told by its output, shaped like a
kernel ([O, k, k, I]); its layout transposes carry no metadata and count under update/other.

XLA_FLAGS: `--cpu_flags` as `cpu_settings.apply(..., purpose="train")` (default 'auto', what
train.py runs). With YNNPACK off (the training default on x86) the convolutions run as Eigen
kernels whose thunks return before the work is done: their time is not attributed (the trace
shows the wall time, not where it went). `--cpu_flags none` (XLA's defaults, YNNPACK) attributes
every convolution.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PARTS = ("key_encoder", "value_encoder", "key_proj", "key_comp", "decoder", "mem_compress",
         "memory", "loss")


def parse_hlo(text: str) -> dict[str, dict[str, str]]:
  """instruction name -> {'op': opcode, 'op_name': metadata op_name, 'line': the HLO line}.

  Only the entry computation and the computations it calls directly matter for the trace: the
  thunk names are the names of the instructions that run as thunks (fusions, custom calls,
  convolutions, dots, copies ...)."""
  out = {}
  pat = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(.+?)\s+([a-z][\w\-]*)\(")
  for line in text.splitlines():
    m = pat.match(line)
    if not m:
      continue
    name, shape, op = m.groups()
    meta = re.search(r'op_name="([^"]*)"', line)
    kind = re.search(r'kind=(k\w+)', line)
    calls = re.search(r'calls=%?([\w.\-]+)', line)
    out[name] = {"op": op, "shape": shape[:120], "op_name": meta.group(1) if meta else "",
                 "fusion_kind": kind.group(1) if kind else "",
                 "calls": calls.group(1) if calls else ""}
  return out


def fused_ops(text: str) -> dict[str, set[str]]:
  """computation name -> the opcodes inside it (to tell a conv fusion from an elementwise one)."""
  comps: dict[str, set[str]] = {}
  cur = None
  for line in text.splitlines():
    m = re.match(r"^%?([\w.\-]+)\s.*\{\s*$", line)
    if m and "=" not in line.split("{")[0]:
      cur = m.group(1)
      comps[cur] = set()
      continue
    if cur:
      m = re.match(r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*.+?\s+([a-z][\w\-]*)\(", line)
      if m:
        comps[cur].add(m.group(1))
  return comps


def phase_of(op_name: str) -> str:
  if "transpose(" in op_name:
    return "backward"
  if "jvp(" in op_name:
    return "forward"
  return "update/other"


def part_of(op_name: str) -> str:
  for p in PARTS:
    if p in op_name:
      return p
  return "other"


def kind_of(info: dict[str, str], comps: dict[str, set[str]]) -> str:
  """convolution (weight gradient / other), dot, elementwise/fusion or the opcode."""
  op = info["op"]
  inner = comps.get(info["calls"], set())
  if op == "convolution" or "convolution" in inner:
    return "conv weight-grad" if _kernel_shaped(info["shape"]) else "convolution"
  if op == "dot" or "dot" in inner:
    return "dot"
  if op == "fusion" or op.startswith("ynn") or "fusion" in op:
    return "elementwise/fusion"
  return op


def _kernel_shaped(shape: str) -> bool:
  """An output shaped like a conv kernel, [O, k, k, I] with k in 1..7: a weight gradient."""
  m = re.match(r"\w+\[(\d+),(\d+),(\d+),(\d+)\]", shape)
  return bool(m) and m.group(2) == m.group(3) and int(m.group(2)) <= 7 and int(m.group(1)) > 7


def trace_times(trace_dir: str) -> dict[str, float]:
  """thunk name -> total microseconds in the perfetto trace under `trace_dir`."""
  paths = glob.glob(os.path.join(trace_dir, "**", "perfetto_trace.json.gz"), recursive=True)
  if not paths:
    raise SystemExit(f"no perfetto trace under {trace_dir}")
  with gzip.open(paths[0]) as f:
    data = json.load(f)
  events = data["traceEvents"] if isinstance(data, dict) else data
  times: dict[str, float] = collections.defaultdict(float)
  for e in events:
    if e.get("ph") == "X" and "dur" in e:
      times[e["name"]] += float(e["dur"])
  return times


def main(argv: list[str] | None = None) -> dict[str, Any]:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--stage", type=int, default=2)
  ap.add_argument("--batch", type=int, default=1)
  ap.add_argument("--size", type=int, default=384)
  ap.add_argument("--steps", type=int, default=1)
  ap.add_argument("--conv", default="auto", choices=("auto", "direct", "winograd"))
  ap.add_argument("--remat", default="none")
  ap.add_argument("--dtype", default="float32")
  ap.add_argument("--arch", default="official")
  ap.add_argument("--out", default="")
  ap.add_argument("--top", type=int, default=30)
  ap.add_argument("--cpu_flags", default="auto")
  ap.add_argument("--hlo", default="", help="also write the compiled step's HLO text here")
  args = ap.parse_args(argv)

  from rde_jax import cpu_settings
  cpu_settings.apply(args.cpu_flags, purpose="train")
  import jax
  from rde_jax.benchmark import train_run
  from configs.benchmark_train import get_config

  cfg = get_config()
  cfg.train_stage, cfg.batch_size, cfg.height, cfg.width = args.stage, args.batch, args.size, args.size
  cfg.train_conv_algorithm, cfg.remat, cfg.dtype, cfg.arch = args.conv, args.remat, args.dtype, args.arch
  tcfg = train_run.train_config(cfg)
  tr, compiled, report = train_run.compile_step(tcfg)
  hlo = compiled.as_text()
  if args.hlo:
    with open(args.hlo, "w") as f:
      f.write(hlo)
  info, comps = parse_hlo(hlo), fused_ops(hlo)
  v = train_run.benchmark_variables(tr.arch, 0)
  state = tr.init_state(v["params"])
  batch = train_run.synthetic_batch(tcfg, 0)
  state, m = tr.step(state, v["batch_stats"], batch, 0)
  jax.block_until_ready(m["total_loss"])
  trace_dir = tempfile.mkdtemp(prefix="rde_prof_")
  walls = []
  jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
  for _ in range(args.steps):
    t0 = time.perf_counter()
    state, m = tr.step(state, v["batch_stats"], batch, 0)
    jax.block_until_ready(m["total_loss"])
    walls.append(time.perf_counter() - t0)
  jax.profiler.stop_trace()
  times = trace_times(trace_dir)
  rows = []
  for name, us in times.items():
    if name in info:
      i = info[name]
      rows.append({"name": name, "s": us / 1e6 / args.steps, "op": i["op"],
                   "kind": kind_of(i, comps), "phase": phase_of(i["op_name"]),
                   "part": part_of(i["op_name"]), "shape": i["shape"],
                   "op_name": i["op_name"][-160:]})
  total = sum(r["s"] for r in rows)
  agg = lambda key: {k: round(sum(r["s"] for r in rows if r[key] == k), 3)
                     for k in sorted({r[key] for r in rows})}
  cross = collections.defaultdict(float)
  for r in rows:
    cross[f"{r['phase']} | {r['part']} | {r['kind']}"] += r["s"]
  result = {"args": vars(args), "step_wall_s": walls, "thunk_total_s": round(total, 3),
            "compile_s": report["compile_s"], "flops": report["flops"],
            "by_phase": agg("phase"), "by_part": agg("part"), "by_kind": agg("kind"),
            "by_phase_part_kind": {k: round(v, 3) for k, v in
                                   sorted(cross.items(), key=lambda kv: -kv[1])},
            "top": sorted(rows, key=lambda r: -r["s"])[:args.top],
            "rows": sorted(rows, key=lambda r: -r["s"]),
            "load_avg": os.getloadavg(), "cpu": cpu_settings.record().get("model_name")}
  print(f"step wall {walls}, thunks {total:.2f} s")
  for key in ("by_phase", "by_part", "by_kind"):
    print(key, json.dumps(result[key]))
  for k, v in list(result["by_phase_part_kind"].items())[:25]:
    print(f"  {v:8.3f} s  {k}")
  for r in result["top"]:
    print(f"  {r['s']:7.3f} s {r['phase'][:8]:8} {r['part'][:12]:12} {r['kind'][:12]:12} "
          f"{r['name'][:28]:28} {r['shape'][:60]}")
  if args.out:
    with open(args.out, "w") as f:
      json.dump(result, f, indent=1)
  return result


if __name__ == "__main__":
  main()
