"""Replacing a whole directory so that a kill at any instant leaves the old or the new version.

    with atomic_dir.replacing("models/s012") as stage:    # stage: an empty folder beside it
      write_everything_into(stage)
    # models/s012 is now the new version; on an exception it is untouched and stage is gone

Sequence (every step a rename within one parent folder, so atomic on POSIX file systems):
  1. write the new version into `.NAME.staging.<pid>.<token>` beside NAME;
  2. rename NAME -> `.NAME.old` (the aside copy), 3. rename the staging folder -> NAME,
  4. rename `.NAME.old` -> `.NAME.trash.<pid>.<token>` and delete it.
A kill before 2 leaves the old NAME (and a stale staging folder); between 2 and 3 NAME is missing
but `.NAME.old` is the complete old version: `recover(NAME)` (called by every reader and writer)
renames it back; after 3 NAME is the new version and `.NAME.old` is a leftover. Only a complete
old version is ever called `.NAME.old`, since step 4 renames it away before deleting.
Staging and trash folders of dead processes are deleted by the next writer (`clean_stale`).
One writer per target at a time (e.g. one training run per workdir: `train/workdir_lock.py`).

Nothing but our own output is ever replaced: the new version gets a manifest of what was written
(`fileio/manifest.py`), and an existing NAME holding any entry not on its manifest (a user's
file, an input) is refused with `manifest.ForeignFileError`, checked before the work and again
right before the swap. `legacy` patterns describe outputs written before manifests existed.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Iterator, Sequence

from rde_jax.fileio import manifest

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?:staging|trash)\.(?P<pid>\d+)\.[0-9a-f]+$")


def aside(target: Path) -> Path:
  """The name of the complete old copy while the new one is moved in."""
  return target.parent / f".{target.name}.old"


def _temp_name(target: Path, kind: str) -> Path:
  return target.parent / f".{target.name}.{kind}.{os.getpid()}.{secrets.token_hex(4)}"


def _alive(pid: int) -> bool:
  if pid == os.getpid():
    return True
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # someone else's live process
    return True
  return True


def _fsync_dir(folder: Path) -> None:
  """Makes the renames in `folder` durable (best effort: not every file system allows it)."""
  try:
    fd = os.open(folder, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


def _discard(path: Path) -> None:
  """Renames `path` to a trash name first, so a half-deleted tree never has a meaningful name."""
  trash = _temp_name(path, "trash")
  try:
    os.rename(path, trash)
  except FileNotFoundError:
    return
  shutil.rmtree(trash, ignore_errors=True)


def _remove_settled(folder: Path, quiet_seconds: float = 0.3, limit_seconds: float = 3.0) -> None:
  """Deletes `folder`, again while a writer's orphaned background threads (orbax/tensorstore
  after a failed save) recreate it, until it stayed absent `quiet_seconds` (at most
  `limit_seconds`; what is left then belongs to a dead pid and goes with `clean_stale`)."""
  deadline = time.monotonic() + limit_seconds
  absent_since = None
  while time.monotonic() < deadline:
    if folder.exists():
      shutil.rmtree(folder, ignore_errors=True)
      absent_since = None
    elif absent_since is None:
      absent_since = time.monotonic()
    elif time.monotonic() - absent_since >= quiet_seconds:
      return
    time.sleep(0.05)


def recover(target: str | os.PathLike) -> Path:
  """Restores the old version if a writer was killed between its two renames. Returns `target`."""
  target = Path(target)
  old = aside(target)
  if not target.exists() and old.is_dir():
    try:
      os.rename(old, target)
    except OSError:  # read-only folder, or another process recovered it first
      pass
  return target


def clean_stale(target: str | os.PathLike) -> None:
  """Recovers or drops the aside copy and deletes staging/trash folders of dead processes."""
  target = recover(target)
  if target.exists() and aside(target).exists():
    _discard(aside(target))
  if not target.parent.is_dir():
    return
  for p in target.parent.iterdir():
    m = _TEMP.match(p.name)
    if m and m["name"] == target.name and not _alive(int(m["pid"])):
      shutil.rmtree(p, ignore_errors=True)


def _make_parents(folder: Path) -> list[Path]:
  """mkdir -p; returns the folders it created, deepest first."""
  made = []
  p = folder
  while not p.exists():
    made.append(p)
    p = p.parent
  for d in reversed(made):
    d.mkdir(exist_ok=True)
  return made


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
  """Holds SIGTERM/SIGINT back for the few renames of a swap, then delivers them (SIGKILL cannot
  be held: `recover` covers it). Python runs signal handlers in the main thread only."""
  import signal
  import threading
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  pending: list[int] = []
  previous = {s: signal.signal(s, lambda signum, frame: pending.append(signum))
              for s in (signal.SIGTERM, signal.SIGINT)}
  try:
    yield
  finally:
    for s, handler in previous.items():
      signal.signal(s, signal.SIG_DFL if handler is None else handler)
    for s in pending:
      signal.raise_signal(s)


def publish(stage: Path, target: Path, legacy: Sequence[str] = ()) -> None:
  """Swaps the complete `stage` in as `target` (steps 2-4 of the module docstring), after
  recording what `stage` holds and checking that `target` holds only what we wrote."""
  manifest.write(stage)
  with _signals_deferred():
    manifest.check_replaceable(recover(target), legacy)
    _swap(stage, target)


def _swap(stage: Path, target: Path) -> None:
  old = aside(target)
  if old.exists() and target.exists():  # a run killed after its swap: target is the newer one
    _discard(old)
  elif old.exists():
    os.rename(old, target)
  had_old = target.exists()
  if had_old:
    os.rename(target, old)
  os.rename(stage, target)
  _fsync_dir(target.parent)
  if had_old:
    _discard(old)


@contextlib.contextmanager
def replacing(target: str | os.PathLike, legacy: Sequence[str] = ()) -> Iterator[Path]:
  """Yields an empty staging folder beside `target`; on success it replaces `target`.

  An existing `target` holding anything we did not write (no manifest: anything `legacy` does
  not match) is refused with `manifest.ForeignFileError`, before and after the work. On an
  exception (or KeyboardInterrupt) the staging folder and any parent folders this call
  created are removed, and `target` is left as it was.
  """
  target = Path(target).absolute()
  made = _make_parents(target.parent)
  stage = None
  try:
    clean_stale(target)
    manifest.check_replaceable(target, legacy)
    stage = _temp_name(target, "staging")
    os.mkdir(stage)  # mode 0o777 minus the umask (tempfile.mkdtemp would give 0o700)
    yield stage
    publish(stage, target, legacy)
  except BaseException:
    if stage is not None:
      _remove_settled(stage)
    for d in made:
      with contextlib.suppress(OSError):
        d.rmdir()  # only if still empty
    raise
