"""CPU detection, the choice of XLA flags and the user's overrides (rde_jax.cpu_settings)."""

import os
import subprocess
import sys

import pytest

from rde_jax import cpu_settings

_AMD = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse avx fma avx2 bmi2
processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse avx fma avx2 bmi2
"""
_SPR = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C
flags\t\t: avx avx2 fma avx512f avx512bw avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8
"""


def test_cpuinfo_is_parsed_into_vendor_isa_and_family():
  amd = cpu_settings.parse_cpuinfo(_AMD)
  assert (amd.vendor, amd.model_name, amd.cores) == ("AuthenticAMD", "AMD EPYC", 2)
  assert amd.isa == ("avx", "avx2", "fma") and amd.family == "amd_avx2"
  spr = cpu_settings.parse_cpuinfo(_SPR)
  assert spr.family == "intel_amx" and "avx512_bf16" in spr.isa
  no_amx = cpu_settings.parse_cpuinfo(_SPR.replace(" amx_bf16", ""))
  assert no_amx.family == "intel_avx512"
  assert cpu_settings.parse_cpuinfo("").family == "other"


def test_user_flags_win_over_ours():
  text, added = cpu_settings.merge_flags(
      "--xla_cpu_use_onednn=false --foo", ["--xla_cpu_use_onednn=true", "--xla_cpu_ftz=true"])
  assert added == ["--xla_cpu_ftz=true"]
  assert text == "--xla_cpu_use_onednn=false --foo --xla_cpu_ftz=true"


def test_modes(monkeypatch):
  cpu = cpu_settings.parse_cpuinfo(_AMD)
  monkeypatch.setitem(cpu_settings.RECOMMENDED, "amd_avx2", ["--xla_cpu_ftz=true"])
  assert cpu_settings.choose("auto", cpu) == (["--xla_cpu_ftz=true"], "auto (amd_avx2)")
  assert cpu_settings.choose("none", cpu) == ([], "none")
  assert cpu_settings.choose("--xla_a=1 --xla_b", cpu) == (["--xla_a=1", "--xla_b"], "explicit")
  with pytest.raises(ValueError, match="--xla_"):
    cpu_settings.choose("fast please", cpu)


def test_training_flags_and_auto_plus_flags(monkeypatch):
  cpu = cpu_settings.parse_cpuinfo(_AMD)
  # The shipped training table turns YNNPACK's convolutions off on every x86 family.
  for family in ("amd_avx2", "amd_avx512", "intel_avx2", "intel_avx512", "intel_amx"):
    assert "--xla_cpu_experimental_ynn_fusion_type=" in cpu_settings.TRAIN_RECOMMENDED[family]
  monkeypatch.setitem(cpu_settings.RECOMMENDED, "amd_avx2", ["--xla_cpu_ftz=true"])
  monkeypatch.setitem(cpu_settings.TRAIN_RECOMMENDED, "amd_avx2", ["--xla_t=1", "--xla_u=2"])
  assert cpu_settings.choose("auto", cpu, "train") == (["--xla_t=1", "--xla_u=2"],
                                                       "auto (amd_avx2, train)")
  # 'auto' plus flags: the recommended ones, a flag named again taken from the user's words.
  assert cpu_settings.choose("auto --xla_u=3 --xla_s", cpu, "train") == (
      ["--xla_t=1", "--xla_u=3", "--xla_s"], "auto (amd_avx2, train) + flags")
  assert cpu_settings.choose("auto --xla_s", cpu)[0] == ["--xla_cpu_ftz=true", "--xla_s"]
  with pytest.raises(ValueError, match="auto' followed by"):
    cpu_settings.choose("auto fast", cpu, "train")
  with pytest.raises(ValueError, match="purpose"):
    cpu_settings.choose("auto", cpu, "serve")


def test_apply_sets_xla_flags_before_the_backend_starts():
  """In a fresh process: explicit flags reach XLA_FLAGS and the record; a user's flag stays."""
  code = ("import os, jax; from rde_jax import cpu_settings as c; "
          "r = c.apply('--xla_cpu_enable_fast_min_max=true --xla_cpu_use_xnnpack=true'); "
          "jax.devices(); print(r['applied'], r['added'], os.environ['XLA_FLAGS'], "
          "c.record()['xla_flags'] == os.environ['XLA_FLAGS'])")
  env = dict(os.environ, XLA_FLAGS="--xla_cpu_use_xnnpack=false")
  env.pop(cpu_settings.ENV_VAR, None)
  out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       check=True, cwd=os.path.dirname(os.path.dirname(__file__))).stdout
  assert out.split("\n")[0] == ("True ['--xla_cpu_enable_fast_min_max=true'] "
                                "--xla_cpu_use_xnnpack=false --xla_cpu_enable_fast_min_max=true "
                                "True")


def test_apply_after_the_backend_started_changes_nothing():
  import jax
  jax.devices()
  before = os.environ.get("XLA_FLAGS", "")
  r = cpu_settings.apply("--xla_cpu_enable_fast_min_max=true")
  assert not r["applied"] and "already" in r["note"]
  assert os.environ.get("XLA_FLAGS", "") == before
