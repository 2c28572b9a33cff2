"""How far from the chip's limit: XLA's FLOP count of a compiled step and the peak matmul rate.

    flops = roofline.flops_of(jax.jit(f).lower(*args).compile())   # XLA cost analysis
    peak = roofline.measure_peak("float32")                          # {'gflops': ..., ...}
    row = roofline.fraction(flops, seconds, peak["gflops"])

The peak is measured in the same process as the stages (a square matmul loop, best of a few
calls), so it reflects the threads, clocks and load the stages ran under.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def flops_of(compiled: Any) -> float | None:
  """FLOPs of one call of a compiled executable (XLA cost analysis), None where unavailable."""
  try:
    cost = compiled.cost_analysis()
  except Exception:  # pragma: no cover - backends without cost analysis
    return None
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else None
  if not cost or "flops" not in cost:
    return None
  return float(cost["flops"])


def measure_peak(dtype: str = "float32", n: int = 2048, calls: int = 4,
                 inner: int = 2) -> dict[str, Any]:
  """Best achieved GFLOP/s of an (n,n)@(n,n) matmul in `dtype` (inner matmuls per call).

  The chain x <- (x @ b) * s keeps every product live and needs no host sync between them.
  """
  dt = jnp.dtype(dtype)
  gen = np.random.default_rng(0)
  a = jnp.asarray(gen.standard_normal((n, n), np.float32), dt)
  b = jnp.asarray(gen.standard_normal((n, n), np.float32) / np.sqrt(n), dt)

  def chain(x: jnp.ndarray, w: jnp.ndarray) -> jnp.ndarray:
    for _ in range(inner):
      x = (x @ w) * jnp.asarray(0.5, dt)
    return x

  compiled = jax.jit(chain).lower(a, b).compile()
  jax.block_until_ready(compiled(a, b))
  times = []
  for _ in range(calls):
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(a, b))
    times.append(time.perf_counter() - t0)
  flops = 2.0 * n ** 3 * inner
  return {"dtype": dtype, "n": n, "gflops": round(flops / min(times) / 1e9, 2),
          "median_gflops": round(flops / float(np.median(times)) / 1e9, 2),
          "xla_flops": flops_of(compiled)}


def fraction(flops: float | None, seconds: float, peak_gflops: float | None) -> dict[str, Any]:
  """GFLOP, achieved GFLOP/s and the fraction of the peak for one timed stage."""
  if not flops or seconds <= 0:
    return {"gflop": None, "gflops": None, "of_peak": None}
  rate = flops / seconds / 1e9
  return {"gflop": round(flops / 1e9, 3), "gflops": round(rate, 2),
          "of_peak": round(rate / peak_gflops, 3) if peak_gflops else None}
