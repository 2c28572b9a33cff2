"""Model checkpoints: an orbax pytree of the variables plus `model.json` describing the network.

Layout of a model directory (what `python -m rde_jax.convert` writes, and `eval.py`,
`rde_jax.segment` and `rde_jax.load` read):

    DIR/model.json      {"arch": {...}, "source": ..., "format": "rde_jax.model/1"}
    DIR/variables/      orbax checkpoint of {"params": ..., "batch_stats": ...}

A training workdir is accepted as well: the trainer exports its latest model to WORKDIR/model.
DIR may be local or on cloud storage (`gs://bucket/model`; paths through `fileio.storage`).
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import numpy as np

from rde_jax.errors import UserError
from rde_jax.fileio import atomic, storage
from rde_jax.model.architectures import Arch
from rde_jax.model.network import abstract_variables


FORMAT = "rde_jax.model/1"


class CheckpointMismatchError(UserError, ValueError):
  """The checkpoint's variables do not fit the requested architecture."""


def save_model(directory: str | os.PathLike, variables: Any, arch: Arch, **meta: Any) -> None:
  """Writes `variables` (float32 numpy/jax arrays) and `model.json` into `directory`."""
  import orbax.checkpoint as ocp
  directory = storage.as_path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  tree = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
  tree = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float32), tree)
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(directory / "variables", tree, force=True)
    ckptr.wait_until_finished()
  atomic.write_json(directory / "model.json",
                    {"format": FORMAT, "arch": arch.to_config().to_dict(), **meta})


def load_model(directory: str | os.PathLike, arch: Arch | None = None) -> tuple[Arch, dict]:
  """Reads a model directory (or a training workdir). Returns (arch, variables as numpy)."""
  directory = storage.as_path(directory)
  meta_path = directory / "model.json"
  if not meta_path.exists() and (directory / "model" / "model.json").exists():
    directory, meta_path = directory / "model", directory / "model" / "model.json"
  if not meta_path.exists():
    raise FileNotFoundError(f"{directory}: no model.json here or in model/ (convert official "
                            "weights with `python -m rde_jax.convert`, or train with train.py)")
  try:
    meta = json.loads(meta_path.read_text())
    saved = Arch.from_config(meta["arch"])
  except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
    raise CheckpointMismatchError(f"{meta_path}: unreadable model description ({e})") from e
  if arch is not None and arch != saved:
    raise CheckpointMismatchError(
        f"{directory}: checkpoint architecture {saved} does not match the requested {arch}")
  import orbax.checkpoint as ocp
  target = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), abstract_variables(saved))
  try:
    with ocp.StandardCheckpointer() as ckptr:
      restored = ckptr.restore(directory / "variables", target)
  except Exception as e:  # orbax raises many types for truncated or foreign trees
    raise CheckpointMismatchError(f"{directory / 'variables'}: cannot restore ({e})") from e
  return saved, jax.tree_util.tree_map(np.asarray, dict(restored))
