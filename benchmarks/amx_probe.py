r"""Which XLA:CPU flag set lets bfloat16 reach a native kernel (AMX / AVX512-BF16)? A probe.

    python benchmarks/amx_probe.py                       # every built-in flag set
    ONEDNN_VERBOSE=1 python benchmarks/amx_probe.py --only onednn_dot

For each flag set (one subprocess each, XLA reads XLA_FLAGS once) and each dtype it times a
2048^2 matmul, a 3x3 conv 256->256 on 2x120x216 (the decoder's largest) and the same conv
written as one matmul over 3x3 patches (im2col: `lax.conv_general_dilated_patches` + dot, so
a library that takes dots but not convolutions gets it), and reads the optimised HLO: does the
op still run in bfloat16 or was it converted to float32 first (`convert` to f32 feeding the
dot/conv), and which library fusion took it (ynn_fusion, onednn_fusion, xnn_fusion,
__onednn$ custom call). Written to be run on an Intel Xeon with AMX; on CPUs without bf16
hardware XLA upcasts every bf16 dot/conv to f32 by design.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from typing import Any

SETS = {
    "default": "",
    "onednn": "--xla_cpu_use_onednn=true",
    "onednn_dot": "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type=dot",
    "onednn_dot_amx": ("--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type=dot "
                       "--xla_cpu_max_isa=AMX"),
    "onednn_conv": ("--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type="
                    "individual_convolution,dot --xla_cpu_experimental_ynn_fusion_type="),
    "onednn_custom_call": "--xla_cpu_experimental_onednn_custom_call=true",
    "ynn_off": "--xla_cpu_experimental_ynn_fusion_type=",
}


def _hlo_facts(text: str) -> dict[str, Any]:
  kinds = sorted(set(re.findall(r"%(\w+?_fusion)[.\d]* = ", text)))
  calls = sorted(set(re.findall(r'custom_call_target="([^"]+)"', text)))
  upcast = bool(re.search(r"f32\[[^\]]*\][^=]*= ?\S* ?convert\(|wrapped_convert", text))
  bf16_ops = bool(re.search(r"bf16\[[^\]]*\]\S* (dot|convolution)\(", text))
  return {"library_fusions": kinds, "custom_calls": calls, "bf16_converted_to_f32": upcast,
          "bf16_dot_or_conv_in_hlo": bf16_ops}


def worker(repeats: int) -> dict[str, Any]:
  import jax
  import jax.numpy as jnp
  from jax import lax
  dn = ("NHWC", "HWIO", "NHWC")

  def conv(x: jnp.ndarray, w: jnp.ndarray) -> jnp.ndarray:
    return lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=dn)

  def im2col(x: jnp.ndarray, w: jnp.ndarray) -> jnp.ndarray:
    p = lax.conv_general_dilated_patches(x, (3, 3), (1, 1), ((1, 1), (1, 1)),
                                         dimension_numbers=dn)  # channels ordered (C, kh, kw)
    wm = jnp.transpose(w, (2, 0, 1, 3)).reshape(-1, w.shape[-1])
    return p @ wm

  cases = {"matmul_2048": (jnp.matmul, (2048, 2048), (2048, 2048), 2 * 2048 ** 3),
           "conv3x3_256": (conv, (2, 120, 216, 256), (3, 3, 256, 256),
                           2 * 2 * 120 * 216 * 256 * 256 * 9)}
  cases["im2col_conv3x3_256"] = (im2col,) + cases["conv3x3_256"][1:]
  out: dict[str, Any] = {"xla_flags": os.environ.get("XLA_FLAGS", "")}
  for dtype in ("float32", "bfloat16"):
    for name, (fn, sa, sb, flops) in cases.items():
      a, b = jnp.ones(sa, dtype), jnp.full(sb, 0.01, dtype)
      try:
        compiled = jax.jit(fn).lower(a, b).compile()
      except Exception as e:  # a flag combination XLA refuses
        out[f"{name}/{dtype}"] = {"error": str(e).splitlines()[0][:200]}
        continue
      jax.block_until_ready(compiled(a, b))
      best = float("inf")
      for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(a, b))
        best = min(best, time.perf_counter() - t0)
      out[f"{name}/{dtype}"] = {"gflops": round(flops / best / 1e9, 1),
                                **_hlo_facts(compiled.as_text())}
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--only", default="", help="comma list of flag-set names")
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  if args.worker:
    print(json.dumps(worker(args.repeats)))
    return
  names = [n for n in args.only.split(",") if n] or list(SETS)
  report: dict[str, Any] = {}
  for name in names:
    env = dict(os.environ, XLA_FLAGS=SETS[name])
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", "--repeats",
                           str(args.repeats)], env=env, capture_output=True, text=True)
    if proc.returncode:
      report[name] = {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    else:
      report[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    for case, r in report[name].items():
      if isinstance(r, dict):
        print(f"{name:20s} {case:28s} " + ("error " + r["error"] if "error" in r else
              f"{r['gflops']:8.1f} GFLOP/s  bf16 kept: {r['bf16_dot_or_conv_in_hlo']!s:5}  "
              f"upcast: {r['bf16_converted_to_f32']!s:5}  {r['library_fusions']} "
              f"{r['custom_calls']}"), flush=True)
  if args.out:
    with open(args.out, "w") as f:
      json.dump(report, f, indent=1)


if __name__ == "__main__":
  main()
