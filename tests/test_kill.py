"""SIGKILL at random instants of a model export, a convert and a segment run: the previous
complete output (or the new one) survives and loads, and the next run cleans the leftovers.
The swap itself is also tested step by step (rde_jax/atomic_dir.py)."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import eval_fakes as F
import torch_zip_writer
from rde_jax import checkpoint, convert
from rde_jax.fileio import atomic, atomic_dir
from rde_jax.fileio import label_png as masks_io

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("kill_worker.py")


def _dead_pid() -> int:
  proc = subprocess.Popen([sys.executable, "-c", "pass"])
  proc.wait()
  return proc.pid


def _hidden(target: Path) -> list[str]:
  return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}."))


def test_a_kill_between_the_two_renames_recovers_the_old_version(tmp_path):
  target = tmp_path / "out"
  (target).mkdir()
  (target / "v").write_text("old")
  stage = tmp_path / f".out.staging.{_dead_pid()}.abcd"
  stage.mkdir()
  (stage / "v").write_text("new")
  os.rename(target, atomic_dir.aside(target))  # the kill came right after step 2
  assert not target.exists()
  assert (atomic_dir.recover(target) / "v").read_text() == "old"
  atomic_dir.clean_stale(target)  # the dead writer's staging folder goes
  assert _hidden(target) == []


def test_a_kill_after_the_swap_keeps_the_new_version_and_drops_the_old(tmp_path):
  target = tmp_path / "out"
  target.mkdir()
  (target / "v").write_text("new")
  atomic_dir.aside(target).mkdir()
  (atomic_dir.aside(target) / "v").write_text("old")
  trash = tmp_path / f".out.trash.{_dead_pid()}.abcd"  # half-deleted by the killed writer
  trash.mkdir()
  live = tmp_path / f".out.staging.{os.getpid()}.abcd"  # a writer still running: kept
  live.mkdir()
  assert (atomic_dir.recover(target) / "v").read_text() == "new"
  atomic_dir.clean_stale(target)
  assert _hidden(target) == [live.name]


def test_failed_writes_leave_the_old_version_and_no_new_folders(tmp_path):
  target = tmp_path / "a" / "b" / "out"
  with pytest.raises(RuntimeError):
    with atomic_dir.replacing(target) as stage:
      (stage / "x").write_text("partial")
      raise RuntimeError("boom")
  assert not (tmp_path / "a").exists()  # parents this call created are gone too
  with atomic_dir.replacing(target) as stage:
    (stage / "v").write_text("1")
  with pytest.raises(RuntimeError):
    with atomic_dir.replacing(target) as stage:
      raise RuntimeError("boom")
  assert (target / "v").read_text() == "1" and _hidden(target) == []


def test_outputs_get_the_umask_not_0600(tmp_path):
  old = os.umask(0o022)
  try:
    masks_io.write_label_png(tmp_path / "m.png", np.zeros((4, 4), np.uint8))
    atomic.write_json(tmp_path / "s.json", {"a": 1})
    with atomic_dir.replacing(tmp_path / "d") as stage:
      (stage / "f").write_text("x")
  finally:
    os.umask(old)
  assert oct((tmp_path / "m.png").stat().st_mode & 0o777) == oct(0o644)
  assert oct((tmp_path / "s.json").stat().st_mode & 0o777) == oct(0o644)
  assert oct((tmp_path / "d").stat().st_mode & 0o777) == oct(0o755)


def _kill_at_random(args: list[str], rounds: int, window: float,
                    sig: int = signal.SIGKILL) -> list[float]:
  """Starts the worker `rounds` times; kills it a random delay after its first output."""
  delays = []
  for _ in range(rounds):
    proc = subprocess.Popen([sys.executable, str(WORKER), *args], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
      assert proc.stdout.readline().strip() == "ready"
      delays.append(random.uniform(0, window))
      time.sleep(delays[-1])
    finally:
      proc.send_signal(sig)
      proc.wait()
  return delays


@pytest.mark.system
def test_kill_during_model_export_keeps_a_complete_matching_model(tmp_path):
  target = tmp_path / "workdir" / "model"
  delays = _kill_at_random(["export", str(target)], rounds=2, window=1.5)
  _, variables = checkpoint.load_model(target.parent)  # the reader recovers an aside copy
  step = json.loads((target / "model.json").read_text())["step"]
  leaves = {float(np.unique(x)[0]) for x in __import__("jax").tree_util.tree_leaves(variables)}
  assert leaves == {float(step)}, (delays, step, leaves)  # weights and model.json agree
  arch = checkpoint.load_model(target)[0]
  checkpoint.save_model(target, variables, arch, step=step)  # the next export cleans up
  assert _hidden(target) == [], delays


@pytest.fixture(scope="module")
def tiny_pth(tmp_path_factory):
  path = tmp_path_factory.mktemp("pth") / "tiny.pth"
  _, variables = checkpoint.load_model(F.tiny_checkpoint())
  torch_zip_writer.save(convert.to_torch_state_dict(variables), path)
  return path, variables


@pytest.mark.system
def test_kill_during_convert_overwrite_keeps_a_loadable_model(tmp_path, tiny_pth):
  pth, variables = tiny_pth
  target = tmp_path / "model"
  delays = _kill_at_random(["convert", str(target), str(pth)], rounds=2, window=1.0)
  _, loaded = checkpoint.load_model(target)
  for a, b in zip(*(__import__("jax").tree_util.tree_leaves(v) for v in (variables, loaded))):
    np.testing.assert_array_equal(a, b, err_msg=str(delays))
  convert.convert_file(str(pth), str(target), overwrite=True)
  assert _hidden(target) == [], delays


@pytest.mark.system
def test_kill_during_segment_keeps_complete_results(tmp_path):
  frames, labels = F.video(3, 8)
  for t, f in enumerate(frames):
    F.save_jpeg(tmp_path / "frames" / f"{t:05d}.jpg", f)
  masks_io.write_label_png(tmp_path / "first.png", labels[0])
  target = tmp_path / "out"
  delays = _kill_at_random(["segment", str(target), str(F.tiny_checkpoint()),
                            str(tmp_path / "frames"), str(tmp_path / "first.png")],
                           rounds=2, window=1.0)
  atomic_dir.recover(target)
  summary = json.loads((target / "summary.json").read_text())
  masks = sorted((target / "masks").iterdir())
  assert summary["frames"] == 8 and len(masks) == 8, delays
  for m in masks:
    assert np.asarray(Image.open(m)).shape == F.SIZE
  atomic_dir.clean_stale(target)  # what the next run does first
  assert _hidden(target) == [], delays


@pytest.mark.system
def test_sigterm_during_segment_leaves_nothing_hidden(tmp_path):
  frames, labels = F.video(3, 8)
  for t, f in enumerate(frames):
    F.save_jpeg(tmp_path / "frames" / f"{t:05d}.jpg", f)
  masks_io.write_label_png(tmp_path / "first.png", labels[0])
  target = tmp_path / "out"
  delays = _kill_at_random(["segment", str(target), str(F.tiny_checkpoint()),
                            str(tmp_path / "frames"), str(tmp_path / "first.png")],
                           rounds=1, window=1.0, sig=signal.SIGTERM)
  assert target.is_dir() and (target / "summary.json").exists(), delays
  assert _hidden(target) == [], delays  # unwound: no staging folder, no aside copy


def test_training_eval_outputs_are_replaced_as_a_whole(tmp_path):
  import ml_collections
  from rde_jax.train import periodic_eval as train_eval
  arch, variables = checkpoint.load_model(F.tiny_checkpoint())
  frames, labels = F.video(1, 4)
  cfg = ml_collections.ConfigDict({"eval": {"top_k": 20, "mem_every": 3}})
  (tmp_path / "eval" / "old_video").mkdir(parents=True)  # an earlier run's outputs
  res = train_eval.evaluate_videos(variables, arch, [{"frames": frames, "labels": labels,
                                                      "name": "v"}], cfg, tmp_path / "eval")
  assert set(res["per_video"]) == {"v"}
  assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == [".rde_jax_written.json", "v"]
  assert len(list((tmp_path / "eval" / "v").glob("*.png"))) == 4
  assert _hidden(tmp_path / "eval") == []
