"""Workdirs, model directories and results on local disks or on cloud storage (`gs://...`).

Every path goes through `etils.epath` (dataset roots too: frames, annotations and lists are
read through it when the root is a URI), which maps `gs://`, `s3://`, `az://` to fsspec (gcsfs,
s3fs, adlfs: install the one you need) or to `tf.io.gfile` when TensorFlow is installed. Local
paths keep their fast paths: the atomic rename writers of `rde_jax.fileio.atomic`.

Atomicity on object stores: there is no atomic rename (a "rename" is copy + delete), so a remote
file is written in one upload instead. On GCS and S3 an object becomes visible only once its
upload completed, so a reader (or a run killed mid-write) sees the old object or the new one,
never half of one: the same guarantee as the local rename. Other fsspec filesystems may not give
it; the resumable evaluation still never trusts a video without its record, written last.

    path = storage.as_path("gs://bucket/run1")      # epath.Path; local paths made absolute
    storage.write_bytes(path / "summary.json", data)
    with storage.local_copy_for(path / "vis" / "a.mp4") as tmp:  # writers that need a real file
      write_video(tmp)
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import tempfile
import time
from typing import Any, Iterator

from etils import epath


PathLike = str | os.PathLike


def is_remote(path: PathLike) -> bool:
  """True for URIs (`gs://bucket/x`, `s3://...`, `memory://...`), False for local paths."""
  return "://" in os.fspath(path)


def as_path(path: PathLike) -> epath.Path:
  """An `epath.Path`; local paths are user-expanded and made absolute, URIs kept as they are."""
  if is_remote(path):
    return epath.Path(os.fspath(path))
  return epath.Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def native(path: PathLike) -> Any:
  """`pathlib.Path` for a local path (the local fast paths), `epath.Path` for a URI."""
  return as_path(path) if is_remote(path) else pathlib.Path(path)


def canonical(path: PathLike) -> str:
  """The string a record stores for `path`: absolute when local, the URI when remote."""
  return os.fspath(as_path(path))


_MADE_DIRS: set[str] = set()  # remote folders made by this process (one call each, not per file)


def _make_parent(path: epath.Path) -> None:
  parent = os.fspath(path.parent)
  if parent not in _MADE_DIRS:
    path.parent.mkdir(parents=True, exist_ok=True)
    _MADE_DIRS.add(parent)


def write_remote(path: PathLike, data: bytes) -> None:
  """One upload of `data` to a remote `path` (parents created where the store has folders)."""
  path = as_path(path)
  _make_parent(path)
  with path.open("wb") as f:
    f.write(data)


def read_bytes(path: PathLike) -> bytes:
  with as_path(path).open("rb") as f:
    return f.read()


def download(remote: PathLike, local: PathLike) -> None:
  """Copies `remote` to the local file `local` (for readers that need a real file: ffmpeg)."""
  with as_path(remote).open("rb") as src, open(local, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)


def upload(local: PathLike, remote: PathLike) -> None:
  """Copies a finished local file to `remote` in one upload."""
  remote = as_path(remote)
  _make_parent(remote)
  with open(local, "rb") as src, remote.open("wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)


@contextlib.contextmanager
def local_copy_for(target: PathLike) -> Iterator[str]:
  """Yields a local file name to write `target`'s content to; on success it is uploaded (remote
  `target`) and the local file removed. For writers that need a real file (zip, ffmpeg)."""
  tmpdir = tempfile.mkdtemp(prefix="rde_jax_stage_")
  local = os.path.join(tmpdir, os.path.basename(os.fspath(target)) or "file")
  try:
    yield local
    upload(local, target)
  finally:
    shutil.rmtree(tmpdir, ignore_errors=True)


def files_under(folder: PathLike) -> list[epath.Path]:
  """Every file below `folder` (sorted; recursive listing without `**`, which epath refuses on
  object stores)."""
  out, stack = [], [as_path(folder)]
  while stack:
    d = stack.pop()
    for p in d.iterdir():
      (stack.append(p) if p.is_dir() else out.append(p))
  return sorted(out)


class AppendLog:
  """A text file that grows by lines (metrics.jsonl). Local: line-buffered append. Remote (no
  append on object stores): the lines are kept and the whole object is rewritten at most every
  `flush_seconds` and on `close`."""

  def __init__(self, path: PathLike, flush_seconds: float = 30.0):
    self.path = as_path(path)
    self._flush_seconds, self._last = flush_seconds, 0.0
    self._text: str | None = None  # remote: every line so far
    self._file: Any = None  # local: the open file
    if is_remote(path):
      self._text = self.path.read_text() if self.path.exists() else ""
    else:
      self._file = open(os.fspath(self.path), "a", buffering=1)

  def write(self, line: str) -> None:
    if self._file is not None:
      self._file.write(line)
      return
    if self._text is None:
      raise ValueError(f"{self.path}: written after close")
    self._text += line
    if time.monotonic() - self._last >= self._flush_seconds:
      self.flush()

  def flush(self) -> None:
    if self._file is not None:
      self._file.flush()
    elif self._text is not None:
      write_remote(self.path, self._text.encode("utf-8"))
      self._last = time.monotonic()

  def close(self) -> None:
    if self._file is not None:
      self._file.close()
      self._file = None
    elif self._text is not None:
      self.flush()
      self._text = None


def upload_folder(local: PathLike, remote: PathLike, *, last: str | None = None,
                  replace: tuple[str, ...] = ()) -> None:
  """Uploads every file under `local` to the same place under `remote`, the file named `last`
  (e.g. summary.json, the "done" mark) after all others. Files under `remote/<d>` for `d` in
  `replace` that `local` does not hold (an earlier run's) are deleted first, but only those the
  earlier upload wrote (listed in its manifest, `fileio/manifest.py`; without one, PNGs)."""
  import json

  from rde_jax.fileio import manifest
  remote = as_path(remote)
  names = sorted(os.path.relpath(os.path.join(d, f), local)
                 for d, _, files in os.walk(local) for f in files)
  try:
    ours = set(json.loads((remote / manifest.NAME).read_text())["entries"])
  except (OSError, ValueError, KeyError, TypeError):
    ours = None
  for d in replace:
    if (remote / d).exists():
      for p in files_under(remote / d):
        rel = p.relative_to(remote).as_posix()
        written = rel in ours if ours is not None else rel.endswith(".png")
        if rel not in names and written:
          p.unlink()
  for name in sorted(names, key=lambda n: n == last):
    upload(os.path.join(local, name), remote / name)
