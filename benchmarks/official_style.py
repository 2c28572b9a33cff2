r"""Slow baseline: DAVIS-17 semi-supervised J&F computed the way the official toolkit does.

Written from the protocol description (shared/reference/DAVIS_EVAL.md), in
the toolkit's style rather than for speed: float64 label stacks, one
(K, T, H, W) boolean mask array per sequence, and per frame a full-frame
``seg2bmap`` plus two full-frame dilations of the boundary maps with the
disk. With OpenCV and scikit-image importable (``/work/venv-official``) it
uses ``cv2.dilate`` and ``skimage.morphology.disk`` exactly as the toolkit
does; otherwise a numpy loop over the disk offsets (same result, slower).
Single process, like the toolkit. Not part of the package or the tests.

  /work/venv-official/bin/python benchmarks/official_style.py \
      --davis_path D --results_path R --set val --json out.json
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
import time
import warnings

import numpy as np
from PIL import Image

try:
  import cv2
  from skimage.morphology import disk as _skimage_disk
  BACKEND = f"cv2.dilate (opencv {cv2.__version__}) + skimage.morphology.disk"
except ImportError:  # pragma: no cover - depends on the venv
  cv2 = None
  BACKEND = "numpy loop over disk offsets (no opencv/skimage)"


def make_disk(radius: int) -> np.ndarray:
  if cv2 is not None:
    return _skimage_disk(radius)
  y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
  return (y * y + x * x <= radius * radius).astype(np.uint8)


def dilate(bmap: np.ndarray, kernel: np.ndarray) -> np.ndarray:
  if cv2 is not None:
    return cv2.dilate(bmap.astype(np.uint8), kernel.astype(np.uint8))
  height, width = bmap.shape
  radius = kernel.shape[0] // 2
  padded = np.zeros((height + 2 * radius, width + 2 * radius), np.uint8)
  padded[radius:radius + height, radius:radius + width] = bmap
  out = np.zeros((height, width), np.uint8)
  for dy, dx in zip(*np.nonzero(kernel)):
    np.maximum(out, padded[dy:dy + height, dx:dx + width], out=out)
  return out


def seg2bmap(seg: np.ndarray) -> np.ndarray:
  """BSDS boundary map, full frame, as in the toolkit (no crop)."""
  seg = seg.astype(bool)
  east = np.zeros_like(seg)
  south = np.zeros_like(seg)
  south_east = np.zeros_like(seg)
  east[:, :-1] = seg[:, 1:]
  south[:-1, :] = seg[1:, :]
  south_east[:-1, :-1] = seg[1:, 1:]
  bmap = seg ^ east | seg ^ south | seg ^ south_east
  bmap[-1, :] = seg[-1, :] ^ east[-1, :]
  bmap[:, -1] = seg[:, -1] ^ south[:, -1]
  bmap[-1, -1] = 0
  return bmap


def f_frame(foreground: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
  bound_pix = bound_th if bound_th >= 1 else np.ceil(bound_th * np.linalg.norm(foreground.shape))
  fg_boundary = seg2bmap(foreground)
  gt_boundary = seg2bmap(gt)
  kernel = make_disk(int(bound_pix))
  fg_dil = dilate(fg_boundary, kernel)
  gt_dil = dilate(gt_boundary, kernel)
  gt_match = gt_boundary * fg_dil
  fg_match = fg_boundary * gt_dil
  n_fg = np.sum(fg_boundary)
  n_gt = np.sum(gt_boundary)
  if n_fg == 0 and n_gt > 0:
    precision, recall = 1, 0
  elif n_fg > 0 and n_gt == 0:
    precision, recall = 0, 1
  elif n_fg == 0 and n_gt == 0:
    precision, recall = 1, 1
  else:
    precision = np.sum(fg_match) / float(n_fg)
    recall = np.sum(gt_match) / float(n_gt)
  if precision + recall == 0:
    return 0
  return 2 * precision * recall / (precision + recall)


def j_track(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
  gt = gt.astype(bool)
  pred = pred.astype(bool)
  inters = np.sum(gt & pred, axis=(-2, -1))
  union = np.sum(gt | pred, axis=(-2, -1))
  j = inters / union
  if j.ndim == 0:
    j = 1 if np.isclose(union, 0) else j
  else:
    j[np.isclose(union, 0)] = 1
  return j


def stats(values: np.ndarray) -> tuple[float, float, float]:
  mean = np.nanmean(values)
  recall = np.nanmean(values > 0.5)
  ids = np.round(np.linspace(1, len(values), 5) + 1e-10) - 1
  ids = ids.astype(np.uint8)
  bins = [values[ids[i]:ids[i + 1] + 1] for i in range(4)]
  decay = np.nanmean(bins[0]) - np.nanmean(bins[3])
  return mean, recall, decay


def load_sequence(davis_path: str, results_path: str, seq: str):
  gt_files = sorted(glob.glob(os.path.join(davis_path, "Annotations", "480p", seq, "*.png")))
  first = np.array(Image.open(gt_files[0]))
  masks = np.zeros((len(gt_files),) + first.shape)
  for i, path in enumerate(gt_files):
    masks[i] = np.array(Image.open(path))
  masks[masks == 255] = 0
  num_objects = int(np.max(masks[0]))
  ids = np.arange(1, num_objects + 1)[:, None, None, None]
  gt = masks[None] == ids  # (K, T, H, W)
  frame_ids = [os.path.splitext(os.path.basename(p))[0] for p in gt_files][1:-1]
  res = np.zeros((len(frame_ids),) + first.shape)
  for i, frame in enumerate(frame_ids):
    res[i] = np.array(Image.open(os.path.join(results_path, seq, frame + ".png")))
  num_pred = int(np.max(res))
  pred = res[None] == np.arange(1, num_pred + 1)[:, None, None, None]
  if num_pred > num_objects:
    sys.exit(f"{seq}: index higher than the number of objects")
  if num_pred < num_objects:
    pad = np.zeros((num_objects - num_pred,) + pred.shape[1:])
    pred = np.concatenate([pred, pad], axis=0)
  return gt[:, 1:-1], pred


def evaluate(davis_path: str, results_path: str, split: str) -> dict:
  with open(os.path.join(davis_path, "ImageSets", "2017", f"{split}.txt")) as f:
    sequences = [s.strip() for s in f.read().splitlines() if s.strip()]
  out = {"objects": [], "J": {"M": [], "R": [], "D": []}, "F": {"M": [], "R": [], "D": []}}
  for seq in sequences:
    gt, pred = load_sequence(davis_path, results_path, seq)
    for k in range(gt.shape[0]):
      j = j_track(gt[k], pred[k])
      f = np.zeros(gt.shape[1])
      for t in range(gt.shape[1]):
        f[t] = f_frame(pred[k, t], gt[k, t])
      for name, values in (("J", j), ("F", f)):
        for key, value in zip("MRD", stats(values)):
          out[name][key].append(float(value))
      out["objects"].append(f"{seq}_{k + 1}")
  g = {f"{m}-{s}": float(np.mean(out[m][k])) for m in "JF" for k, s in zip("MRD", ("Mean", "Recall", "Decay"))}
  g["J&F-Mean"] = (g["J-Mean"] + g["F-Mean"]) / 2
  out["global"] = g
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--davis_path", required=True)
  parser.add_argument("--results_path", required=True)
  parser.add_argument("--set", default="val")
  parser.add_argument("--json", required=True, help="where to write the per-object and global values")
  args = parser.parse_args()
  warnings.filterwarnings("ignore", category=RuntimeWarning)
  start = time.perf_counter()
  out = evaluate(args.davis_path, args.results_path, args.set)
  out["seconds_in_process"] = time.perf_counter() - start
  out["backend"] = BACKEND
  with open(args.json, "w") as f:
    json.dump(out, f)


if __name__ == "__main__":
  main()
