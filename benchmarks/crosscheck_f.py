r"""Cross-checks rde_jax.metrics J and F against the OpenCV/scikit-image formulation.

Run with the separate venv that has opencv + scikit-image (not a test-suite dependency):

  /work/venv-official/bin/python benchmarks/crosscheck_f.py [--pairs 3000]

Draws random mask pairs (smooth blobs, salt-and-pepper noise, 1-px lines,
border-touching and full/empty masks, odd and tiny frame sizes) and requires
bit-identical J and F from ``rde_jax.metrics`` and from ``official_style``
(cv2.dilate + skimage.morphology.disk). Prints a JSON summary; exits 1 on
any mismatch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import official_style  # noqa: E402

from rde_jax.metrics import region_boundary as metrics  # noqa: E402


SHAPES = [(480, 854), (480, 910), (600, 800), (479, 853), (100, 37), (64, 64), (1, 50), (50, 1),
          (3, 3), (10, 10), (120, 200)]


def blob(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
  h, w = shape
  y, x = np.ogrid[:h, :w]
  cy, cx = rng.uniform(-0.2, 1.2) * h, rng.uniform(-0.2, 1.2) * w
  ry, rx = rng.uniform(0.05, 0.6) * h + 0.5, rng.uniform(0.05, 0.6) * w + 0.5
  angle = np.arctan2(y - cy, x - cx)
  wobble = 1 + 0.2 * np.sin(rng.integers(1, 6) * angle + rng.uniform(0, 6.3))
  return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 < wobble ** 2


def random_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
  kind = rng.integers(0, 6)
  h, w = shape
  if kind == 0:
    return blob(rng, shape)
  if kind == 1:
    return rng.random(shape) < rng.uniform(0.001, 0.5)
  if kind == 2:  # 1-px lines
    m = np.zeros(shape, bool)
    m[rng.integers(0, h), :] = True
    m[:, rng.integers(0, w)] = rng.random() < 0.5
    return m
  if kind == 3:  # border-touching rectangle
    m = np.zeros(shape, bool)
    m[rng.integers(0, h):, :rng.integers(1, w + 1)] = True
    return m
  if kind == 4:
    return np.full(shape, rng.random() < 0.5)
  return blob(rng, shape) ^ blob(rng, shape)


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--pairs", type=int, default=3000)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  rng = np.random.default_rng(args.seed)
  mismatches = []
  for i in range(args.pairs):
    shape = SHAPES[i % len(SHAPES)]
    gt = random_mask(rng, shape)
    pred = random_mask(rng, shape) if rng.random() < 0.5 else np.roll(gt, rng.integers(-9, 10), axis=1)
    bound_th = [0.008, 0.008, 0.008, 1, 3][rng.integers(0, 5)]
    ours = (metrics.jaccard(gt, pred), metrics.f_measure(gt, pred, bound_th))
    ref = (float(official_style.j_track(gt, pred)), float(official_style.f_frame(pred, gt, bound_th)))
    if ours != ref:
      mismatches.append({"pair": i, "shape": shape, "bound_th": bound_th, "ours": ours, "reference": ref})
  print(json.dumps({"pairs": args.pairs, "mismatches": len(mismatches), "backend": official_style.BACKEND,
                    "examples": mismatches[:5]}, indent=1))
  sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
  main()
