"""The artifact's manifest.json: what was exported and how to run it (no JAX import).

Layout of an artifact directory (`python -m rde_jax.export`, written as a whole):

    DIR/manifest.json               this description (FORMAT), every file's sha256
    DIR/stablehlo/<function>.bin    jax.export serialisations; weights are their first inputs
    DIR/stablehlo/weights.npz       those weights, once, in argument order (names: pytree paths)
    DIR/onnx/<function>.onnx        ONNX graphs, weights as initializers ...
    DIR/onnx/weights.bin            ... stored once here (ONNX external data, shared)

`read(dir)` refuses, in one line (ArtifactError), a folder without a manifest, a foreign or newer
format, a manifest that is not what we write, and (`verify`) a missing or altered file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from rde_jax.errors import UserError

FORMAT = "rde_jax.artifact/1"
NAME = "manifest.json"
FUNCTIONS = ("init", "step", "step_and_memorize")
BACKENDS = ("onnxruntime", "stablehlo")
BACKEND_FORMAT = {"onnxruntime": "onnx", "stablehlo": "stablehlo"}
REQUIRED = ("format", "model", "frame_size", "num_objects", "settings", "memory_slots",
            "preprocessing", "schedule", "state", "functions", "formats", "files")


class ArtifactError(UserError, ValueError):
  """Not a readable artifact of this format, or a frame size / object count it was not made for."""


def sha256(path: Path) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 22), b""):
      h.update(block)
  return h.hexdigest()


def file_table(root: Path) -> dict[str, dict[str, Any]]:
  """{relative path: {'bytes', 'sha256'}} of every file under `root` but the manifest."""
  out = {}
  for p in sorted(root.rglob("*")):
    if p.is_file() and p.name != NAME:
      out[p.relative_to(root).as_posix()] = {"bytes": p.stat().st_size, "sha256": sha256(p)}
  return out


def read(directory: str | os.PathLike, *, verify: bool = True) -> dict[str, Any]:
  """The manifest of an artifact directory, checked (ArtifactError naming the path)."""
  directory = Path(directory)
  path = directory / NAME
  if not directory.is_dir():
    raise ArtifactError(f"{directory}: no such artifact directory",
                        hint="write one with `python -m rde_jax.export`")
  if not path.is_file():
    raise ArtifactError(f"{directory}: not an rde_jax artifact (no {NAME})",
                        hint="write one with `python -m rde_jax.export`")
  try:
    m = json.loads(path.read_text("utf-8"))
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise ArtifactError(f"{path}: unreadable manifest ({e})") from e
  if not isinstance(m, dict) or m.get("format") != FORMAT:
    found = m.get("format") if isinstance(m, dict) else type(m).__name__
    raise ArtifactError(f"{path}: format {found!r} is not {FORMAT!r}",
                        hint="re-export the model with this version of rde_jax")
  missing = [k for k in REQUIRED if k not in m]
  if missing or set(FUNCTIONS) - set(m["functions"]):
    raise ArtifactError(f"{path}: incomplete manifest (missing "
                        f"{', '.join(missing or sorted(set(FUNCTIONS) - set(m['functions'])))})")
  if verify:
    check_files(directory, m)
  return m


def check_files(directory: Path, m: dict[str, Any], formats: tuple[str, ...] | None = None) -> None:
  """Every listed file (of `formats`, default all) exists with its size and sha256."""
  for rel, entry in m["files"].items():
    if formats is not None and rel.split("/")[0] not in formats:
      continue
    p = directory / rel
    if not p.is_file():
      raise ArtifactError(f"{p}: missing from the artifact")
    if p.stat().st_size != entry["bytes"] or sha256(p) != entry["sha256"]:
      raise ArtifactError(f"{p}: corrupt (its size or sha256 differs from {NAME})",
                          hint="export the model again")


def backend_format(directory: Path, m: dict[str, Any], backend: str) -> str:
  """The format a backend runs ('onnx' | 'stablehlo'), checked to be in the artifact."""
  if backend not in BACKENDS:
    raise ArtifactError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
  fmt = BACKEND_FORMAT[backend]
  if fmt not in m["formats"]:
    raise ArtifactError(f"{directory}: exported without {fmt} (has "
                        f"{', '.join(sorted(m['formats']))}); use another backend or re-export "
                        f"with --format {fmt}")
  return fmt
