r"""One-GPU device check: inference frames/s and one training step, ours and PyTorch's, one JSON.

    python benchmarks/device_check.py --wheels /data/wheels --official /src/RDE-VOS --out dc.json
    python benchmarks/device_check.py --dry_run --out /tmp/dc.json    # tiny sizes, any CPU

For a machine with torch and JAX (CUDA) but none of our other dependencies and no network:
missing packages (ml_collections, clu, grain, tensorflow-datasets, array-record) are installed
from the `--wheels` folder (`pip install --no-index --find-links DIR`). Each measurement is a
section run in its own subprocess (its own device-memory peak; JAX and torch never share a
process), with a timeout from what is left of `--budget_s` (default 450 s, under 8 minutes);
a section that does not fit is skipped and says so. Sections:

  * jax_infer_{float32,tf32,bfloat16}: our engine (`rde_jax.benchmark`, RDE memory), 480x864
    (DAVIS 480p padded), 2 objects; float32 = precision 'highest', tf32 = 'default', bfloat16
    = bfloat16 compute.
  * torch_infer_{float32,tf32,bfloat16}: the PyTorch twin (benchmarks/torch_twin.py: the
    official network's modules and state-dict keys) with the same weights; tf32 =
    `allow_tf32`, bfloat16 = autocast. With `--official`, also the official `InferenceCore`
    from that checkout (`official_infer`; its error is recorded if its API differs).
  * jax_train_{float32,bfloat16}: one `Trainer.step` (stage 2, 384², `--train_batch` clips,
    `--remat`): step time and the peak device memory (`memory_stats()['peak_bytes_in_use']`).
  * torch_train_amp: the official step with AMP needs the official `RDE_VOSModel`; with
    `--official` its import is attempted and the outcome recorded.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# distribution name -> module imported
PACKAGES = {"ml_collections": "ml_collections", "clu": "clu", "grain": "grain",
            "tensorflow-datasets": "tensorflow_datasets", "array-record": "array_record"}
SECTIONS = ("jax_infer_float32", "jax_infer_tf32", "jax_infer_bfloat16", "torch_infer_float32",
            "torch_infer_tf32", "torch_infer_bfloat16", "official_infer", "jax_train_float32",
            "jax_train_bfloat16", "torch_train_amp")
MIN_SECTION_S = 20.0  # a section is not started with less time left than this


def missing_packages(packages: dict[str, str] = PACKAGES) -> list[str]:
  """Distribution names whose module cannot be imported here."""
  return [dist for dist, module in packages.items() if importlib.util.find_spec(module) is None]


def install_command(wheels: str, dists: list[str]) -> list[str]:
  """pip from the wheel folder only (no index, no network)."""
  return [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", wheels, *dists]


def ensure_packages(wheels: str | None, run: Any = subprocess.run) -> dict[str, Any]:
  """Installs the missing packages from `wheels`; returns what was missing and what was done."""
  missing = missing_packages()
  rec: dict[str, Any] = {"missing": missing, "installed": False}
  if not missing:
    return rec
  if not wheels or not os.path.isdir(wheels):
    rec["error"] = f"missing {missing} and no wheel folder (--wheels) to install them from"
    return rec
  cmd = install_command(wheels, missing)
  proc = run(cmd, capture_output=True, text=True)
  rec.update(command=" ".join(cmd), installed=proc.returncode == 0,
             pip_tail=(proc.stdout + proc.stderr)[-2000:])
  return rec


def sizes(dry_run: bool) -> dict[str, Any]:
  """Frame / crop sizes and counts: the real ones, or tiny ones for a CPU dry run."""
  if dry_run:
    return {"arch": "tiny", "height": 64, "width": 96, "num_frames": 6, "crop": 32,
            "train_batch": 1, "train_steps": 1}
  return {"arch": "official", "height": 480, "width": 864, "num_frames": 30, "crop": 384,
          "train_batch": 4, "train_steps": 3}


def jax_infer(precision: str, sz: dict[str, Any]) -> dict[str, Any]:
  from rde_jax.benchmark import run as bench_run
  from rde_jax.benchmark.config import get_config
  c = get_config()
  c.arch, c.height, c.width, c.num_frames = sz["arch"], sz["height"], sz["width"], sz["num_frames"]
  c.warmup, c.window, c.stages, c.peak, c.modes = 2, 2, False, False, "rde"
  c.dtype = "bfloat16" if precision == "bfloat16" else "float32"
  c.precision = "highest" if precision == "float32" else "default"
  r = bench_run.run(c)["rde"]
  return {"fps": r["fps"], "latency_median_s": r["latency_s"]["median"],
          "compile_s": r["compile_s"], "peak_device_bytes": _jax_peak()}


def _jax_peak() -> int | None:
  import jax
  stats = jax.devices()[0].memory_stats()
  return None if not stats else int(stats.get("peak_bytes_in_use", 0))


def torch_infer(precision: str, sz: dict[str, Any]) -> dict[str, Any]:
  import numpy as np
  import torch
  sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
  import torch_twin
  from rde_jax.model import architectures
  from rde_jax.model.architectures import Arch
  from rde_jax.benchmark.train_run import benchmark_variables
  cuda = torch.cuda.is_available()
  dev = torch.device("cuda" if cuda else "cpu")
  if cuda:
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
  arch = Arch.from_config(architectures.get(sz["arch"]))
  net = torch_twin.TwinNetwork.from_variables(benchmark_variables(arch, 0), arch).to(dev)
  prop = torch_twin.TwinPropagator(net, top_k=20)
  rng = np.random.default_rng(0)
  h, w = sz["height"], sz["width"]
  frame = torch.from_numpy(rng.standard_normal((1, 3, h, w), np.float32)).to(dev)
  onehot = torch.zeros(2, h, w, device=dev)
  onehot[0, : h // 2], onehot[1, h // 2:] = 1, 1
  sync = torch.cuda.synchronize if cuda else (lambda: None)
  times = []
  with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bfloat16"):
    prop.init(frame, onehot)
    for i in range(sz["num_frames"]):
      t0 = time.perf_counter()
      prop.step(frame, add_to_memory=i % 5 == 4)  # mem_every 5, as our default
      sync()
      times.append(time.perf_counter() - t0)
  med = float(np.median(times[2:]))
  peak = int(torch.cuda.max_memory_allocated()) if cuda else None
  return {"fps": round(1.0 / med, 3), "latency_median_s": round(med, 5), "peak_device_bytes": peak}


def official_infer(official: str | None, sz: dict[str, Any]) -> dict[str, Any]:
  """The official eval network + InferenceCore from a checkout (STCN-style API assumed)."""
  if not official:
    return {"skipped": "no --official checkout given"}
  sys.path.insert(0, official)
  import torch
  from model.eval_network import RDE_VOS  # noqa: the official checkout
  from inference_core import InferenceCore  # noqa
  dev = "cuda" if torch.cuda.is_available() else "cpu"
  net = RDE_VOS().to(dev).eval()
  t, h, w = sz["num_frames"], sz["height"], sz["width"]
  images = torch.randn(1, t, 3, h, w, device=dev)
  mask = torch.zeros(2, 1, h, w, device=dev)
  mask[0, :, : h // 2], mask[1, :, h // 2:] = 1, 1
  with torch.inference_mode():
    core = InferenceCore(net, images, 2, top_k=20, mem_every=5)
    t0 = time.perf_counter()
    core.interact(mask, 0, t)
    if dev == "cuda":
      torch.cuda.synchronize()
    dt = time.perf_counter() - t0
  return {"fps": round((t - 1) / dt, 3), "frames": t}


def jax_train(dtype: str, sz: dict[str, Any], remat: str) -> dict[str, Any]:
  from rde_jax.benchmark import train_run
  spec = importlib.util.spec_from_file_location(
      "benchmark_train", os.path.join(ROOT, "configs", "benchmark_train.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  c.arch, c.height, c.width = sz["arch"], sz["crop"], sz["crop"]
  c.batch_size, c.train_steps, c.dtype, c.remat, c.peak = (sz["train_batch"], sz["train_steps"],
                                                           dtype, remat, False)
  r = train_run.run_train(c, lambda: 0)
  return {"step_s": r["step_s"]["median"], "clips_per_s": r["clips_per_s"],
          "compile_s": r["compile_s"], "estimate_gib": r["memory"].get("estimate_gib"),
          "batch": c.batch_size, "remat": remat, "peak_device_bytes": _jax_peak()}


def torch_train_amp(official: str | None, sz: dict[str, Any]) -> dict[str, Any]:
  if not official:
    return {"skipped": "no --official checkout given"}
  sys.path.insert(0, official)
  from model.model import RDE_VOSModel  # noqa: the official checkout
  return {"skipped": "RDE_VOSModel imports; its do_pass needs torch.distributed (DDP) and the "
                     "official para dict: not run by this script yet", "importable": True}


def section(name: str, args: argparse.Namespace) -> dict[str, Any]:
  """Runs one section in this process (the subprocess side)."""
  sz = sizes(args.dry_run)
  variant = name.rsplit("_", 1)[1]
  if name.startswith("jax_infer_"):
    return jax_infer(variant, sz)
  if name.startswith("torch_infer_"):
    return torch_infer(variant, sz)
  if name == "official_infer":
    return official_infer(args.official, sz)
  if name.startswith("jax_train_"):
    return jax_train(variant, sz, args.remat)
  return torch_train_amp(args.official, sz)


def section_argv(args: argparse.Namespace) -> list[str]:
  """The flags a section subprocess needs."""
  argv = ["--remat", args.remat] + (["--dry_run"] if args.dry_run else [])
  return argv + (["--official", args.official] if args.official else [])


def run_all(args: argparse.Namespace) -> dict[str, Any]:
  """Parent: installer, then each section in a subprocess within the budget."""
  t_start = time.perf_counter()
  report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "dry_run": args.dry_run,
                            "budget_s": args.budget_s, "sizes": sizes(args.dry_run),
                            "packages": ensure_packages(args.wheels), "sections": {}}
  env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false",
             PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "benchmarks")]))
  for name in [s for s in SECTIONS if not args.only or s in args.only.split(",")]:
    left = args.budget_s - (time.perf_counter() - t_start)
    if left < MIN_SECTION_S:
      report["sections"][name] = {"skipped": f"budget: {left:.0f} s left"}
      continue
    cmd = [sys.executable, os.path.abspath(__file__), "--section", name, *section_argv(args)]
    t0 = time.perf_counter()
    try:
      proc = subprocess.run(cmd, capture_output=True, text=True, timeout=left, env=env)
      lines = [l for l in proc.stdout.splitlines() if l.startswith("SECTION_JSON ")]
      res = (json.loads(lines[-1][len("SECTION_JSON "):]) if lines
             else {"error": (proc.stderr or proc.stdout)[-1500:], "rc": proc.returncode})
    except subprocess.TimeoutExpired:
      res = {"error": f"timed out after {left:.0f} s (budget)"}
    res["wall_s"] = round(time.perf_counter() - t0, 2)
    report["sections"][name] = res
  report["total_s"] = round(time.perf_counter() - t_start, 2)
  return report


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--wheels", default=None, help="folder of wheels for missing packages")
  p.add_argument("--official", default=None, help="checkout of the official RDE-VOS code")
  p.add_argument("--out", default="device_check.json")
  p.add_argument("--budget_s", type=float, default=450.0, help="whole run, seconds")
  p.add_argument("--remat", default="all", help="remat policy of the training sections")
  p.add_argument("--only", default="", help="comma list of sections (default: all)")
  p.add_argument("--dry_run", action="store_true", help="tiny sizes (a CPU check of the logic)")
  p.add_argument("--section", default=None, help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.section:
    sys.path.insert(0, ROOT)
    try:
      res = section(args.section, args)
    except Exception as e:  # noqa: BLE001 - recorded in the JSON, the other sections go on
      res = {"error": f"{type(e).__name__}: {e}"[:1500]}
    print("SECTION_JSON " + json.dumps(res))
    return
  report = run_all(args)
  with open(args.out, "w") as f:
    json.dump(report, f, indent=1)
  print(json.dumps({k: v for k, v in report.items() if k != "packages"}, indent=1))


if __name__ == "__main__":
  main()
