"""Atomic file writes: a temporary file beside the target, then a rename, so a reader (or a run
killed at any instant) sees the old file or the new one, never half of one.

Files get the permissions of an ordinary `open()` (0666 less the umask), not mkstemp's 0600.
Remote paths (`gs://...`) have no rename: they are written in one upload (`fileio.storage`).
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from typing import Any

import numpy as np

from rde_jax.fileio import storage


PathLike = str | os.PathLike


def file_mode() -> int:
  """Permissions of a new file as `open()` would make it: 0666 less the process umask (read
  without changing it where /proc allows, so it is thread-safe)."""
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith("Umask:"):
          return 0o666 & ~int(line.split()[1], 8)
  except OSError:
    pass
  mask = os.umask(0o022)
  os.umask(mask)
  return 0o666 & ~mask


def write_bytes(path: PathLike, data: bytes) -> None:
  """Writes bytes to a temporary file beside `path`, then renames it into place."""
  if storage.is_remote(path):
    storage.write_remote(path, data)
    return
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    os.fchmod(fd, file_mode())
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def _json_default(x: Any) -> Any:
  if isinstance(x, (np.integer, np.floating)):
    return x.item()
  if isinstance(x, (np.ndarray, tuple)):
    return list(x)
  raise TypeError(f"not JSON serialisable: {type(x)}")


def write_json(path: PathLike, obj: Any) -> None:
  """Atomically writes `obj` as JSON (sorted keys; numpy scalars and arrays allowed)."""
  text = json.dumps(obj, indent=1, sort_keys=True, default=_json_default) + "\n"
  write_bytes(path, text.encode("utf-8"))
