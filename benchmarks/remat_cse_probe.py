r"""Does `jax.checkpoint` save memory on XLA:CPU? Three checkpointed chains of eight 3x3
convolutions (4x128x128x64, float32), XLA's temporary memory of the jitted gradient:

    python benchmarks/remat_cse_probe.py

Prints the estimate without remat, with `jax.checkpoint`, and with a recomputation tied to the
cotangent (as tried for the training step in session 6 of issue 23). On the
CPU backend the first two were equal (800 MiB): XLA:CPU drops the optimisation barriers that
`jax.checkpoint` puts around the recomputation and merges it with the forward's computation
(benchmarks/RESULTS_training.md, session 6).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def chain(ws: list, x: jnp.ndarray) -> jnp.ndarray:
  for w in ws:
    x = jnp.tanh(lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                                          dimension_numbers=("NHWC", "HWIO", "NHWC")))
  return x


def tied_checkpoint(f):
  """f(ws, x) recomputed in the backward from inputs tied to the cotangent (no CSE possible)."""
  @jax.custom_vjp
  def g(ws, x):
    return f(ws, x)

  def fwd(ws, x):
    return f(ws, x), (ws, x)

  def bwd(res, ct):
    ws, x = res
    first = ct.reshape(-1)[0]
    x = x + (jnp.where(jnp.isfinite(first), first, 0.0) * 0.0).astype(x.dtype)
    return jax.vjp(f, ws, x)[1](ct)

  g.defvjp(fwd, bwd)
  return g


def temp_mib(wrap) -> float:
  g = wrap(chain)
  loss = lambda a, b, c, x: jnp.sum(g(c, g(b, g(a, x))))
  key = jax.random.PRNGKey(0)
  ws = [jax.random.normal(key, (3, 3, 64, 64)) * 0.05 for _ in range(8)]
  x = jax.random.normal(key, (4, 128, 128, 64))
  compiled = jax.jit(jax.grad(loss, argnums=(0, 1, 2))).lower(ws, ws, ws, x).compile()
  return compiled.memory_analysis().temp_size_in_bytes / 2 ** 20


def main() -> None:
  print(f"backend {jax.default_backend()}; one activation: 16 MiB")
  for name, wrap in (("no remat", lambda f: f), ("jax.checkpoint", jax.checkpoint),
                     ("recompute tied to the cotangent", tied_checkpoint)):
    print(f"{name:34s} temp {temp_mib(wrap):7.0f} MiB", flush=True)


if __name__ == "__main__":
  main()
