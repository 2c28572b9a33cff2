"""The training-speed tools of benchmarks/: variant specs (train_variants.py) and the HLO/trace
bookkeeping of train_step_profile.py, on a small jitted gradient (no network)."""

import os
import sys

import jax
import jax.numpy as jnp
import pytest
from jax import lax

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))

import train_step_profile  # noqa: E402
import train_variants  # noqa: E402


def test_variant_specs():
  assert train_variants.parse_variant("twin") == ("twin", {"kind": "twin"})
  name, opts = train_variants.parse_variant(
      "eigen=conv=winograd,min_pixels=16,flags=--xla_a= --xla_b=x,y")
  assert name == "eigen"
  assert opts == {"kind": "jax", "conv": "winograd", "min_pixels": "16",
                  "flags": "--xla_a= --xla_b=x,y"}  # commas after flags= stay in the flags
  assert train_variants.parse_variant("plain=conv=direct")[1] == {"kind": "jax", "conv": "direct"}
  with pytest.raises(SystemExit, match="unknown key 'speed'"):
    train_variants.parse_variant("x=speed=max")


def _conv_loss(x, w):
  y = lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                               dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return jnp.sum(jnp.tanh(y) ** 2)


def test_hlo_instructions_get_phase_and_kind():
  x = jnp.ones((2, 8, 8, 4))
  w = jnp.full((3, 3, 4, 16), 0.1)
  compiled = jax.jit(jax.value_and_grad(_conv_loss, argnums=1)).lower(x, w).compile()
  text = compiled.as_text()
  info, comps = train_step_profile.parse_hlo(text), train_step_profile.fused_ops(text)
  assert info, "no instruction parsed"
  kinds = {train_step_profile.kind_of(i, comps) for i in info.values()}
  phases = {train_step_profile.phase_of(i["op_name"]) for i in info.values()}
  # The weight gradient is a convolution whose output has the kernel's shape [O, 3, 3, I] or
  # [3, 3, I, O]; the forward convolution's output is an activation.
  assert "convolution" in kinds or "conv weight-grad" in kinds
  assert "forward" in phases and "backward" in phases
  assert train_step_profile._kernel_shaped("f32[256,3,3,128]{3,2,1,0}")
  assert not train_step_profile._kernel_shaped("f32[2,48,48,256]{3,2,1,0}")
  assert train_step_profile.part_of("jit(_update)/transpose(jvp(decoder))/up_8_4/conv") == "decoder"
  assert train_step_profile.phase_of("jit(_update)/add") == "update/other"
