"""eval.py --multihost: two JAX processes on localhost share the videos of a tiny DAVIS tree
(CPU, gloo collectives); SIGTERM stops a run cleanly, single- and multi-process, and a restart
recomputes only what is missing."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rde_jax import evaluation, multihost
from rde_jax.evaluation.sigterm_marker import Preempted

import eval_fakes as F
from configs_helper import REPO
from workers import free_port


LENGTHS = {"long": 60, "alpha": 8, "bravo": 7, "charlie": 6}  # -> p0: long; p1: the rest


def _davis(root: Path) -> Path:
  for name, n in LENGTHS.items():
    F.write_davis(root, (name,), num_frames=n)
  for year in ("2016", "2017"):
    (root / "ImageSets" / year / "val.txt").write_text("\n".join(LENGTHS) + "\n")
  return root


def _outputs(workdir: Path) -> dict[str, bytes]:
  results = workdir / "results"
  return {p.relative_to(results).as_posix(): p.read_bytes()
          for p in sorted(results.rglob("*")) if p.is_file()}


def _temporary_files(workdir: Path) -> list[Path]:
  return [p for p in workdir.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def test_assign_balances_longest_first_and_is_deterministic():
  sizes = [40, 8, 7, 6]
  assert multihost.assign(sizes, 2) == [[0], [1, 2, 3]]
  assert multihost.assign([5, 9, 5, 9, 1], 2) == [[1, 0, 4], [3, 2]]
  assert multihost.assign([3, 1, 2], 1) == [[0, 1, 2]]  # one process: the listing order
  shares = multihost.assign(list(range(1, 12)), 3)
  assert sorted(i for s in shares for i in s) == list(range(11))
  totals = [sum(i + 1 for i in s) for s in shares]
  assert max(totals) - min(totals) <= 1


def _start(cfg_args, workdir, port, *extra):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
  env.pop("XLA_FLAGS", None)
  cmd = [sys.executable, str(REPO / "eval.py"), *cfg_args, "--workdir", str(workdir),
         "--multihost", f"--coordinator_address=localhost:{port}", "--num_processes=2", *extra]
  return [subprocess.Popen(cmd + [f"--process_id={i}"], env=env, cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for i in (0, 1)]


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_processes_preempted_then_resumed_match_one(tmp_path):
  root = _davis(tmp_path / "davis")
  cfg = F.eval_config("davis2017_val", dataset__root=str(root))
  one = evaluation.run(cfg, tmp_path / "one")
  args = ["--config", str(REPO / "configs" / "davis2017_val.py") + ":runlocal",
          f"--config.checkpoint={F.tiny_checkpoint()}", f"--config.dataset.root={root}"]
  wd = tmp_path / "two"
  # Run 1: process 0 gets SIGTERM (a preemption) while on the long video; process 1 learns it
  # from the workdir. Both must stop with status 143.
  procs = _start(args, wd, free_port())
  deadline = time.time() + 240
  while not (wd / "results" / "long" / "00005.png").exists():
    assert time.time() < deadline and all(p.poll() is None for p in procs), \
        [p.communicate()[1][-2000:] for p in procs]
    time.sleep(0.01)
  procs[0].send_signal(signal.SIGTERM)
  outs = [p.communicate(timeout=240) for p in procs]
  assert [p.returncode for p in procs] == [143, 143], [e[-2000:] for _, e in outs]
  assert not _temporary_files(wd)
  finished = {p.stem for p in (wd / "videos").glob("*.json")}
  assert "long" not in finished
  # Run 2: both restarted: only the missing videos are computed, by the process assigned them.
  procs = _start(args, wd, free_port())
  outs = [p.communicate(timeout=240) for p in procs]
  assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
  summary = json.loads((wd / "summary.json").read_text())
  assert summary["computed_this_run"] == [n for n in LENGTHS if n not in finished]
  assert summary["processes"] == 2 and summary["global_devices"] == 2
  hosts = {h["process"]: h for h in summary["hosts"]}
  assert hosts[0]["videos"] == ["long"]
  assert hosts[1]["videos"] == [n for n in ("alpha", "bravo", "charlie") if n not in finished]
  assert all(h["wall_seconds"] > 0 for h in hosts.values())
  assert json.loads((wd / "videos" / "long.json").read_text())["process"] == 0
  # The union of both processes' outputs and process 0's CSVs: the one-process run's bytes.
  assert _outputs(wd) == _outputs(tmp_path / "one")
  assert summary["scores"] == one["scores"]
  assert not (wd / "preempted").exists() or not any((wd / "preempted").iterdir())


@pytest.mark.slow
@pytest.mark.multiprocess
def test_sigkill_of_one_process_ends_the_other_then_resume(tmp_path):
  root = _davis(tmp_path / "davis")
  args = ["--config", str(REPO / "configs" / "davis2017_val.py") + ":runlocal",
          f"--config.checkpoint={F.tiny_checkpoint()}", f"--config.dataset.root={root}"]
  wd = tmp_path / "wd"
  # Process 1 is killed (no handler runs) while process 0 is on the long video. Process 0 must
  # end by itself, once the 5 s heartbeat timeout declares process 1 dead (JAX's default is
  # 100 s: the wait below would run out).
  procs = _start(args, wd, free_port(), "--multihost_heartbeat_s=5")
  deadline = time.time() + 240
  while not (wd / "results" / "long" / "00005.png").exists():
    assert time.time() < deadline and all(p.poll() is None for p in procs), \
        [p.communicate()[1][-2000:] for p in procs]
    time.sleep(0.01)
  procs[1].kill()
  _, err = procs[0].communicate(timeout=60)
  assert procs[0].returncode != 0, err[-2000:]
  finished = {p.stem for p in (wd / "videos").glob("*.json")}
  assert finished < set(LENGTHS)
  # Both restarted: only the videos without a record are computed.
  procs = _start(args, wd, free_port())
  outs = [p.communicate(timeout=240) for p in procs]
  assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
  summary = json.loads((wd / "summary.json").read_text())
  assert summary["computed_this_run"] == [n for n in LENGTHS if n not in finished]
  assert {p.stem for p in (wd / "videos").glob("*.json")} == set(LENGTHS)


def test_sigterm_stops_a_single_process_run_cleanly(tmp_path):
  root = tmp_path / "davis"
  F.write_davis(root, ("alpha", "bravo", "charlie"), num_frames=12)
  cfg = F.eval_config("davis2017_val", dataset__root=str(root), vis=True)
  F.tiny_model()  # compiled before the clock starts

  def preempt_after_first_video():
    while not (tmp_path / "wd" / "videos" / "alpha.json").exists():
      time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)

  before = signal.getsignal(signal.SIGTERM)
  killer = threading.Thread(target=preempt_after_first_video, daemon=True)
  killer.start()
  with pytest.raises(Preempted):
    evaluation.run(cfg, tmp_path / "wd")
  killer.join()
  assert signal.getsignal(signal.SIGTERM) is before  # the handler is given back
  assert not _temporary_files(tmp_path / "wd")
  done = {p.stem for p in (tmp_path / "wd" / "videos").glob("*.json")}
  assert "alpha" in done and done != {"alpha", "bravo", "charlie"}
  again = evaluation.run(cfg, tmp_path / "wd")
  assert again["computed_this_run"] == [n for n in ("alpha", "bravo", "charlie") if n not in done]
  reference = evaluation.run(cfg, tmp_path / "ref")
  assert _outputs(tmp_path / "wd") == _outputs(tmp_path / "ref")
  assert again["scores"] == reference["scores"]
