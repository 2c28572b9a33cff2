"""One training run per workdir: WORKDIR/train.lock names the run that holds it.

    with workdir_lock.held(workdir):       # WorkdirLockedError naming the holder (host, pid)
      train(...)

The lock file holds {"host", "pid", "processes", "started", "heartbeat"}; the holder rewrites
`heartbeat` every HEARTBEAT_SECONDS (a thread) and deletes the file when it ends. A lock left by
a run that died (SIGKILL, a crash, a preempted VM) does not block the next one; it is stale, and
taken over with a warning, when
  * it names this host and a process that no longer exists, or
  * its heartbeat is older than LEASE_SECONDS (any host: a VM that is gone, a reused pid).
A lock of a live run (this host) or with a fresh heartbeat (another host) refuses the new run.

Several processes (`train.py --multihost`): process 0 of the job holds the one lock file (its
host and pid are the ones named); every process learns process 0's verdict, so a refused job
stops everywhere with the same line. Locally the file is created with O_EXCL and a stale lock is
renamed away before it is replaced, so two runs starting at once cannot both win; on object
stores (gs://), which have neither, the lock is written and read back (best effort).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from typing import Any, Iterator

from absl import logging

from rde_jax.errors import UserError
from rde_jax.fileio import storage

NAME = "train.lock"
HEARTBEAT_SECONDS = 30.0
LEASE_SECONDS = 180.0  # six missed heartbeats: the holder is gone


class WorkdirLockedError(UserError):
  """Another training run holds the workdir."""


def pid_alive(pid: int) -> bool:
  """Does process `pid` exist on this host?"""
  if pid == os.getpid():
    return True
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except (PermissionError, OverflowError, ValueError):  # someone else's live process / bad pid
    return pid > 0
  return True


def stale_reason(holder: dict[str, Any] | None, now: float | None = None) -> str | None:
  """Why the lock of `holder` may be taken over (None: it is held by a live run)."""
  now = time.time() if now is None else now
  if holder is None:
    return "unreadable lock file"
  beat = holder.get("heartbeat")
  if isinstance(beat, (int, float)) and now - beat > LEASE_SECONDS:
    return f"no heartbeat for {now - beat:.0f} s"
  pid = holder.get("pid")
  if holder.get("host") == socket.gethostname() and isinstance(pid, int):
    if not pid_alive(pid):
      return f"process {pid} on this host is gone"
  return None


def describe(holder: dict[str, Any] | None) -> str:
  if not holder:
    return "an unknown run"
  started = holder.get("started")
  when = (time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(started))
          if isinstance(started, (int, float)) else "")
  return f"host {holder.get('host')}, pid {holder.get('pid')}{when}"


class WorkdirLock:
  """The lock file of `workdir` (local or gs://); `acquire`, `release`."""

  def __init__(self, workdir: Any, processes: int = 1):
    self.path = storage.native(workdir) / NAME
    self.remote = storage.is_remote(workdir)
    self.me = {"host": socket.gethostname(), "pid": os.getpid(), "processes": processes,
               "started": time.time(), "heartbeat": time.time()}
    self._stop = threading.Event()
    self._thread: threading.Thread | None = None

  def _read(self) -> dict[str, Any] | None:
    try:
      data = json.loads(self.path.read_text())
    except (OSError, ValueError):
      return None
    return data if isinstance(data, dict) else None

  def _mine(self, holder: dict[str, Any] | None) -> bool:
    return bool(holder) and all(holder.get(k) == self.me[k] for k in ("host", "pid", "started"))

  def _write(self) -> None:
    from rde_jax.fileio import atomic
    atomic.write_json(self.path, self.me)

  def _create(self) -> bool:
    """Creates the lock file if there is none (O_EXCL locally). True: we hold it."""
    if self.remote:
      if self.path.exists():
        return False
      self._write()
      time.sleep(0.5)  # a concurrent writer's object would replace ours: read it back
      return self._mine(self._read())
    try:
      fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
      return False
    with os.fdopen(fd, "w") as f:
      json.dump(self.me, f)
    return True

  def _take_over(self, holder: dict[str, Any] | None, reason: str) -> None:
    """Removes a stale lock (locally: renamed away first, so only one run removes it)."""
    logging.warning("%s: taking over the stale lock of %s (%s)", self.path, describe(holder),
                    reason)
    if self.remote:
      self.path.unlink(missing_ok=True)
      return
    aside = self.path.with_name(f".{NAME}.stale.{os.getpid()}")
    try:
      os.rename(self.path, aside)
    except FileNotFoundError:
      return  # another run took it over first; the next _create decides
    try:
      moved = json.loads(aside.read_text())
    except (OSError, ValueError):
      moved = None
    if holder is not None and moved != holder:  # a fresh lock replaced the stale one meanwhile
      with contextlib.suppress(OSError):
        os.link(aside, self.path)  # put it back (never over a newer one)
    aside.unlink(missing_ok=True)

  def acquire(self) -> None:
    for _ in range(5):
      if self._create():
        self._start_heartbeat()
        return
      holder = self._read()
      if holder is None and not self.remote and time.time() - self.path.stat().st_mtime < 5:
        time.sleep(0.2)  # a lock being written right now
        continue
      reason = stale_reason(holder)
      if reason is None:
        raise WorkdirLockedError(
            f"--workdir {self.path.parent} is in use by another training run ({describe(holder)}"
            f"; lock file {self.path})",
            hint="wait for it to end or stop it; a lock whose process is gone is taken over "
                 f"automatically (another host's after {LEASE_SECONDS:.0f} s without heartbeat)")
      self._take_over(holder, reason)
    raise WorkdirLockedError(f"--workdir {self.path.parent}: could not take the lock "
                             f"{self.path} (several runs are starting at once)")

  def _start_heartbeat(self) -> None:
    def beat() -> None:
      while not self._stop.wait(HEARTBEAT_SECONDS):
        if not self._mine(self._read()):
          logging.error("%s: the lock was taken over by %s", self.path, describe(self._read()))
          return
        self.me["heartbeat"] = time.time()
        with contextlib.suppress(OSError):
          self._write()
    self._thread = threading.Thread(target=beat, name="rde_jax workdir lock", daemon=True)
    self._thread.start()

  def release(self) -> None:
    self._stop.set()
    if self._thread is not None:
      self._thread.join(timeout=5)
    with contextlib.suppress(OSError):
      if self._mine(self._read()):
        self.path.unlink()


@contextlib.contextmanager
def held(workdir: Any) -> Iterator[WorkdirLock | None]:
  """Holds the workdir's lock for the run (process 0; the others follow its verdict)."""
  import jax

  from rde_jax import multihost
  lock, error = None, None
  if jax.process_index() == 0:
    lock = WorkdirLock(workdir, jax.process_count())
    try:
      lock.acquire()
    except WorkdirLockedError as e:
      error = e
  if multihost.any_process(error is not None):
    raise error or WorkdirLockedError(f"--workdir {workdir} is in use by another training run "
                                      "(process 0 names it)")
  try:
    yield lock
  finally:
    if lock is not None:
      lock.release()
