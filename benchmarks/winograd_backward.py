r"""The backward of the Winograd convolution: autodiff's against the hand-written one, per shape.

    python benchmarks/winograd_backward.py [--out benchmarks/winograd_backward.json]

Forward + backward of sum(conv3x3(x, k)^2 * g) (input and kernel gradients), jitted, best of 5,
at the 3x3 convolutions of the training step at 384x384 crops (decoder at 1/4, 1/8, 1/16 scale
with 2 objects; value encoder; key encoder with 5 frames): `autodiff` differentiates the
forward (`winograd._conv3x3_transformed.fun`: the strided views transposed to padded sums, the
transformed tiles kept), `custom` runs what the network runs (`winograd.conv3x3`: its backward
`winograd_backward.gradients`, the tiles recomputed from x). XLA_FLAGS as the training default.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.step_kernels import best_ms  # noqa: E402

# (N, H, W, C), O: tiles T = N * H/4 * W/4 from 72 to 2880; the prediction conv (O = 1).
SHAPES = (((2, 96, 96, 256), 256), ((5, 96, 96, 64), 64), ((2, 48, 48, 512), 256),
          ((5, 48, 48, 128), 128), ((4, 24, 24, 512), 512), ((2, 24, 24, 512), 512),
          ((2, 96, 96, 256), 1))


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--out", default="")
  args = ap.parse_args()
  from rde_jax import cpu_settings
  cpu_settings.apply("auto", purpose="train")
  import jax
  import jax.numpy as jnp
  import numpy as np
  from rde_jax.model import winograd

  def autodiff_conv(x, k):
    return winograd._conv3x3_transformed.fun(x, winograd.transform_kernel(k))

  rows = []
  rng = np.random.default_rng(0)
  for shape, o in SHAPES:
    x = jnp.asarray(rng.standard_normal(shape, np.float32))
    k = jnp.asarray(rng.standard_normal((3, 3, shape[-1], o), np.float32) * 0.05)
    g = jnp.asarray(rng.standard_normal(shape[:3] + (o,), np.float32))
    row = {"x": list(shape), "out_channels": o, "tiles": shape[0] * shape[1] * shape[2] // 16}
    for name, conv in (("autodiff", autodiff_conv), ("custom", winograd.conv3x3)):
      loss = lambda x, k, conv=conv: jnp.sum(jnp.square(conv(x, k)) * g)
      row[name + "_ms"] = best_ms(jax.grad(loss, (0, 1)), x, k)
    rows.append(row)
    print(json.dumps(row), flush=True)
  if args.out:
    with open(args.out, "w") as f:
      json.dump({"cpu": platform.processor() or platform.machine(),
                 "xla_flags": os.environ.get("XLA_FLAGS", ""), "rows": rows}, f, indent=1)


if __name__ == "__main__":
  main()
