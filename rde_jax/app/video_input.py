"""The app's inputs: an uploaded video (GIF / MP4 / AVI / ..., or a zip of frames) or a path on
the server under one of the --root folders, opened as a `video_reader.FrameSource`.

Upload file names are never used as paths: an upload is stored as `upload.<ext>` in the
session's folder (the extension from an allow-list), zip members as `frames/000000.<ext>`.
Zip members with absolute or `..` names are refused, and so is a zip whose members add up to
more than `max_unzipped_bytes`. Frame names of a zip (its members' stems, sanitised) name the
output masks, as a frame folder's file stems do for rde-segment.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import zipfile
from pathlib import Path
from typing import Sequence

from rde_jax.errors import DataError, UserError
from rde_jax.fileio import video_reader

UPLOAD_EXTS = (".gif", ".zip") + video_reader.VIDEO_EXTS
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,120}$")


def upload_extension(filename: str) -> str:
  """The allowed extension of an uploaded file's name ('.gif', '.zip', '.mp4', ...)."""
  ext = os.path.splitext(os.path.basename(filename or ""))[1].lower()
  if ext not in UPLOAD_EXTS:
    raise DataError(f"{filename or 'the upload'}: unsupported file type {ext or '(none)'!r}; "
                    f"upload one of {', '.join(UPLOAD_EXTS)} (a zip holds JPEG/PNG frames)")
  return ext


def open_upload(stored: Path, filename: str, folder: Path,
                max_unzipped_bytes: int) -> video_reader.FrameSource:
  """Opens an upload saved at `stored` (its original name only says the type). A zip is
  extracted into `folder / 'frames'` first."""
  ext = upload_extension(filename)
  if ext == ".zip":
    return _open_zip(stored, folder / "frames", filename, max_unzipped_bytes)
  return _open(stored, filename)


def open_server_path(path: str, roots: Sequence[str]) -> video_reader.FrameSource:
  """A frame folder or video file on the server; it must resolve under one of `roots`."""
  if not roots:
    raise UserError("opening server paths is off: start rde-app with --root FOLDER to allow "
                    "the videos under FOLDER")
  if not isinstance(path, str) or not path.strip():
    raise UserError("path: give a frame folder or a video file on the server")
  real = os.path.realpath(os.path.expanduser(path.strip()))
  allowed = [os.path.realpath(r) for r in roots]
  if not any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in allowed):
    raise UserError(f"{path}: outside the folders this server may read "
                    f"({', '.join(allowed)}; rde-app --root)")
  return _open(Path(real), path)


def _open(path: Path, shown: str) -> video_reader.FrameSource:
  try:
    return video_reader.open_video(path)
  except DataError as e:  # name the file as the user gave it, not our stored name
    raise DataError(str(e).replace(str(path), shown)) from e
  except OSError as e:
    raise DataError(f"{shown}: cannot read ({e.strerror or e})") from e


def _natural_key(name: str) -> tuple:
  return tuple((0, int(s)) if s.isdigit() else (1, s) for s in re.split(r"(\d+)", name))


def _open_zip(stored: Path, frames_dir: Path, filename: str,
              max_unzipped_bytes: int) -> video_reader.FrameFiles:
  """Extracts the JPEG/PNG members of a zip (natural name order) under generated names."""
  try:
    with zipfile.ZipFile(stored) as z:
      infos = [i for i in z.infolist() if not i.is_dir()]
      for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in name.split("/"):
          raise DataError(f"{filename}: member {info.filename!r} has an absolute or '..' path; "
                          "zip the frames with relative names")
      frames = [i for i in infos if posixpath.splitext(i.filename)[1].lower()
                in video_reader.FRAME_EXTS and not posixpath.basename(i.filename).startswith(".")
                and not i.filename.startswith("__MACOSX/")]
      if not frames:
        raise DataError(f"{filename}: no .jpg/.jpeg/.png frames in the zip")
      if sum(i.file_size for i in frames) > max_unzipped_bytes:
        raise DataError(f"{filename}: the frames add up to more than "
                        f"{max_unzipped_bytes / 2**20:.0f} MB unzipped (the server's limit)")
      frames.sort(key=lambda i: _natural_key(posixpath.basename(i.filename)))
      frames_dir.mkdir(parents=True)
      paths, names, total = [], [], 0
      for k, info in enumerate(frames):
        ext = posixpath.splitext(info.filename)[1].lower()
        target = frames_dir / f"{k:06d}{ext}"
        with z.open(info) as src, open(target, "wb") as dst:
          while chunk := src.read(1 << 20):
            total += len(chunk)
            if total > max_unzipped_bytes:  # sizes in the header may lie
              raise DataError(f"{filename}: the frames add up to more than "
                              f"{max_unzipped_bytes / 2**20:.0f} MB unzipped")
            dst.write(chunk)
        paths.append(target)
        names.append(_frame_name(posixpath.basename(info.filename), k))
  except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
    shutil.rmtree(frames_dir, ignore_errors=True)
    raise DataError(f"{filename}: not a readable zip ({e})") from e
  except BaseException:
    shutil.rmtree(frames_dir, ignore_errors=True)
    raise
  if len(set(names)) != len(names):
    names = [f"{k:05d}" for k in range(len(names))]
  source = _open(frames_dir, filename)
  source.names = names
  return source


def _frame_name(member: str, k: int) -> str:
  """A member's stem when it is a plain name, else its index (names of mask PNGs in a zip)."""
  stem = posixpath.splitext(member)[0]
  return stem if _SAFE_NAME.match(stem) else f"{k:05d}"
