"""Model checkpoints: an orbax pytree of the variables plus `model.json` describing the network.

Layout of a model directory (what `python -m rde_jax.convert` writes, and `eval.py`,
`rde_jax.segment` and `rde_jax.load` read):

    DIR/model.json      {"arch": {...}, "source": ..., "format": "rde_jax.model/1"}
    DIR/variables/      orbax checkpoint of {"params": ..., "batch_stats": ...}

A training workdir is accepted as well: the trainer exports its latest model to WORKDIR/model.
DIR may be local or on cloud storage (`gs://bucket/model`; paths through `fileio.storage`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax
import numpy as np

from rde_jax.errors import UserError
from rde_jax.fileio import atomic, atomic_dir, storage
from rde_jax.model.architectures import Arch
from rde_jax.model.network import abstract_variables


FORMAT = "rde_jax.model/1"
COMPRESSION_BOUND = 64  # the weights on disk (zstd) are never 64 x smaller than in memory
# What a model directory holds (those written before manifests existed are recognised by it).
MODEL_LAYOUT = ("model.json", "variables/", "variables/**")


class CheckpointMismatchError(UserError, ValueError):
  """The checkpoint's variables do not fit the requested architecture."""


class ModelNotFoundError(UserError, FileNotFoundError):
  """No model directory (model.json) at the given path."""


def save_model(directory: str | os.PathLike, variables: Any, arch: Arch, **meta: Any) -> None:
  """Writes `variables` (float32 numpy/jax arrays) and `model.json` as `directory`.

  A local directory is replaced as a whole (`atomic_dir.replacing`): a kill at any instant
  leaves the previous complete model or the new one, never a model without weights. Object
  stores (`gs://`) have no rename: there the tree is rewritten in place.
  """
  tree = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
  tree = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float32), tree)
  meta = {"format": FORMAT, "arch": arch.to_config().to_dict(), **meta}
  if storage.is_remote(directory):
    directory = storage.as_path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _write_model(directory, tree, meta, force=True)
    return
  with atomic_dir.replacing(directory, MODEL_LAYOUT) as stage:
    _write_model(stage, tree, meta, force=False)


def _write_model(directory: Any, tree: Any, meta: dict, *, force: bool) -> None:
  import orbax.checkpoint as ocp
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(directory / "variables", tree, force=force)
    ckptr.wait_until_finished()
  atomic.write_json(directory / "model.json", meta)


def _mismatch(directory: Any, saved: Arch, wanted: Arch) -> CheckpointMismatchError:
  """Names the two architectures and the fields that differ (not two full dumps)."""
  from rde_jax.model import architectures
  named = {"official": architectures.OFFICIAL, "tiny": architectures.TINY}
  name = lambda a: next((repr(n) for n, x in named.items() if x == a), "a custom one")
  diff = [f"{f.name} {getattr(saved, f.name)} vs {getattr(wanted, f.name)}"
          for f in dataclasses.fields(Arch) if getattr(saved, f.name) != getattr(wanted, f.name)]
  return CheckpointMismatchError(
      f"{directory}: the checkpoint's architecture {name(saved)} does not match the requested "
      f"{name(wanted)} (differs in {', '.join(diff[:3])}{', ...' if len(diff) > 3 else ''})",
      hint="request the checkpoint's architecture (segment --arch, eval.py --config.arch, "
           "rde_jax.load(arch=...)) or '' to accept any")


def load_model(directory: str | os.PathLike, arch: Arch | None = None) -> tuple[Arch, dict]:
  """Reads a model directory (or a training workdir). Returns (arch, variables as numpy)."""
  directory = storage.as_path(directory)
  if not storage.is_remote(directory):
    for d in (directory, directory / "model"):
      atomic_dir.recover(d)  # a writer killed between its two renames left the old copy aside
  meta_path = directory / "model.json"
  if not meta_path.exists() and (directory / "model" / "model.json").exists():
    directory, meta_path = directory / "model", directory / "model" / "model.json"
  if not meta_path.exists():
    raise ModelNotFoundError(
        f"{directory}: no model.json here or in model/",
        hint="convert official weights with `python -m rde_jax.convert --input X.pth --output "
             "DIR`, or train with train.py")
  saved = _read_description(meta_path)
  if arch is not None and arch != saved:
    raise _mismatch(directory, saved, arch)
  shapes = _shapes_within_the_files(directory, saved)
  import orbax.checkpoint as ocp
  target = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes)
  try:
    with ocp.StandardCheckpointer() as ckptr:
      restored = ckptr.restore(directory / "variables", target)
  except Exception as e:  # orbax raises many types for truncated or foreign trees
    text = " ".join(str(e).split())
    raise CheckpointMismatchError(f"{directory / 'variables'}: cannot restore the weights: the "
                                  f"model folder is incomplete or damaged ({text[:200]})") from e
  return saved, jax.tree_util.tree_map(np.asarray, dict(restored))


def _read_description(meta_path: Any) -> Arch:
  """model.json -> Arch; refuses another format version and an inconsistent architecture."""
  from rde_jax.model import architectures
  try:
    meta = json.loads(meta_path.read_text())
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if fmt != FORMAT:
      raise CheckpointMismatchError(
          f"{meta_path}: model format {fmt!r}, this version of rde_jax reads {FORMAT!r}",
          hint="a model written by a newer rde_jax needs that version (pip install -U rde-jax); "
               "else convert the weights again")
    saved = Arch.from_config(meta["arch"])
    architectures.validate(saved)
    fields = [getattr(saved, f.name) for f in dataclasses.fields(Arch)]
    numbers = [x for f in fields for x in (f if isinstance(f, tuple) else (f,))
               if not isinstance(x, bool)]
    if not all(isinstance(x, int) and 0 < x <= 1 << 16 for x in numbers):
      raise ValueError(f"architecture sizes must be integers 1..65536, got {saved}")
  except CheckpointMismatchError:
    raise
  except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
    raise CheckpointMismatchError(f"{meta_path}: unreadable model description ({e})") from e
  return saved


def _shapes_within_the_files(directory: Any, arch: Arch) -> Any:
  """The variables' shapes, after checking that variables/ (local) is large enough to hold
  them: a tiny model.json must not make us allocate gigabytes for a restore that then fails."""
  shapes = abstract_variables(arch)
  folder = directory / "variables"
  if storage.is_remote(directory):
    return shapes
  if not folder.is_dir():
    raise ModelNotFoundError(f"{folder}: no such folder: the model folder is incomplete "
                             "(model.json without its weights)",
                             hint="copy the whole model folder, or convert the weights again")
  need = sum(int(np.prod(s.shape)) * 4 for s in jax.tree_util.tree_leaves(shapes))
  have = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder)
             for f in files)
  if need > COMPRESSION_BOUND * have + (64 << 20):
    raise CheckpointMismatchError(
        f"{directory}: model.json declares {need:,} bytes of weights but variables/ holds "
        f"{have:,} bytes; the model folder is incomplete or its model.json is not its own")
  return shapes
