"""What we wrote into a folder we replace as a whole, so that nothing else is ever deleted.

Every folder swapped in by `atomic_dir.replacing` (segment --out, convert --output, a training
run's WORKDIR/model and WORKDIR/eval) holds `.rde_jax_written.json`: the list of every file and
folder the command wrote there. Such a folder is replaced later only if every entry in it is on
that list; otherwise the command stops with one line naming the first foreign entry:

    manifest.write(stage)                        # after the new version is complete
    manifest.first_foreign(target, legacy=...)   # None: everything in `target` is ours

Entries are relative POSIX paths, folders with a trailing '/'. A folder written before the list
existed (no manifest) is judged by `legacy`: patterns of the layout the command writes, matched
component by component ('*' never crosses '/', a last component '**' matches any rest).
"""

from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path
from typing import Sequence

from rde_jax.errors import UserError

NAME = ".rde_jax_written.json"
FORMAT = "rde_jax.written/1"


class ForeignFileError(UserError):
  """A folder to be replaced holds something this program did not write there."""


def entries(folder: str | os.PathLike) -> list[str]:
  """Every file and folder below `folder` (sorted; folders end in '/'; the manifest excluded)."""
  out = []
  for dirpath, dirnames, filenames in os.walk(folder):
    rel = os.path.relpath(dirpath, folder)
    prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
    out += [f"{prefix}{d}/" for d in dirnames]
    out += [f"{prefix}{f}" for f in filenames if prefix or f != NAME]
  return sorted(out)


def write(folder: str | os.PathLike) -> None:
  """Records everything now in `folder` as ours (call when the new version is complete)."""
  from rde_jax.fileio import atomic
  atomic.write_json(Path(folder) / NAME, {"format": FORMAT, "entries": entries(folder)})


def _ours(folder: Path) -> set[str] | None:
  """The entries of the folder's manifest; None when it has none (or an unreadable one)."""
  try:
    data = json.loads((folder / NAME).read_text())
  except (OSError, ValueError):
    return None
  if not isinstance(data, dict) or data.get("format") != FORMAT:
    return None
  return {e for e in data.get("entries", ()) if isinstance(e, str)}


def _matches(entry: str, pattern: str) -> bool:
  parts, pats = entry.rstrip("/").split("/"), pattern.rstrip("/").split("/")
  if entry.endswith("/") != pattern.endswith("/") and not pats[-1] == "**":
    return False
  if pats[-1] == "**":
    return len(parts) >= len(pats) and all(
        fnmatch.fnmatchcase(a, b) for a, b in zip(parts, pats[:-1]))
  return len(parts) == len(pats) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(parts, pats))


def first_foreign(folder: str | os.PathLike, legacy: Sequence[str] = ()) -> str | None:
  """The first entry of `folder` we did not write (None: all ours, empty, or no folder)."""
  folder = Path(folder)
  if not folder.is_dir():
    return None
  ours = _ours(folder)
  for entry in entries(folder):
    if ours is not None:
      if entry not in ours:
        return entry
    elif not any(_matches(entry, p) for p in legacy):
      return entry
  return None


def check_replaceable(folder: str | os.PathLike, legacy: Sequence[str] = (), *,
                      name: str = "") -> None:
  """Raises ForeignFileError naming the first entry of `folder` that we did not write."""
  foreign = first_foreign(folder, legacy)
  if foreign is not None:
    where = f"{name} {folder}" if name else f"{folder}"
    raise ForeignFileError(
        f"{where} holds {foreign.rstrip('/')}, which rde_jax did not write there; refusing to "
        "replace the folder (that would delete it)",
        hint=f"move {foreign.rstrip('/')} out of the folder, or choose another one")


def is_ours(folder: str | os.PathLike) -> bool:
  """Does `folder` hold a manifest (an output written by this program)?"""
  return _ours(Path(folder)) is not None
