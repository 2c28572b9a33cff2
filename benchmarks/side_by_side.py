r"""rde-jax against its PyTorch twin: same weights, frames, threads and protocol, in one process.

    python benchmarks/side_by_side.py --out sbs.json        # official arch, 480x864, 2 objects
    python benchmarks/side_by_side.py --arch tiny --height 128 --width 224 --repeats 3
    RDE_JAX_CPU_FLAGS=none python benchmarks/side_by_side.py   # XLA's default flags

Random weights (`init_variables`, loaded into the twin through `convert.to_torch_state_dict`),
one synthetic frame. Every stage is run once untimed on each side (JAX: after its AOT compile),
then `--repeats` times, JAX and PyTorch alternating (the one going first alternates too), so
both see the same machine load; the medians are compared. Stages: encode_key (key encoder +
key_proj + key_comp), read (memory [RDE, last, first, first]), decode (all objects), aggregate,
value (value encoder), sam (RDE update), plain_frame and memory_frame (the whole step without /
with the update; JAX: the jitted scan step, PyTorch: the twin's step). FLOPs: XLA's cost analysis
of each compiled stage and torch's FlopCounterMode; the matmul peaks (float32, bfloat16) of both
libraries are measured in the same run. Needs torch (an optional extra).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rde_jax import cpu_settings  # noqa: E402  (no JAX backend yet)

LABELS = {"encode_key": "key encoder + projections", "read": "memory read",
          "decode": "decoder ({k} objects)", "aggregate": "soft aggregation",
          "value": "value encoder ({k} objects)", "sam": "SAM update",
          "plain_frame": "plain frame", "memory_frame": "memory frame"}


def _lscpu_model() -> str:
  try:
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
  except (OSError, subprocess.CalledProcessError):
    return ""
  return next((l.split(":", 1)[1].strip() for l in out.splitlines()
               if l.startswith("Model name")), "")


def _timed(fn: Callable[[], Any]) -> float:
  t0 = time.perf_counter()
  fn()
  return time.perf_counter() - t0


def _timed_cpu(fn: Callable[[], Any]) -> tuple[float, float]:
  """(wall, process CPU) seconds of fn(): CPU time is less sensitive to other processes."""
  t0, c0 = time.perf_counter(), time.process_time()
  fn()
  return time.perf_counter() - t0, time.process_time() - c0


def torch_stages(twin: Any, tprop: Any, frame: Any, top_k: int) -> dict[str, Callable[[], Any]]:
  """The twin's stages on the same inputs as ours (full memory after one RDE update)."""
  import torch
  from benchmarks import torch_twin as tt
  with torch.inference_mode():
    feats = twin.encode_key(frame)
    mk, mv = tprop.memory()
    readout = tt.read(mk, mv, feats["k16"], top_k)
    logits = twin.decoder(readout, feats["qv16"], feats["f8"], feats["f4"])
    probs = tt.aggregate(torch.sigmoid(logits[:, 0]))
    value = twin.value(frame, feats["f16"], probs[1:])
  s = tprop.state
  key2 = torch.cat([s["rde_k"], feats["k16"][:, :, None]], 2)
  val2 = torch.cat([s["rde_v"], value[:, :, None]], 2)
  fns = {
      "encode_key": lambda: twin.encode_key(frame),
      "read": lambda: tt.read(mk, mv, feats["k16"], top_k),
      "decode": lambda: twin.decoder(readout, feats["qv16"], feats["f8"], feats["f4"]),
      "aggregate": lambda: tt.aggregate(torch.sigmoid(logits[:, 0])),
      "value": lambda: twin.value(frame, feats["f16"], probs[1:]),
      "sam": lambda: twin.mem_compress(key2, val2),
      "plain_frame": lambda: tprop.step(frame, False),
      "memory_frame": lambda: tprop.step(frame, True),
  }

  def no_grad(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
      with torch.inference_mode():
        return fn()
    return run
  return {k: no_grad(f) for k, f in fns.items()}


def torch_flops(fn: Callable[[], Any]) -> float | None:
  from torch.utils.flop_counter import FlopCounterMode
  try:
    with FlopCounterMode(display=False) as counter:
      fn()
    return float(counter.get_total_flops())
  except Exception:  # pragma: no cover - ops the counter does not know
    return None


def torch_peak(dtype: str, max_n: int = 2048, calls: int = 4) -> dict[str, Any]:
  """Best torch.mm GFLOP/s; n doubles from 256 while a call takes < 0.2 s (bfloat16 without
  hardware support runs at ~1 GFLOP/s, where 2048^2 would take a minute)."""
  import torch
  dt = getattr(torch, dtype)
  n = 256
  while True:
    a, b = torch.randn(n, n).to(dt), (torch.randn(n, n) / n ** 0.5).to(dt)
    first = _timed(lambda: torch.mm(a, b))
    if n >= max_n or first > 0.2:
      break
    n *= 2
  best = min(_timed(lambda: torch.mm(a, b)) for _ in range(calls))
  return {"dtype": dtype, "n": n, "gflops": round(2.0 * n ** 3 / best / 1e9, 2)}


def run(args: argparse.Namespace) -> dict[str, Any]:
  import jax
  import jax.numpy as jnp
  import numpy as np
  import torch
  from benchmarks import torch_twin as tt
  from rde_jax import inference
  from rde_jax.benchmark import roofline, stages
  from rde_jax.benchmark.run import LoadMeter
  from rde_jax.data.synthetic import generate_video
  from rde_jax.model import architectures
  from rde_jax.model.architectures import Arch
  from rde_jax.model.network import init_variables

  threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  torch.set_num_threads(threads)
  load_start = os.getloadavg()
  arch = Arch.from_config(architectures.get(args.arch))
  variables = init_variables(arch, args.seed)
  vids, labels = generate_video(args.seed, height=args.height, width=args.width, num_frames=2,
                                min_objects=args.objects, max_objects=args.objects)
  onehot = np.stack([labels[0] == i for i in range(1, args.objects + 1)]).astype(np.float32)
  frame0, frame = (inference.normalize(f) for f in vids)
  settings = inference.InferenceSettings(top_k=args.top_k, dtype=args.dtype,
                                         conv_algorithm=getattr(args, "conv_algorithm", "") or "auto")
  engine = inference.Engine(jax.device_put(variables), arch, settings)
  jstages = {s.name: s for s in stages.compile_stages(
      engine, engine.variables, jnp.asarray(frame0), jnp.asarray(frame), jnp.asarray(onehot),
      frames=True)}
  twin = tt.TwinNetwork.from_variables(variables, arch)
  tprop = tt.TwinPropagator(twin, args.top_k)
  tprop.init(tt.to_nchw(frame0), torch.from_numpy(onehot))
  tprop.step(tt.to_nchw(frame0), True)  # fills [RDE, last, first, first] like the JAX stages
  tfns = torch_stages(twin, tprop, tt.to_nchw(frame), args.top_k)
  print(f"compiled {len(jstages)} JAX stages, twin ready", file=sys.stderr, flush=True)
  rows: dict[str, Any] = {}
  for name, js in jstages.items():
    tf = tfns[name]
    tflops = torch_flops(tf)
    tf()
    meter = LoadMeter()
    tj, tt_ = [], []
    for r in range(args.repeats):
      pair = ((tj, js.call), (tt_, tf)) if r % 2 == 0 else ((tt_, tf), (tj, js.call))
      for out, fn in pair:
        out.append(_timed_cpu(fn))
    rows[name] = {"jax_s": _stats([w for w, _ in tj]), "torch_s": _stats([w for w, _ in tt_]),
                  "jax_cpu_s": _stats([c for _, c in tj]),
                  "torch_cpu_s": _stats([c for _, c in tt_]), "jax_flops": js.flops,
                  "torch_flops": tflops, "jax_compile_s": js.compile_s,
                  "other_processes_cores": meter.cores()}
    rows[name]["ratio"] = round(rows[name]["torch_s"]["median"] / rows[name]["jax_s"]["median"], 3)
    print(f"{name}: jax {rows[name]['jax_s']['median']:.4f} s, torch "
          f"{rows[name]['torch_s']['median']:.4f} s", file=sys.stderr, flush=True)
  peaks = {}
  if not args.no_peak:
    for d in ("float32", "bfloat16"):
      peaks[d] = {"jax": roofline.measure_peak(d), "torch": torch_peak(d)}
  return {"rows": rows, "peak": peaks, "mean": _schedule(rows, args.mem_every),
          "environment": {
              "lscpu_model_name": _lscpu_model(), "threads": threads,
              "load_avg_start": [round(x, 2) for x in load_start],
              "load_avg_end": [round(x, 2) for x in os.getloadavg()],
              "jax": jax.__version__, "torch": torch.__version__,
              "cpu_settings": cpu_settings.record(),
              "conv_algorithm": engine.conv_algorithm,
              "date": time.strftime("%Y-%m-%d %H:%M:%S")},
          "config": vars(args)}


def _stats(x: list[float]) -> dict[str, float]:
  import numpy as np
  return {"median": round(float(np.median(x)), 5), "min": round(min(x), 5),
          "max": round(max(x), 5), "n": len(x)}


def _schedule(rows: dict[str, Any], every: int) -> dict[str, float]:
  """Mean time per frame of a video with one memory frame in `every` (medians)."""
  out = {}
  for side in ("jax", "torch"):
    p, m = rows["plain_frame"][f"{side}_s"]["median"], rows["memory_frame"][f"{side}_s"]["median"]
    out[f"{side}_s"] = round(((every - 1) * p + m) / every, 5)
  out["ratio"] = round(out["torch_s"] / out["jax_s"], 3)
  cpu = [((every - 1) * rows["plain_frame"][f"{side}_cpu_s"]["median"]
          + rows["memory_frame"][f"{side}_cpu_s"]["median"]) / every for side in ("jax", "torch")]
  out["cpu_ratio"] = round(cpu[1] / cpu[0], 3)
  return out


def table(report: dict[str, Any]) -> str:
  """Markdown: both per-stage tables side by side, FLOP/s and the share of each library's peak."""
  k, every = report["config"]["objects"], report["config"]["mem_every"]
  peak = report["peak"]
  pj = peak.get("float32", {}).get("jax", {}).get("gflops")
  pt = peak.get("float32", {}).get("torch", {}).get("gflops")
  lines = ["| stage | rde-jax s | PyTorch twin s | PyTorch / rde-jax | CPU-time ratio | jax GFLOP "
           "| jax GFLOP/s (of f32 peak) | torch GFLOP | torch GFLOP/s (of f32 peak) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for name, r in report["rows"].items():
    j, t = r["jax_s"]["median"], r["torch_s"]["median"]
    cells = []
    for flops, sec, pk in ((r["jax_flops"], j, pj), (r["torch_flops"], t, pt)):
      if flops:
        rate = flops / sec / 1e9
        share = f" ({rate / pk:.0%})" if pk else ""
        cells += [f"{flops / 1e9:.1f}", f"{rate:.0f}{share}"]
      else:
        cells += ["-", "-"]
    cpu = r["torch_cpu_s"]["median"] / max(r["jax_cpu_s"]["median"], 1e-9)
    lines.append(f"| {LABELS[name].format(k=k)} | {j:.3f} | {t:.3f} | {r['ratio']:.2f}x | "
                 f"{cpu:.2f}x | " + " | ".join(cells) + " |")
  m = report["mean"]
  lines.append(f"| **mean at mem_every {every}** | **{m['jax_s']:.3f}** | **{m['torch_s']:.3f}** "
               f"| **{m['ratio']:.2f}x** | {m['cpu_ratio']:.2f}x | | | | |")
  if peak:
    lines.append("")
    lines.append("matmul peak (GFLOP/s, this run; jax n=2048): " + "; ".join(
        f"{d}: jax {p['jax']['gflops']}, torch {p['torch']['gflops']} (n={p['torch']['n']})"
        for d, p in peak.items()))
  env = report["environment"]
  lines.append(f"CPU: {env['lscpu_model_name']} ({env['cpu_settings'].get('family')}), "
               f"{env['threads']} threads, conv {env.get('conv_algorithm', 'direct')}; load average {env['load_avg_start']} -> "
               f"{env['load_avg_end']}; XLA_FLAGS '{env['cpu_settings']['xla_flags']}'")
  return "\n".join(lines)


def emit(text: str, report: dict[str, Any], out: str) -> None:
  """Prints the table; writes the full report as JSON to `out` (if given)."""
  print(text)
  if out:
    with open(out, "w") as f:
      json.dump(report, f, indent=1)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--arch", default="official", help="official | tiny")
  parser.add_argument("--height", type=int, default=480)
  parser.add_argument("--width", type=int, default=864)
  parser.add_argument("--objects", type=int, default=2)
  parser.add_argument("--repeats", type=int, default=5, help="timed calls per stage and side")
  parser.add_argument("--threads", type=int, default=0,
                      help="cores for both libraries (process affinity); 0 = all")
  parser.add_argument("--top_k", type=int, default=40)
  parser.add_argument("--mem_every", type=int, default=3)
  parser.add_argument("--dtype", default="float32", help="rde-jax compute dtype (twin: float32)")
  parser.add_argument("--cpu_flags", default=None,
                      help="auto | none | '--xla_...' (default: $RDE_JAX_CPU_FLAGS or auto)")
  parser.add_argument("--conv_algorithm", default="",
                      help="auto | direct | winograd for rde-jax's convs (default: auto)")
  parser.add_argument("--no_peak", action="store_true", help="skip the matmul peak loops")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="", help="JSON path")
  args = parser.parse_args()
  if args.height % 16 or args.width % 16:
    parser.error("height and width must be multiples of 16")
  if args.threads:
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])
  cpu_settings.apply(args.cpu_flags)  # before the JAX backend starts
  report = run(args)
  emit(table(report), report, args.out)


if __name__ == "__main__":
  main()
