"""The network's input convention: RGB in [0, 1] normalised with the ImageNet mean and std."""

from __future__ import annotations

from typing import Any

import numpy as np


IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def normalize(frames: Any) -> Any:
  """uint8 RGB (..., 3) -> float32 ImageNet-normalised (x/255 - mean) / std. A numpy array (or
  anything array-like) gives a numpy array; a jax array (also traced, inside jit) a jax array."""
  x = frames.astype(np.float32) if hasattr(frames, "astype") else np.asarray(frames, np.float32)
  return (x / np.float32(255.0) - IMAGENET_MEAN) / IMAGENET_STD
