"""InferenceSettings: defaults from one place, validation naming the field, presets, hashing."""

import dataclasses
import re

import pytest

from rde_jax.errors import UserError
from rde_jax.inference import modes
from rde_jax.inference.settings import InferenceSettings, MEMORY_MODES, PRESETS
from rde_jax.model import conv_algorithm


def test_constants_match_the_library():
  assert MEMORY_MODES == modes.MODES
  assert InferenceSettings().memory_mode == modes.DEFAULT
  assert tuple(conv_algorithm.ALGORITHMS) == ("auto", "direct", "winograd")


@pytest.mark.parametrize("field,value,message", [
    ("top_k", 0, "--top_k must be an integer >= 1"),
    ("mem_every", 0, "--mem_every must be an integer >= 1"),
    ("chunk", -1, "--chunk must be an integer >= 1"),
    ("max_side", 8, "--max_side must be 0 (native size) or >= 16"),
    ("memory_mode", "bogus", "--memory_mode must be one of"),
    ("dtype", "float64", "--dtype must be one of"),
    ("conv_algorithm", "fft", "--conv_algorithm must be one of"),
    ("include_last", "yes", "--include_last must be True or False"),
    ("top_k", True, "--top_k must be an integer"),
])
def test_bad_values_name_the_flag(field, value, message):
  with pytest.raises(UserError, match=re.escape(message)):
    InferenceSettings.from_values("--", **{field: value})


def test_unknown_field_is_refused():
  with pytest.raises(UserError, match="config.topk: not an inference setting"):
    InferenceSettings.from_values("config.", topk=3)


def test_frozen_hashable_and_engine_key():
  a, b = InferenceSettings(), InferenceSettings(mem_every=5, chunk=2)
  assert hash(a) == hash(InferenceSettings()) and a != b
  assert a.engine_key() == b.engine_key()  # host-loop fields do not change the compiled step
  assert a.engine_key() != a.replace(top_k=20).engine_key()
  with pytest.raises(dataclasses.FrozenInstanceError):
    a.top_k = 3
  with pytest.raises(UserError):
    a.replace(top_k=0)


def test_presets_and_round_trip():
  official = InferenceSettings.from_preset("official", mem_every=5)
  assert (official.dtype, official.conv_algorithm, official.mem_every) == ("float16", "direct", 5)
  assert official.preset == "official"
  assert InferenceSettings().preset == "float32"
  assert InferenceSettings(dtype="bfloat16").preset == "fast"
  assert InferenceSettings(dtype="float16").preset == "custom"
  assert set(PRESETS) == {"float32", "official", "fast"}
  assert InferenceSettings.from_dict(official.to_dict()) == official
  with pytest.raises(UserError, match="--preset must be one of"):
    InferenceSettings.from_preset("turbo", "--")


def test_from_config_and_native_size():
  cfg = {"top_k": 20, "mem_every": 3, "max_side": 0, "preset": "", "unrelated": 1}
  s = InferenceSettings.from_config(cfg)
  assert (s.top_k, s.max_side) == (20, None)
  assert InferenceSettings.from_config({"preset": "fast"}).dtype == "bfloat16"
  assert s.conv_algorithm_for("cpu") == "winograd"
  assert s.conv_algorithm_for("gpu") == "direct"
  assert s.replace(conv_algorithm="direct").conv_algorithm_for("cpu") == "direct"
