"""The evaluation CLI on a synthetic DAVIS-layout folder: exact CSV text, byte stability, errors.

Data (6x6 frames, radius 1; per-frame values derived in test_davis_eval):
  alpha: K = 1. Frame 2 GT also has id 4 (> K, ignored); the prediction puts
         id 1 there too -> J = [1, 0.5], F = [1, 0.8]. No result PNGs for the
         first/last frames (they are not needed).
  beta:  K = 2. Object 1 perfect, object 2 never predicted -> J = F = [0, 0].
         The first/last result frames hold id 9 (ignored).
Global (mean over the 3 objects): J-Mean (0.75 + 1 + 0)/3 = 0.583, F-Mean
(0.9 + 1 + 0)/3 = 0.633, J&F 0.608, J-Recall (0.5 + 1 + 0)/3 = 0.500,
F-Recall 2/3 = 0.667, J-Decay 0.5/3 = 0.167, F-Decay 0.2/3 = 0.067.
DAVIS 2016 (alpha only): all non-zero merged -> perfect.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rde_jax.metrics import davis_scores
from rde_jax.metrics.davis_files import DavisEvalError


REPO = Path(__file__).resolve().parents[1]
SIZE = (6, 6)
PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0] + [200] * (3 * 253)

GT = {
    "alpha": [{(1, 1): 1}, {(1, 1): 1}, {(1, 1): 1, (0, 5): 4}, {(1, 1): 1}],
    "beta": [{(1, 1): 1, (4, 4): 2}] * 4,
}
RESULTS = {
    "alpha": {1: {(1, 1): 1}, 2: {(1, 1): 1, (0, 5): 1}},
    "beta": {0: {(2, 2): 9}, 1: {(1, 1): 1}, 2: {(1, 1): 1}, 3: {(2, 2): 9}},
}
GLOBAL_2017 = ("J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay\n"
               "0.608,0.583,0.500,0.167,0.633,0.667,0.067\n")
PER_SEQUENCE_2017 = ("Sequence,J-Mean,F-Mean\n"
                     "alpha_1,0.750,0.900\n"
                     "beta_1,1.000,1.000\n"
                     "beta_2,0.000,0.000\n")


def _save_labels(path: Path, pixels: dict, size=SIZE, mode="P") -> None:
  labels = np.zeros(size, np.uint8)
  for (y, x), k in pixels.items():
    labels[y, x] = k
  if mode == "RGB":
    Image.fromarray(np.stack([labels] * 3, axis=-1), "RGB").save(path)
    return
  image = Image.fromarray(labels, "P")
  image.putpalette(PALETTE)
  image.save(path)


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path]:
  davis, results = tmp_path / "DAVIS", tmp_path / "results"
  for year, names in ((2017, ["alpha", "beta"]), (2016, ["alpha"])):
    (davis / "ImageSets" / str(year)).mkdir(parents=True)
    (davis / "ImageSets" / str(year) / "val.txt").write_text("\n".join(names) + "\n")
  for seq, frames in GT.items():
    for sub in ("JPEGImages/480p", "Annotations/480p"):
      (davis / sub / seq).mkdir(parents=True)
    (results / seq).mkdir(parents=True)
    for t, pixels in enumerate(frames):
      Image.new("RGB", SIZE[::-1]).save(davis / "JPEGImages/480p" / seq / f"{t:05d}.jpg")
      _save_labels(davis / "Annotations/480p" / seq / f"{t:05d}.png", pixels)
    for t, pixels in RESULTS[seq].items():
      _save_labels(results / seq / f"{t:05d}.png", pixels)
  return davis, results


def _cli(davis: Path, results: Path, *extra: str) -> subprocess.CompletedProcess:
  env = dict(os.environ, PYTHONPATH=str(REPO))
  return subprocess.run([sys.executable, "-m", "rde_jax.score_davis", f"--davis_path={davis}",
                         f"--results_path={results}", "--set=val", *extra],
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_cli_writes_exact_and_byte_stable_csvs(dataset):
  davis, results = dataset
  outputs = []
  for workers in ("1", "2"):  # in-process and process pool: same bytes
    proc = _cli(davis, results, f"--num_workers={workers}")
    assert proc.returncode == 0, proc.stderr
    outputs.append(tuple((results / name).read_bytes()
                         for name in ("global_results-val.csv", "per-sequence_results-val.csv")))
  assert outputs[0] == outputs[1]
  assert outputs[0][0].decode() == GLOBAL_2017
  assert outputs[0][1].decode() == PER_SEQUENCE_2017
  assert "Global results for val" in proc.stdout and "beta_2" in proc.stdout
  assert not [p for p in results.iterdir() if p.name.endswith(".tmp")]


def test_year_2016(dataset):
  davis, results = dataset
  got = davis_scores.evaluate_dataset(davis, results, year=2016, num_workers=1)
  scores = davis_scores.global_scores(got, year=2016)
  global_csv, per_sequence_csv = davis_scores.csv_texts(scores, davis_scores.per_object_rows(got))
  assert global_csv.splitlines()[1] == "1.000,1.000,1.000,0.000,1.000,1.000,0.000"
  assert per_sequence_csv == "Sequence,J-Mean,F-Mean\nalpha_1,1.000,1.000\n"


def _expect_error(davis: Path, results: Path, *needles: str) -> None:
  with pytest.raises(DavisEvalError) as info:
    davis_scores.evaluate_dataset(davis, results, num_workers=1)
  for needle in needles:
    assert needle in str(info.value)


def test_missing_result_png(dataset):
  davis, results = dataset
  (results / "alpha" / "00001.png").unlink()
  _expect_error(davis, results, str(results / "alpha" / "00001.png"), "missing")


def test_size_mismatch(dataset):
  davis, results = dataset
  _save_labels(results / "beta" / "00002.png", {}, size=(6, 5))
  _expect_error(davis, results, str(results / "beta" / "00002.png"), "5x6", "6x6")


def test_corrupt_png(dataset):
  davis, results = dataset
  path = results / "alpha" / "00002.png"
  path.write_bytes(path.read_bytes()[:40])  # truncated
  _expect_error(davis, results, str(path), "corrupt")


def test_rgb_png(dataset):
  davis, results = dataset
  _save_labels(results / "alpha" / "00001.png", {(1, 1): 1}, mode="RGB")
  _expect_error(davis, results, str(results / "alpha" / "00001.png"), "'RGB'")


def test_id_above_object_count(dataset):
  davis, results = dataset
  _save_labels(results / "alpha" / "00001.png", {(1, 1): 2})
  _expect_error(davis, results, "'alpha'", str(results / "alpha" / "00001.png"), "id 2")


def test_grayscale_png_accepted(dataset):
  davis, results = dataset
  Image.fromarray(np.array([[0] * 6] + [[0, 1, 0, 0, 0, 0]] + [[0] * 6] * 4, np.uint8), "L").save(
      results / "alpha" / "00001.png")
  got = davis_scores.evaluate_dataset(davis, results, num_workers=1)
  assert got[0]["J"]["per_frame"].tolist() == [[1.0, 0.5]]


def test_cli_error_exit_code(dataset):
  davis, results = dataset
  (results / "beta" / "00001.png").unlink()
  proc = _cli(davis, results, "--num_workers=2")
  assert proc.returncode == 1
  assert str(results / "beta" / "00001.png") in proc.stderr
  assert not (results / "global_results-val.csv").exists()
