r"""One convolution's forward, input gradient and weight gradient: XLA:CPU against PyTorch.

    python benchmarks/conv_grad_kernels.py --out conv_grad.json
    XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type= python benchmarks/conv_grad_kernels.py

For a few convolution shapes of the training step (NHWC, float32) it times, best of `--repeats`
after one untimed call: XLA's forward (`fwd`), input gradient (`ig`) and weight gradient (`wg`,
both from `jax.vjp` of `lax.conv_general_dilated`), the weight gradient written as matrix
products of the shifted inputs (`wg_taps`: one product per kernel tap; `wg_im2col`: one product
of the im2col matrix), and PyTorch's forward and forward + backward (`torch_fwd`,
`torch_fwd_bwd`, oneDNN), with `--threads` threads each. XLA_FLAGS (e.g. YNNPACK off) apply to
the process: run it once per flag set. The matrix-product weight gradients are checked against
XLA's (relative max difference).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Callable

# (batch, size, in channels, out channels, kernel, stride): the decoder's 3x3 at 1/4 and 1/8
# scale, ResNet's 3x3 at 1/4 and 1/2 scale, 1x1 bottleneck convolutions, a strided 3x3.
SHAPES = ((2, 96, 256, 256, 3, 1), (2, 48, 512, 512, 3, 1), (5, 96, 64, 64, 3, 1),
          (5, 192, 64, 64, 3, 1), (5, 96, 256, 64, 1, 1), (5, 96, 64, 256, 1, 1),
          (5, 48, 128, 128, 3, 2))


def best(fn: Callable[[], Any], repeats: int) -> float:
  fn()
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return min(times)


def measure(shape: tuple[int, ...], repeats: int, threads: int) -> dict[str, Any]:
  import jax
  import jax.numpy as jnp
  import numpy as np
  import torch
  from jax import lax
  n, h, c, o, k, s = shape
  p = k // 2
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((n, h, h, c), np.float32))
  w = jnp.asarray(rng.standard_normal((k, k, c, o), np.float32) * 0.05)
  conv = lambda x, w: lax.conv_general_dilated(x, w, (s, s), ((p, p), (p, p)),
                                               dimension_numbers=("NHWC", "HWIO", "NHWC"))
  y = conv(x, w)
  g = jnp.asarray(rng.standard_normal(y.shape, np.float32))
  ho, wo = y.shape[1:3]

  def shifted(x: jnp.ndarray) -> list[jnp.ndarray]:
    xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    return [xp[:, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s]
            for i in range(k) for j in range(k)]

  def wg_taps(x, g):
    gt = g.reshape(-1, o).T
    return jnp.stack([gt @ t.reshape(-1, c) for t in shifted(x)]).reshape(
        k, k, o, c).transpose(0, 1, 3, 2)

  def wg_im2col(x, g):
    cols = jnp.concatenate(shifted(x), -1).reshape(-1, k * k * c)
    return (g.reshape(-1, o).T @ cols).reshape(o, k, k, c).transpose(1, 2, 3, 0)

  fns = {"fwd": (jax.jit(conv), (x, w)),
         "ig": (jax.jit(lambda w, g: jax.vjp(lambda x: conv(x, w), x)[1](g)[0]), (w, g)),
         "wg": (jax.jit(lambda x, g: jax.vjp(lambda w: conv(x, w), w)[1](g)[0]), (x, g)),
         "wg_taps": (jax.jit(wg_taps), (x, g)), "wg_im2col": (jax.jit(wg_im2col), (x, g))}
  out: dict[str, Any] = {"shape": dict(zip(("batch", "size", "cin", "cout", "kernel", "stride"),
                                           shape)),
                         "gflop": round(2 * n * ho * wo * c * o * k * k / 1e9, 3)}
  ref = fns["wg"][0](*fns["wg"][1])
  for name, (fn, args) in fns.items():
    out[f"{name}_ms"] = round(1e3 * best(lambda: jax.block_until_ready(fn(*args)), repeats), 1)
    if name.startswith("wg_"):
      d = fn(*args) - ref
      out[f"{name}_rel_err"] = float(jnp.abs(d).max() / jnp.abs(ref).max())
  torch.set_num_threads(threads)
  tx = torch.randn(n, c, h, h, requires_grad=True)
  tconv = torch.nn.Conv2d(c, o, k, s, p, bias=False)
  tg = torch.randn_like(tconv(tx))

  def torch_fwd():
    with torch.no_grad():
      tconv(tx)

  def torch_fwd_bwd():
    tconv.weight.grad = tx.grad = None
    tconv(tx).backward(tg)
  out["torch_fwd_ms"] = round(1e3 * best(torch_fwd, repeats), 1)
  out["torch_fwd_bwd_ms"] = round(1e3 * best(torch_fwd_bwd, repeats), 1)
  return out


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--repeats", type=int, default=4)
  ap.add_argument("--threads", type=int, default=2)
  ap.add_argument("--out", default="")
  a = ap.parse_args()
  rows = []
  for shape in SHAPES:
    rows.append(measure(shape, a.repeats, a.threads))
    print(json.dumps(rows[-1]), flush=True)
  if a.out:
    with open(a.out, "w") as f:
      json.dump({"xla_flags": os.environ.get("XLA_FLAGS", ""), "load_avg": os.getloadavg(),
                 "rows": rows}, f, indent=1)


if __name__ == "__main__":
  main()
