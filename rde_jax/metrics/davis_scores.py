"""DAVIS semi-supervised evaluation: sequences, data sets, global scores and CSVs.

Follows the official DAVIS 2017 toolkit (`davis2017-evaluation`, `davis2017/evaluation.py`
and `metrics.py`):
the first and last frames are not evaluated, objects are the ids 1..K with K
the largest id of the FIRST annotation (void 255 counts as background), ids
above K in later GT frames are background, a predicted id above K is an error,
and the global scores average over objects. `year=2016` merges every
non-zero pixel into one object and averages over sequences (NaN-aware).

`evaluate_sequence` works on in-memory label maps; `evaluate_dataset`
reads a DAVIS folder and a results folder of PNGs, sequences in parallel.
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
import multiprocessing
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rde_jax.fileio import atomic, storage
from rde_jax.metrics import region_boundary
from rde_jax.metrics.davis_files import (DavisEvalError, read_gt_sequence, read_results_sequence,
                                         sequence_names)


GLOBAL_HEADER = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
PER_SEQUENCE_HEADER = ("Sequence", "J-Mean", "F-Mean")
VOID_ID = 255


def _count_objects(gt: np.ndarray, pred: np.ndarray, name: str,
                   frame_names: Sequence[str] | None) -> int:
  """K = largest id of the first annotation (void excluded); a predicted id above K is an error."""
  num_objects = int(np.max(np.where(gt[0] == VOID_ID, 0, gt[0])))
  pred_eval = pred[1:-1]
  if pred_eval.size:
    per_frame_max = pred_eval.reshape(len(pred_eval), -1).max(axis=1)
    if per_frame_max.max() > num_objects:
      t = int(np.argmax(per_frame_max > num_objects))
      where = frame_names[t + 1] if frame_names is not None else f"frame {t + 1}"
      raise DavisEvalError(
          f"sequence {name!r}: {where} contains object id {int(per_frame_max[t])}, but the first "
          f"annotation has only {num_objects} object(s) (ids 1..{num_objects})")
  return num_objects


def _frame_scores(gt: np.ndarray, pred: np.ndarray, object_ids: Sequence[int] | None,
                  radius: int) -> tuple[list[float], list[float]]:
  """J and F of each object in one (H, W) frame; `object_ids=None`: all non-zero is one object.

  Works on the bounding box of everything non-zero (exact, see `region_boundary.crop_to_content`).
  """
  num = 1 if object_ids is None else len(object_ids)
  crop = region_boundary.crop_to_content(gt, pred)
  if crop is None:
    return [1.0] * num, [1.0] * num  # every object absent from both
  gt, pred = gt[crop], pred[crop]
  if object_ids is None:
    pairs = [(gt != 0, pred != 0)]
  else:  # gt == k is False on void (255 > K): void is plain background in this task.
    pairs = [(gt == k, pred == k) for k in object_ids]
  return ([region_boundary.jaccard(g, p) for g, p in pairs],
          [region_boundary.boundary_f(g, p, radius) for g, p in pairs])


def evaluate_sequence(gt_labels: np.ndarray, pred_labels: np.ndarray, *, year: int = 2017,
                      name: str = "sequence",
                      frame_names: Sequence[str] | None = None) -> dict[str, Any]:
  """J and F of every object of one sequence, with their statistics.

  Args:
    gt_labels: (T, H, W) integer label maps of ALL annotated frames (0 =
      background, 255 = void; frame 0 defines the objects).
    pred_labels: (T, H, W) integer label maps aligned with `gt_labels`; its
      first and last frames are ignored (they may hold anything).
    year: 2017 (per-object ids) or 2016 (any non-zero pixel is the one object).
    name: sequence name, used for the object names `<name>_<k>` and errors.
    frame_names: optional (T,) names (e.g. result file paths) for errors.

  Returns:
    {"name", "objects": [f"{name}_{k}"], "J": {...}, "F": {...}} where each
    measure holds "per_frame" (K, N), "mean", "recall", "decay" (K,) float64
    with N = max(T - 2, 0) and K the number of objects.

  Raises:
    DavisEvalError: a predicted id above the number of objects (2017).
  """
  gt = np.asarray(gt_labels)
  pred = np.asarray(pred_labels)
  if year not in (2016, 2017):
    raise ValueError(f"year must be 2016 or 2017, got {year}")
  if gt.ndim != 3 or gt.shape != pred.shape or len(gt) == 0:
    raise ValueError(f"{name}: expected gt and pred of the same non-empty (T, H, W) shape, "
                     f"got {gt.shape} and {pred.shape}")
  if year == 2016:
    object_ids, num_objects = None, 1
  else:
    num_objects = _count_objects(gt, pred, name, frame_names)
    object_ids = range(1, num_objects + 1)
  radius = region_boundary.boundary_radius(gt.shape)
  num_frames = max(len(gt) - 2, 0)
  per_frame = {m: np.zeros((num_objects, num_frames), np.float64) for m in ("J", "F")}
  if num_objects:
    for t in range(num_frames):
      per_frame["J"][:, t], per_frame["F"][:, t] = _frame_scores(gt[t + 1], pred[t + 1],
                                                                 object_ids, radius)
  result: dict[str, Any] = {"name": name,
                            "objects": [f"{name}_{k}" for k in range(1, num_objects + 1)]}
  for measure, values in per_frame.items():
    stats = [region_boundary.statistics(v) for v in values]
    result[measure] = {
        "per_frame": values,
        "mean": np.array([s.mean for s in stats], np.float64),
        "recall": np.array([s.recall for s in stats], np.float64),
        "decay": np.array([s.decay for s in stats], np.float64),
    }
  return result


def evaluate_folder_sequence(davis_path: str | os.PathLike, results_path: str | os.PathLike,
                             sequence: str, year: int = 2017,
                             resolution: str = "480p") -> dict[str, Any]:
  """Reads one sequence's GT and result PNGs and evaluates it (see `evaluate_sequence`)."""
  gt, gt_paths = read_gt_sequence(davis_path, sequence, resolution)
  pred, result_paths = read_results_sequence(results_path, sequence, gt_paths, gt.shape[1:])
  return evaluate_sequence(gt, pred, year=year, name=sequence, frame_names=result_paths)


def evaluate_dataset(davis_path: str | os.PathLike, results_path: str | os.PathLike, *,
                     split: str = "val", year: int = 2017,
                     num_workers: int | None = None) -> list[dict[str, Any]]:
  """Evaluates every sequence of `ImageSets/<year>/<split>.txt`, in that order.

  `num_workers` processes (default: CPU count) evaluate sequences in
  parallel; 1 runs in this process. Returns the `evaluate_sequence` dicts.
  """
  names = sequence_names(davis_path, split, year)
  evaluate_one = functools.partial(evaluate_folder_sequence, str(davis_path), str(results_path),
                                   year=year)
  workers = min(num_workers or os.cpu_count() or 1, len(names))
  if workers <= 1:
    return [evaluate_one(name) for name in names]
  # spawn, not fork: the caller may have started threads (JAX does).
  context = multiprocessing.get_context("spawn")
  with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
    return list(pool.map(evaluate_one, names))


def global_scores(sequence_results: Sequence[dict[str, Any]], year: int = 2017) -> dict[str, float]:
  """The global table, keys in `GLOBAL_HEADER` order.

  2017: plain mean over all objects of all sequences (NaN propagates).
  2016: NaN-aware mean over sequences (one object each).
  """
  mean = np.nanmean if year == 2016 else np.mean
  values = {}
  for measure in ("J", "F"):
    for stat, label in (("mean", "Mean"), ("recall", "Recall"), ("decay", "Decay")):
      per_object = np.concatenate([r[measure][stat] for r in sequence_results] or [np.zeros(0)])
      values[f"{measure}-{label}"] = float(mean(per_object)) if per_object.size else math.nan
  values["J&F-Mean"] = (values["J-Mean"] + values["F-Mean"]) / 2
  return {key: values[key] for key in GLOBAL_HEADER}


def per_object_rows(sequence_results: Sequence[dict[str, Any]]) -> list[tuple[str, float, float]]:
  """(`<seq>_<k>`, J-Mean, F-Mean) for every object, in evaluation order."""
  return [(obj, float(j), float(f)) for r in sequence_results
          for obj, j, f in zip(r["objects"], r["J"]["mean"], r["F"]["mean"])]


def _fmt(value: float) -> str:
  """The toolkit's `float_format='%.3f'`; NaN is written as an empty field (pandas' na_rep)."""
  return "" if math.isnan(value) else "%.3f" % value


def _csv_field(text: str) -> str:
  if any(c in text for c in ',"\n\r'):
    return '"' + text.replace('"', '""') + '"'
  return text


def csv_texts(scores: dict[str, float],
              rows: Sequence[tuple[str, float, float]]) -> tuple[str, str]:
  """The text of `global_results-<set>.csv` and `per-sequence_results-<set>.csv`."""
  global_csv = (",".join(GLOBAL_HEADER) + "\n"
                + ",".join(_fmt(scores[k]) for k in GLOBAL_HEADER) + "\n")
  lines = [",".join(PER_SEQUENCE_HEADER)]
  lines += [f"{_csv_field(obj)},{_fmt(j)},{_fmt(f)}" for obj, j, f in rows]
  return global_csv, "\n".join(lines) + "\n"


def write_csvs(results_path: str | os.PathLike, split: str, scores: dict[str, float],
               rows: Sequence[tuple[str, float, float]]) -> tuple[Path, Path]:
  """Writes the two official CSVs into `results_path`; returns their paths."""
  global_csv, per_sequence_csv = csv_texts(scores, rows)
  global_path = storage.native(results_path) / f"global_results-{split}.csv"
  per_sequence_path = storage.native(results_path) / f"per-sequence_results-{split}.csv"
  atomic.write_bytes(global_path, global_csv.encode("utf-8"))
  atomic.write_bytes(per_sequence_path, per_sequence_csv.encode("utf-8"))
  return global_path, per_sequence_path


def format_tables(split: str, scores: dict[str, float],
                  rows: Sequence[tuple[str, float, float]]) -> str:
  """Human-readable global and per-object tables (3 decimals, right-aligned)."""

  def table(header: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(header)]
    return [" ".join(c.rjust(w) for c, w in zip(line, widths)) for line in [header, *body]]

  lines = [f"{'-' * 27} Global results for {split} {'-' * 27}"]
  lines += table(GLOBAL_HEADER, [[_fmt(scores[k]) for k in GLOBAL_HEADER]])
  lines += ["", f"{'-' * 10} Per sequence results for {split} {'-' * 10}"]
  lines += table(PER_SEQUENCE_HEADER, [[obj, _fmt(j), _fmt(f)] for obj, j, f in rows])
  return "\n".join(lines)
