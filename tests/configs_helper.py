"""The configs of configs/ as the tests use them: loaded from their files (as `train.py` and
`eval.py` load `--config configs/<name>.py:<variant>`), with `a__b=value` field overrides.

    cfg = load_config("davis2017_val", dataset__root="/tmp/davis")  # the runlocal variant
    cfg = load_config("youtube2019_valid", None)                    # the full config
    cfg = small_config(batch_size=4)                                # configs/synthetic.py for training tests
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import ml_collections

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def config_module(name: str) -> ModuleType:
  """configs/<name>.py executed from its file, as ml_collections' config_flags does."""
  spec = importlib.util.spec_from_file_location(f"rde_test_config_{name}", CONFIGS / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def load_config(name: str, variant: str | None = "runlocal",
                **fields: Any) -> ml_collections.ConfigDict:
  """`get_config(variant)` of configs/<name>.py (`get_config()` for None), then each
  `a__b=value` sets `cfg.a.b = value`."""
  module = config_module(name)
  cfg = module.get_config() if variant is None else module.get_config(variant)
  for key, value in fields.items():
    *parents, leaf = key.split("__")
    node = cfg
    for parent in parents:
      node = node[parent]
    node[leaf] = value
  return cfg


def small_config(**fields: Any) -> ml_collections.ConfigDict:
  """configs/synthetic.py:runlocal for training tests: no periodic evaluation, and the tests'
  compilation cache (conftest) left in charge."""
  return load_config("synthetic", eval__source="none", compilation_cache="", **fields)
