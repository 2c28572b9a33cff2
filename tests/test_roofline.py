"""FLOP counts from XLA's cost analysis and the measured matmul peak (rde_jax.benchmark.roofline)."""

import jax
import jax.numpy as jnp

from rde_jax.benchmark import roofline


def test_flops_of_a_matmul_is_2mnk():
  a, b = jnp.ones((32, 48)), jnp.ones((48, 16))
  assert roofline.flops_of(jax.jit(jnp.matmul).lower(a, b).compile()) == 2 * 32 * 48 * 16


def test_peak_and_fraction():
  peak = roofline.measure_peak("float32", n=128, calls=2, inner=3)
  assert peak["gflops"] >= peak["median_gflops"] > 0
  assert peak["xla_flops"] >= 3 * 2 * 128 ** 3  # the products (plus the scaling)
  row = roofline.fraction(4e9, 2.0, 8.0)
  assert row == {"gflop": 4.0, "gflops": 2.0, "of_peak": 0.25}
  assert roofline.fraction(None, 1.0, 8.0)["of_peak"] is None
