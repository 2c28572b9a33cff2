r"""Where Winograd pays for a 3x3 convolution on XLA:CPU: forward and forward + backward (input and
weight gradients), direct (Eigen, YNNPACK off as training runs) against `winograd.conv3x3`, at the
training step's 1/16-scale shapes (24x24 at 384x384 crops) and a few around them.

    python benchmarks/winograd_threshold.py

Prints one line per shape (N, size, Cin->Cout): best of 5, milliseconds. What set
`conv_algorithm.MIN_PIXELS` to count the batch's output positions (N*H*W >= 1024).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SHAPES = ((2, 24, 1280, 512), (2, 24, 1024, 512), (2, 24, 512, 512), (5, 24, 256, 256),
          (1, 24, 1024, 512), (1, 24, 512, 512), (2, 16, 512, 512), (2, 12, 1024, 512),
          (1, 32, 512, 512))


def main() -> None:
  from rde_jax import cpu_settings
  cpu_settings.apply("auto", purpose="train")
  import jax
  import jax.numpy as jnp
  from jax import lax
  from rde_jax.model import winograd
  from step_kernels import best_ms  # benchmarks/, next to this file

  def direct(x, k):
    return lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)),
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))

  for n, hw, c, o in SHAPES:
    key = jax.random.PRNGKey(0)
    x = jax.random.normal(key, (n, hw, hw, c))
    k = jax.random.normal(key, (3, 3, c, o)) * 0.01
    cells = []
    for name, conv in (("direct", direct), ("winograd", winograd.conv3x3)):
      grad = jax.grad(lambda x, k: jnp.sum(conv(x, k) ** 2), argnums=(0, 1))
      cells.append(f"{name} fwd {best_ms(conv, x, k):.1f} fwd+bwd {best_ms(grad, x, k):.1f}")
    print(f"N{n} {hw}x{hw} {c}->{o} ({n * hw * hw} positions): " + " | ".join(cells), flush=True)


if __name__ == "__main__":
  main()
