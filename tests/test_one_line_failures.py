"""Library failures end in one line (issue 21): a full disk however a library wraps it, orbax's
closed-event-loop tracebacks, console scripts' --help, the package version, the SIGTERM exit
status of train.py, and the single cases of segment and the API."""

import errno
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import numpy as np
import pytest

from rde_jax import cli_output

REPO = Path(__file__).resolve().parents[1]

_LOOP_CLOSED = ("Traceback (most recent call last):\n"
                '  File "base_events.py", line 519, in _check_closed\n'
                "    raise RuntimeError('Event loop is closed')\n"
                "RuntimeError: Event loop is closed\n")


def test_the_stderr_filter_drops_only_closed_event_loop_tracebacks():
  out = io.StringIO()
  f = cli_output.StderrTracebackFilter(out)
  for piece in _LOOP_CLOSED.replace(": ", ":| ").replace("\n", "\n|").split("|"):
    f.write(piece)  # written in pieces, as PyErr_Display does
  other = "Traceback (most recent call last):\n  File \"x.py\"\nValueError: real\n"
  f.write(other)
  f.write("progress 50%\r")  # a partial line passes at once
  assert out.getvalue() == other + "progress 50%\r"
  f.write("Traceback (most recent call last):\n  File \"a\"\n")
  t = threading.Thread(target=lambda: f.write("error: from another thread\n"))
  t.start()
  t.join()  # another thread's line does not end (or leak) the held block
  f.flush()  # (print_error flushes: a held block stays held)
  f.write("RuntimeError: Event loop is closed\n")
  assert out.getvalue() == other + "progress 50%\r" + "error: from another thread\n"
  a, b = _LOOP_CLOSED.splitlines(keepends=True), _LOOP_CLOSED.splitlines(keepends=True)
  for x, y in zip(a, b):  # two threads' tracebacks interleaved line by line
    f.write(x + y)
  f.drain()
  assert out.getvalue() == other + "progress 50%\r" + "error: from another thread\n"


def test_disk_full_is_found_however_a_library_wrapped_it():
  orbax = ValueError('RESOURCE_EXHAUSTED: Error writing "x/0" in OCDBT database at local file '
                     '"/data/.m.staging.15035.129bf0a4/variables.orbax-checkpoint-tmp/ocdbt.pro'
                     'cess_0/": Failed to write 2217928 bytes to file 4: No space left on device '
                     "[os_error_code='28']")
  assert cli_output.disk_full(orbax) == ("error: disk full (No space left on device) writing "
                                         "/data/m/variables; what was written before is intact: "
                                         "free some space and rerun")
  try:
    try:
      raise OSError(errno.ENOSPC, "No space left on device", "/w/metrics.jsonl")
    except OSError as e:
      raise RuntimeError("while logging") from e
  except RuntimeError as wrapped:
    assert "writing /w/metrics.jsonl" in cli_output.disk_full(wrapped)
  assert cli_output.disk_full(ValueError("bad value")) is None


def _can_mount_tmpfs(path):
  if os.geteuid() != 0 or not shutil.which("mount"):
    return False
  return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)],
                        capture_output=True).returncode == 0


@pytest.mark.slow
def test_convert_onto_a_full_disk_prints_one_line_and_leaves_nothing(tmp_path):
  import reliability_cases as R
  small = tmp_path / "small"
  small.mkdir()
  if not _can_mount_tmpfs(small):
    pytest.skip("needs root to mount a 1 MB tmpfs")
  try:
    env = R.make_env(tmp_path / "env")
    proc = subprocess.run([sys.executable, "-m", "rde_jax.convert", f"--input={env.pth}",
                           f"--output={small / 'model'}"], cwd=REPO, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"error: disk full (No space left on device) writing {small / 'model'}/variables; "
        "what was written before is intact: free some space and rerun"], proc.stderr
    assert list(small.iterdir()) == []
  finally:
    subprocess.run(["umount", str(small)], check=False)


def test_console_scripts_list_their_flags_in_help():
  code = ("import sys; sys.argv[0] = '/venv/bin/rde-convert'; "
          "from rde_jax.convert import __main__ as m; m.run()")
  proc = subprocess.run([sys.executable, "-c", code, "--help"], cwd=REPO, capture_output=True,
                        text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
  assert all(f in proc.stdout for f in ("--input:", "--output:", "--[no]overwrite:", "--[no]debug:"))


def test_the_version_is_pyproject_s():
  import rde_jax
  with open(REPO / "pyproject.toml", "rb") as f:
    assert rde_jax.__version__ == tomllib.load(f)["project"]["version"]


def test_a_preempted_training_run_exits_143(monkeypatch, tmp_path):
  from rde_jax import cli
  from rde_jax.train import loop
  spec = importlib.util.spec_from_file_location("rde_train_entry", REPO / "train.py")
  train = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(train)
  monkeypatch.setattr(loop, "train_and_evaluate",
                      lambda cfg, workdir, **kw: {"status": "preempted", "step": 2})
  rc = cli.call(train.main, train.define_flags,
                ["train.py", "--config=configs/synthetic.py:runlocal",
                 f"--workdir={tmp_path / 'w'}"])
  assert rc == 143


def test_start_frame_equal_to_the_length_of_a_video_file_is_outside():
  import itertools
  from rde_jax import api
  from rde_jax.errors import DataError
  from rde_jax.inference.settings import InferenceSettings
  frames = [np.zeros((4, 4, 3), np.uint8)] * 3  # a source whose count is not known up front
  model = api.VOSModel(None, None)  # no frame reaches the network in these cases
  mask = np.ones((4, 4), np.uint8)
  stream = model._stream(iter(frames), mask, InferenceSettings(), False, 2, None)
  assert [t for t, _ in itertools.islice(stream, 2)] == [0, 1]  # frames before 2: background
  with pytest.raises(DataError, match=r"start_frame 3 is beyond the end of the video \(3 frames\)"):
    list(model._stream(iter(frames), mask, InferenceSettings(), False, 3, None))


def test_mask_255_is_void_unless_kept_and_a_stretch_is_said(caplog):
  from rde_jax import api
  mask = np.zeros((8, 8), np.uint8)
  mask[:2], mask[4:] = 1, 255
  compact, lut = api.prepare_mask(mask, (8, 8))
  assert set(lut[np.unique(compact)]) == {0, 1}  # 255 is background in the first frame
  assert "pixels of value 255 are void" in caplog.text
  compact, lut = api.prepare_mask(mask, (8, 8), keep_255=True)
  assert set(lut[np.unique(compact)]) == {0, 1, 255}
  binary = np.where(mask == 1, 0, mask)  # a 0/255 mask: one object
  assert set(api.prepare_mask(binary, (8, 8))[1][1:2]) == {255}
  caplog.clear()
  api.prepare_mask(mask, (8, 16), resize_mask=True)
  assert "another aspect ratio than the frames" in caplog.text
  caplog.clear()
  api.prepare_mask(mask, (16, 16), resize_mask=True)  # same aspect: nothing to say
  assert "aspect ratio" not in caplog.text


def test_the_api_never_pads_a_chunk_beyond_the_video(monkeypatch):
  from rde_jax import api
  seen = {}

  def fake_propagate(engine, frames, labels, settings, **kw):
    seen["chunk"] = settings.chunk
    return iter(())

  monkeypatch.setattr(api.inference, "propagate", fake_propagate)
  monkeypatch.setattr(api.VOSModel, "engine", lambda self, *a, **kw: None)
  model = api.VOSModel(None, None)
  frames = np.zeros((5, 16, 16, 3), np.uint8)
  mask = np.ones((16, 16), np.uint8)
  list(model.segment_iter(frames, mask, chunk=100_000))
  assert seen["chunk"] == 4
