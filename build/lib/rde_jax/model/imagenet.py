"""The network's input convention: RGB in [0, 1] normalised with the ImageNet mean and std."""

from __future__ import annotations

import numpy as np


IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def normalize(frames: np.ndarray) -> np.ndarray:
  """uint8 RGB (..., 3) -> float32 ImageNet-normalised (x/255 - mean) / std."""
  return (np.asarray(frames, np.float32) / np.float32(255.0) - IMAGENET_MEAN) / IMAGENET_STD
