"""rde-jax: RDE-VOS (Recurrent Dynamic Embedding for VOS, CVPR 2022) in JAX/Flax.

    model = rde_jax.load("models/rde_s012")     # a model directory (python -m rde_jax.convert)
    masks = model.segment(frames, first_mask)   # (T,H,W,3) uint8 + (H,W) ids -> (T,H,W) uint8
    model = rde_jax.load_artifact("artifacts/rde")  # an exported model (python -m rde_jax.export)
"""

from __future__ import annotations

from typing import Any



def _version() -> str:
  """pyproject.toml's version: read from it in a source checkout (PYTHONPATH=.), else from the
  installed package's metadata (which a wheel copies from it). One place: pyproject.toml."""
  import os
  pyproject = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "pyproject.toml")
  if os.path.isfile(pyproject):
    import tomllib
    try:
      with open(pyproject, "rb") as f:
        project = tomllib.load(f).get("project", {})
      if project.get("name") == "rde-jax" and "version" in project:
        return str(project["version"])
    except (OSError, tomllib.TOMLDecodeError):
      pass
  from importlib import metadata
  try:
    return metadata.version("rde-jax")
  except metadata.PackageNotFoundError:
    return "0+unknown"


__version__ = _version()


def load(checkpoint_dir: Any, **kwargs: Any) -> Any:
  """Loads a model directory -> `rde_jax.api.VOSModel` (imports JAX on first use)."""
  from rde_jax import api
  return api.load(checkpoint_dir, **kwargs)


def load_artifact(directory: Any, backend: str = "onnxruntime", **kwargs: Any) -> Any:
  """Loads an exported artifact -> `rde_jax.export.runtime.Artifact` (segment / segment_iter
  like a model; the onnxruntime backend imports no JAX)."""
  from rde_jax.export import runtime
  return runtime.load_artifact(directory, backend, **kwargs)
