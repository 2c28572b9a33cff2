r"""Three small kernels of the training step on XLA:CPU, as first written and as the network now
runs them: per-channel sums (conv bias and BatchNorm gradients), the stems' max-pool gradient and
the backward of a 1x1 convolution as a matrix product.

    python benchmarks/step_kernels.py [--out step_kernels.json]

The gradients of conv biases and of BatchNorm's scale and bias are sums over (N, H, W) with the
channel axis kept. Timed, jitted, best of 5, for the training step's shapes: `jnp.sum(t, (0, 1,
2))` (what autodiff writes), `rde_jax.model.channel_ops.channel_sum` (ones (M,) @ t (M, C), what
the network's Conv2D / FrozenBatchNorm backward now runs), and the product sum of BatchNorm's
scale gradient both ways. Max pool: forward + gradient of flax's `nn.max_pool` (reduce-window;
its gradient select-and-scatter) against `rde_jax.model.layers.max_pool_3x3_s2` (the same
forward, PyTorch's gradient as a linear JVP over the nine taps) at the stems' shapes. 1x1
convolution: gradient (input and weight) of relu(conv(x) * s) summed, the conv as
`einsum('nhwc,co->nhwo')` against a (N*H*W, C) @ (C, O) matmul (`conv_algorithm._pointwise`),
at the key encoder's bottleneck shapes (5 frames, 96x96 / 48x48). XLA_FLAGS as the training default (`cpu_settings.apply('auto',
purpose='train')`); `--flags` replaces them (e.g. `--xla_disable_hlo_passes=tree_reduction_rewriter`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SHAPES = ((5, 96, 96, 256), (2, 96, 96, 256), (5, 48, 48, 512), (2, 24, 24, 512))
POOL_SHAPES = ((5, 192, 192, 64), (2, 192, 192, 64))  # the stems at 384x384: 5 frames, 2 objects
POINTWISE = (((5, 96, 96, 64), 256), ((5, 96, 96, 256), 64), ((5, 48, 48, 512), 128))


def best_ms(fn, *args) -> float:
  import jax
  fn = jax.jit(fn)
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(5):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return round(min(times) * 1e3, 3)


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--flags", default=None, help="XLA flags instead of the training default")
  ap.add_argument("--out", default="")
  args = ap.parse_args()
  from rde_jax import cpu_settings
  if args.flags is None:
    cpu_settings.apply("auto", purpose="train")
  else:
    os.environ["XLA_FLAGS"] = args.flags
  import jax
  import jax.numpy as jnp
  from rde_jax.model.channel_ops import channel_sum
  rows = []
  for shape in SHAPES:
    x = jax.random.normal(jax.random.PRNGKey(0), shape)
    y = jax.random.normal(jax.random.PRNGKey(1), shape)
    row = {"shape": shape, "MB": round(x.size * 4 / 1e6, 1),
           "reduce_ms": best_ms(lambda t: jnp.sum(t, (0, 1, 2)), x),
           "ones_dot_ms": best_ms(channel_sum, x),
           "product_reduce_ms": best_ms(lambda a, b: jnp.sum(a * b, (0, 1, 2)), x, y),
           "product_ones_dot_ms": best_ms(lambda a, b: channel_sum(a * b), x, y)}
    rows.append(row)
    print(json.dumps(row), flush=True)
  import flax.linen as nn
  from rde_jax.model.layers import max_pool_3x3_s2
  pool_rows = []
  reduce_window = lambda t: nn.max_pool(t, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
  for shape in POOL_SHAPES:
    x = jax.random.normal(jax.random.PRNGKey(0), shape)
    grad = lambda pool: jax.grad(lambda t: jnp.sum(pool(t) * 1.5))
    row = {"shape": shape, "reduce_window_grad_ms": best_ms(grad(reduce_window), x),
           "tap_jvp_grad_ms": best_ms(grad(max_pool_3x3_s2), x)}
    pool_rows.append(row)
    print(json.dumps(row), flush=True)
  from rde_jax.model.conv_algorithm import _pointwise
  pointwise_rows = []
  for shape, out in POINTWISE:
    x = jax.random.normal(jax.random.PRNGKey(0), shape)
    w = jax.random.normal(jax.random.PRNGKey(1), (1, 1, shape[-1], out)) * 0.05
    scale = jnp.full((out,), 0.5)
    grad = lambda conv: jax.grad(lambda x, w: jnp.sum(jax.nn.relu(conv(x, w) * scale) ** 2), (0, 1))
    einsum = lambda x, w: jnp.einsum("nhwc,co->nhwo", x, w[0, 0])
    row = {"shape": shape, "out": out, "einsum_grad_ms": best_ms(grad(einsum), x, w),
           "matmul_grad_ms": best_ms(grad(lambda x, w: _pointwise(x, w, (1, 1))), x, w)}
    pointwise_rows.append(row)
    print(json.dumps(row), flush=True)
  if args.out:
    with open(args.out, "w") as f:
      json.dump({"rows": rows, "max_pool": pool_rows, "pointwise": pointwise_rows, "xla_flags": os.environ.get("XLA_FLAGS", ""),
                 "cpu": cpu_settings.record().get("model_name")}, f, indent=1)


if __name__ == "__main__":
  main()
