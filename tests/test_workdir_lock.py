"""One training run per workdir (WORKDIR/train.lock) and no silent resume with another config
(WORKDIR/run_config.json), issue 21."""

import json
import socket
import subprocess
import sys
import time

import ml_collections
import pytest

from rde_jax.train import resume_check, workdir_lock


def _lock_file(workdir, **over):
  holder = {"host": socket.gethostname(), "pid": 1, "processes": 1, "started": time.time(),
            "heartbeat": time.time(), **over}
  (workdir / workdir_lock.NAME).write_text(json.dumps(holder))
  return holder


def _dead_pid():
  proc = subprocess.Popen([sys.executable, "-c", "pass"])
  proc.wait()
  return proc.pid


def test_a_second_run_is_refused_naming_the_holder(tmp_path):
  first = workdir_lock.WorkdirLock(tmp_path)
  first.acquire()
  try:
    held = json.loads((tmp_path / workdir_lock.NAME).read_text())
    assert held["pid"] == first.me["pid"] and held["host"] == socket.gethostname()
    second = workdir_lock.WorkdirLock(tmp_path)  # the lock names a live process: this one
    with pytest.raises(workdir_lock.WorkdirLockedError,
                       match=rf"in use by another training run \(host {socket.gethostname()}, "
                             rf"pid {held['pid']}"):
      second.acquire()
  finally:
    first.release()
  assert not (tmp_path / workdir_lock.NAME).exists()


def test_a_live_process_on_this_host_holds_it(tmp_path):
  _lock_file(tmp_path, pid=1)  # pid 1 always exists
  with pytest.raises(workdir_lock.WorkdirLockedError, match="pid 1"):
    workdir_lock.WorkdirLock(tmp_path).acquire()


@pytest.mark.parametrize("holder", [
    {"pid": "dead"},  # this host, the process is gone (a crash, SIGKILL)
    {"host": "another-vm", "pid": 1, "heartbeat": time.time() - 2 * workdir_lock.LEASE_SECONDS},
])
def test_a_stale_lock_is_taken_over(tmp_path, holder):
  if holder.get("pid") == "dead":
    holder = {"pid": _dead_pid()}
  _lock_file(tmp_path, **holder)
  lock = workdir_lock.WorkdirLock(tmp_path)
  lock.acquire()
  try:
    assert json.loads((tmp_path / workdir_lock.NAME).read_text())["pid"] == lock.me["pid"]
  finally:
    lock.release()
  assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_another_hosts_fresh_lock_holds(tmp_path):
  _lock_file(tmp_path, host="another-vm", pid=12345)
  with pytest.raises(workdir_lock.WorkdirLockedError, match="host another-vm, pid 12345"):
    workdir_lock.WorkdirLock(tmp_path).acquire()


def test_held_releases_on_error(tmp_path):
  with pytest.raises(RuntimeError):
    with workdir_lock.held(tmp_path):
      assert (tmp_path / workdir_lock.NAME).exists()
      raise RuntimeError("boom")
  assert not (tmp_path / workdir_lock.NAME).exists()


def _cfg(**kw):
  c = ml_collections.ConfigDict({"seed": 1, "lr": 1e-4, "batch_size": 2, "num_steps": 10,
                                 "data": {"sources": "davis", "num_threads": 2},
                                 "eval": {"num_videos": 8}})
  c.update(kw)
  return c


def test_resume_with_another_trajectory_field_is_refused(tmp_path):
  resume_check.check(_cfg(), tmp_path, resuming=False)
  # Fields that do not change the training may change.
  resume_check.check(_cfg(num_steps=20, eval={"num_videos": 2}), tmp_path, resuming=True)
  for field, value in (("seed", 2), ("lr", 1e-3), ("batch_size", 4)):
    with pytest.raises(resume_check.ChangedResumeError, match=rf"config\.{field} is "):
      resume_check.check(_cfg(**{field: value}), tmp_path, resuming=True)
  other_data = _cfg()
  other_data.data.sources = "youtube"
  with pytest.raises(resume_check.ChangedResumeError,
                     match=r"config\.data\.sources is 'youtube' but .* used 'davis'"):
    resume_check.check(other_data, tmp_path, resuming=True)
  resume_check.check(_cfg(lr=1e-3), tmp_path, resuming=True, allow_changed=True)
  assert json.loads((tmp_path / resume_check.NAME).read_text())["lr"] == 1e-3  # recorded


def test_an_earlier_version_s_workdir_is_compared_with_its_exported_config(tmp_path):
  (tmp_path / "model").mkdir()
  (tmp_path / "model" / "model.json").write_text(json.dumps({"config": _cfg().to_dict()}))
  with pytest.raises(resume_check.ChangedResumeError, match="config.seed"):
    resume_check.check(_cfg(seed=5), tmp_path, resuming=True)
