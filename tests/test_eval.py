"""eval.py end to end on tiny synthetic DAVIS / YouTube-VOS trees with the tiny model."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from rde_jax import evaluation
from rde_jax.fileio import label_png
from rde_jax.metrics import davis_scores

import eval_fakes as F
from configs_helper import REPO, load_config


DAVIS_NAMES = ("alpha", "bravo", "charlie")


@pytest.fixture(scope="module")
def davis(tmp_path_factory):
  root = tmp_path_factory.mktemp("davis")
  F.write_davis(root, DAVIS_NAMES)
  return root


def test_configs_document_and_load():
  for name in ("davis2017_val", "davis2017_testdev", "davis2016_val", "youtube2019_valid"):
    full, local = load_config(name, None), load_config(name)
    assert full.arch == "official" and local.arch == "tiny"
  assert load_config("youtube2019_valid", None).mem_every == 4
  assert load_config("youtube2019_valid", None).top_k == 20
  assert load_config("davis2017_val", None).top_k == 40


def test_davis_end_to_end_and_resume(davis, tmp_path):
  cfg = F.eval_config("davis2017_val", dataset__root=str(davis))
  summary = evaluation.run(cfg, tmp_path)
  results = tmp_path / "results"
  for name in DAVIS_NAMES:
    pngs = sorted((results / name).glob("*.png"))
    assert [p.name for p in pngs] == [f"{t:05d}.png" for t in range(7)]
    with Image.open(pngs[3]) as img:
      assert img.mode == "P" and img.size == (F.SIZE[1], F.SIZE[0])
      assert img.getpalette()[:9] == label_png.DAVIS_PALETTE[:3].ravel().tolist()
  # The J&F of the run is the metrics module's, on the same folders.
  direct = davis_scores.evaluate_dataset(davis, results, split="val", num_workers=1)
  scores = davis_scores.global_scores(direct)
  assert summary["scores"] == pytest.approx(scores, abs=1e-12)
  global_csv, per_seq_csv = davis_scores.csv_texts(scores, davis_scores.per_object_rows(direct))
  assert (results / "global_results-val.csv").read_text() == global_csv
  assert (results / "per-sequence_results-val.csv").read_text() == per_seq_csv
  saved = json.loads((tmp_path / "summary.json").read_text())
  assert saved["fps"] > 0 and saved["frames"] == 21 and saved["environment"]["jax"]
  assert saved["environment"]["dtype"] == "float32" and "matmul_precision" in saved["environment"]
  assert saved["computed_this_run"] == list(DAVIS_NAMES)

  # Resume: only the video whose outputs were deleted is recomputed, to the same bytes.
  pngs = {p: p.read_bytes() for p in results.rglob("*.png")}
  markers = {n: (tmp_path / "videos" / f"{n}.json").stat().st_mtime_ns for n in DAVIS_NAMES}
  shutil.rmtree(results / "bravo")
  again = evaluation.run(cfg, tmp_path)
  assert again["computed_this_run"] == ["bravo"]
  assert {p: p.read_bytes() for p in results.rglob("*.png")} == pngs
  for n in ("alpha", "charlie"):
    assert (tmp_path / "videos" / f"{n}.json").stat().st_mtime_ns == markers[n]
  assert again["scores"] == summary["scores"]
  # A killed run leaves no record for the video it was on: that video alone is redone.
  (tmp_path / "videos" / "charlie.json").unlink()
  assert evaluation.run(cfg, tmp_path)["computed_this_run"] == ["charlie"]


@pytest.mark.slow
def test_davis_testdev_and_2016(tmp_path):
  root = tmp_path / "testdev"
  F.write_davis(root, ("delta",), num_frames=5, split="test-dev")
  summary = evaluation.run(F.eval_config("davis2017_testdev", dataset__root=str(root)),
                           tmp_path / "wd")
  assert summary["scores"] is None and "test-dev" in summary["note"]
  with zipfile.ZipFile(tmp_path / "wd" / "submission.zip") as z:
    assert sorted(z.namelist()) == [f"delta/{t:05d}.png" for t in range(5)]
  root16 = tmp_path / "d16"
  F.write_davis(root16, ("echo",), num_frames=5)
  summary = evaluation.run(F.eval_config("davis2016_val", dataset__root=str(root16)),
                           tmp_path / "w16")
  direct = davis_scores.evaluate_dataset(root16, tmp_path / "w16" / "results", year=2016,
                                       num_workers=1)
  assert summary["scores"] == pytest.approx(davis_scores.global_scores(direct, 2016), abs=1e-12)
  # The official eval_davis_2016.py format: grayscale 'L', objects merged, 0 / 255.
  with Image.open(tmp_path / "w16" / "results" / "echo" / "00002.png") as img:
    assert img.mode == "L"
    ids = np.asarray(img)
  assert set(np.unique(ids).tolist()) == {0, 255}


def test_youtube_end_to_end(tmp_path):
  root = tmp_path / "yt"
  meta = F.write_youtube(root)
  summary = evaluation.run(F.eval_config("youtube2019_valid", dataset__root=str(root)),
                           tmp_path / "wd")
  out = tmp_path / "wd" / "results" / "Annotations"
  for name, info in meta.items():
    wanted = sorted({f for o in info["objects"].values() for f in o["frames"]})
    assert sorted(p.stem for p in (out / name).glob("*.png")) == wanted
  late = np.asarray(Image.open(out / "late" / "00025.png"))
  annotation = np.asarray(Image.open(root / "valid" / "Annotations" / "late" / "00025.png"))
  np.testing.assert_array_equal(late == 2, annotation == 2)  # the new object's own frame
  for stem in ("00000", "00010", "00020"):  # object 2 does not exist before it is annotated
    assert not (np.asarray(Image.open(out / "late" / f"{stem}.png")) == 2).any()
  with zipfile.ZipFile(tmp_path / "wd" / "submission.zip") as z:
    names = z.namelist()
  assert "Annotations/late/00025.png" in names and len(names) == 6 + 10
  assert summary["scores"] is None and summary["frames"] > 0
  # --output_all (official eval_youtube.py): every frame from the first annotation on, and the
  # meta.json frames unchanged (the skipped frames never touch the memory).
  evaluation.run(F.eval_config("youtube2019_valid", dataset__root=str(root), output_all=True),
                 tmp_path / "wd_all")
  out_all = tmp_path / "wd_all" / "results" / "Annotations"
  for name in meta:  # both videos have a first-frame annotation
    assert sorted(p.stem for p in (out_all / name).glob("*.png")) == [
        f"{5 * t:05d}" for t in range(12)]
  for name, info in meta.items():
    for stem in sorted({f for o in info["objects"].values() for f in o["frames"]}):
      np.testing.assert_array_equal(np.asarray(Image.open(out_all / name / f"{stem}.png")),
                                    np.asarray(Image.open(out / name / f"{stem}.png")))


@pytest.mark.system
def test_cli_two_devices_with_gif_overlays(davis, tmp_path):
  # A stub that hides imageio-ffmpeg: the overlays must fall back to GIF.
  (tmp_path / "stub").mkdir()
  (tmp_path / "stub" / "imageio_ffmpeg.py").write_text("raise ImportError('hidden by the test')\n")
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
             PYTHONPATH=os.pathsep.join([str(tmp_path / "stub"), str(REPO)]))
  config = str(REPO / "configs" / "davis2017_val.py") + ":runlocal"
  cmd = [sys.executable, str(REPO / "eval.py"), "--config", config,
         "--workdir", str(tmp_path / "wd"),
         f"--config.checkpoint={F.tiny_checkpoint()}", f"--config.dataset.root={davis}",
         "--config.num_devices=2", "--config.vis=True", "--config.compilation_cache=workdir"]
  proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "davis2017-val: 3 videos, 21 frames" in proc.stdout
  devices = {json.loads((tmp_path / "wd" / "videos" / f"{n}.json").read_text())["device"]
             for n in DAVIS_NAMES}
  assert devices == {"TFRT_CPU_0", "TFRT_CPU_1"} or devices == {"cpu:0", "cpu:1"}
  for n in DAVIS_NAMES:
    with Image.open(tmp_path / "wd" / "vis" / f"{n}.gif") as gif:
      assert gif.n_frames == 7
  assert any((tmp_path / "wd" / "jax_cache").iterdir())  # persistent compilation cache
  # Same numbers as a single-device run of the same config.
  single = davis_scores.global_scores(davis_scores.evaluate_dataset(
      davis, tmp_path / "wd" / "results", num_workers=1))
  assert json.loads((tmp_path / "wd" / "summary.json").read_text())["scores"] == pytest.approx(
      single, abs=1e-12)
  # Errors exit with status 1 and a message naming the problem.
  bad = subprocess.run(cmd[:4] + ["--workdir", str(tmp_path / "wd2"),
                                  f"--config.checkpoint={tmp_path / 'nothing'}",
                                  f"--config.dataset.root={davis}"],
                       env=env, capture_output=True, text=True, timeout=300)
  assert bad.returncode == 1 and "no model.json" in bad.stderr


def test_generic_folders_end_to_end_and_resume(tmp_path):
  root = tmp_path / "long"
  gt = F.write_generic(root)
  cfg = F.eval_config("generic", dataset__root=str(root))
  summary = evaluation.run(cfg, tmp_path / "wd")
  assert summary["benchmark"] == "generic" and summary["num_videos"] == 3
  per_seq = [davis_scores.evaluate_sequence(gt[n], _read_results(tmp_path / "wd", n, len(gt[n])),
                                            name=n) for n in sorted(gt)]
  assert summary["scores"] == pytest.approx(davis_scores.global_scores(per_seq), abs=1e-12)
  record = json.loads((tmp_path / "wd" / "videos" / "clip1.json").read_text())
  assert record["frames"] == 9 and record["seconds_per_frame"] > 0
  assert record["memory"]["state_slots_constant"] and record["memory"]["rss_bytes_end"] > 0
  assert evaluation.run(cfg, tmp_path / "wd")["computed_this_run"] == []  # resumed, nothing redone
  (tmp_path / "wd" / "videos" / "clip2.json").unlink()
  assert evaluation.run(cfg, tmp_path / "wd")["computed_this_run"] == ["clip2"]


def _read_results(workdir, name, n):
  return np.stack([np.asarray(Image.open(workdir / "results" / name / f"img_{t:04d}.png"))
                   for t in range(n)])
