"""Access to ../shared/reference (golden data of the official PyTorch model) for parity tests.

The weights are regenerated from the numpy recipe of the reference README §1; tests skip with a
clear message when the folder is absent.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import zlib

import numpy as np
import pytest

REFERENCE_DIR = pathlib.Path(os.environ.get(
    "RDE_REFERENCE_DIR", pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "reference"))


def require(name: str) -> pathlib.Path:
  """Path of a reference file, or skip the test with a clear message."""
  path = REFERENCE_DIR / name
  if not path.exists():
    pytest.skip(f"reference data {path} is absent (expected ../shared/reference beside the repo; "
                "set RDE_REFERENCE_DIR to point elsewhere)")
  return path


def _generate(entry: dict, shape: tuple[int, ...], gain: float) -> np.ndarray:
  rng = np.random.default_rng(zlib.crc32(entry["key"].encode("utf-8")))
  rule = entry["rule"]
  if rule == "bn_weight" or rule == "bn_running_var":
    v = rng.uniform(0.5, 1.5, size=shape)
  elif rule in ("bn_bias", "bn_running_mean"):
    v = rng.normal(0.0, 0.1, size=shape)
  elif rule == "fan_in_normal":
    fan_in = int(np.prod(shape[1:]))
    v = rng.normal(0.0, 1.0, size=shape) * (gain * math.sqrt(1.0 / fan_in))
  elif rule == "bias_normal":
    v = rng.normal(0.0, 0.05, size=shape)
  elif rule == "keep":
    return np.zeros(shape, np.int64)
  else:
    raise ValueError(f"unknown rule {rule}")
  return v.astype(np.float32)


def official_state_dict(value_in_channels: int = 5, with_mem_compress: bool = True) -> dict:
  """The recipe weights of the official eval network (or the stage-0 variant)."""
  meta = json.loads(require("official_state_dict.json").read_text())
  sd = {}
  for e in meta["entries"]:
    key, shape = e["key"], tuple(e["shape"])
    if not with_mem_compress and key.startswith("mem_compress."):
      continue
    if key == "value_encoder.conv1.weight":
      shape = (shape[0], value_in_channels) + shape[2:]
    sd[key] = _generate(e, shape, e.get("gain", meta["default_gain"]))
  return sd


def check_recipe(sd: dict) -> None:
  """Asserts the regenerated arrays match the JSON checksums."""
  meta = json.loads(require("official_state_dict.json").read_text())
  for e in meta["entries"]:
    if "sum" in e and e["rule"] != "keep":
      arr = sd[e["key"]]
      assert math.isclose(float(arr.astype(np.float64).sum()), e["sum"], rel_tol=1e-9,
                          abs_tol=1e-9), e["key"]
      np.testing.assert_array_equal(arr.reshape(-1)[:4], np.float32(e["first4"]))


def golden_small() -> dict:
  """The visible golden case as a dict of numpy arrays."""
  with np.load(require("golden_small.npz"), allow_pickle=False) as z:
    return {k: z[k] for k in z.files}
