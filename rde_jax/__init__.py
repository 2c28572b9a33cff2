"""rde-jax: RDE-VOS (Recurrent Dynamic Embedding for VOS, CVPR 2022) in JAX/Flax.

    model = rde_jax.load("models/rde_s012")     # a model directory (python -m rde_jax.convert)
    masks = model.segment(frames, first_mask)   # (T,H,W,3) uint8 + (H,W) ids -> (T,H,W) uint8
    model = rde_jax.load_artifact("artifacts/rde")  # an exported model (python -m rde_jax.export)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load(checkpoint_dir: Any, **kwargs: Any) -> Any:
  """Loads a model directory -> `rde_jax.api.VOSModel` (imports JAX on first use)."""
  from rde_jax import api
  return api.load(checkpoint_dir, **kwargs)


def load_artifact(directory: Any, backend: str = "onnxruntime", **kwargs: Any) -> Any:
  """Loads an exported artifact -> `rde_jax.export.runtime.Artifact` (segment / segment_iter
  like a model; the onnxruntime backend imports no JAX)."""
  from rde_jax.export import runtime
  return runtime.load_artifact(directory, backend, **kwargs)
