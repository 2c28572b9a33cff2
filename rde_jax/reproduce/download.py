"""Fetching the official checkpoints: resumable (HTTP Range), size-checked, one line per file.

Every address is here. The official README links a Google Drive folder; its file ids are read
off the folder's public listing (`embeddedfolderview`) when a file is needed. `--download_from
URL` takes a mirror instead (any HTTP server holding the files under their official names).

A file is fetched into `.NAME.part` beside its target and renamed to NAME only when complete
(the byte count the server announced, Content-Length or Content-Range); a rerun resumes the
`.part` file with `Range: bytes=N-` (a server that ignores ranges sends it whole again).
Network failures end in one line (`DownloadError`) saying what to do.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

from rde_jax.errors import UserError

# The official README's "Model zoo" link (RDE-VOS-CVPR2022 at 548a889).
OFFICIAL_FOLDER_ID = "1i6GtLPUNZe0h72IfhU2s_WHA7ZuVoudG"
OFFICIAL_FOLDER = f"https://drive.google.com/drive/folders/{OFFICIAL_FOLDER_ID}"
DRIVE_LISTING = "https://drive.google.com/embeddedfolderview?id={folder}"
DRIVE_FILE = "https://drive.usercontent.google.com/download?id={id}&export=download&confirm=t"
# The datasets' own download pages (not fetched: DAVIS zips are large, YouTube-VOS needs a
# CodaLab sign-in).
DATASET_PAGES = {
    "davis": "https://davischallenge.org/davis2017/code.html",
    "davis_testdev": "https://davischallenge.org/davis2017/code.html",
    "youtube": "https://youtube-vos.org/dataset/vos/",
}
TIMEOUT_S = 60
BLOCK = 1 << 20


class DownloadError(UserError):
  """A file could not be fetched (offline, refused, cut off, wrong size)."""


def sha256(path: str | os.PathLike) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(BLOCK), b""):
      h.update(block)
  return h.hexdigest()


def _open(url: str, headers: dict[str, str]):
  request = urllib.request.Request(url, headers={"User-Agent": "rde-jax", **headers})
  host = urllib.parse.urlsplit(url).netloc
  try:
    return urllib.request.urlopen(request, timeout=TIMEOUT_S)
  except urllib.error.HTTPError as e:
    if e.code == 416 and "Range" in headers:  # nothing after the .part: the caller checks it
      return e
    raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from e
  except (urllib.error.URLError, OSError) as e:
    reason = getattr(e, "reason", e)
    raise DownloadError(f"cannot reach {host} ({reason}); offline? Put the files into the "
                        f"checkpoint folder by hand (from {OFFICIAL_FOLDER})") from e


def _range_start_total(content_range: str | None) -> tuple[int, int | None] | None:
  m = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", (content_range or "").strip())
  if not m:
    return None
  return int(m.group(1)), None if m.group(2) == "*" else int(m.group(2))


def fetch(url: str, dest: str | os.PathLike, *, size: int | None = None) -> dict:
  """Downloads `url` to `dest`, resuming `.dest.part`; returns {'bytes', 'resumed_at', 'seconds'}.

  `size`: the expected byte count, if known (checked against the server's and the result).
  """
  dest = Path(dest)
  part = dest.with_name(f".{dest.name}.part")
  have = part.stat().st_size if part.exists() else 0
  t0 = time.perf_counter()
  resp = _open(url, {"Range": f"bytes={have}-"} if have else {})
  if getattr(resp, "code", None) == 416:  # a kill after the last byte, before the rename
    m = re.fullmatch(r"bytes \*/(\d+)", (resp.headers.get("Content-Range") or "").strip())
    if not m or int(m.group(1)) != have or (size is not None and have != size):
      raise DownloadError(f"{part}: does not match {url}; delete it and rerun")
    os.replace(part, dest)
    return {"bytes": have, "resumed_at": have, "seconds": time.perf_counter() - t0}
  with resp:
    if "text/html" in (resp.headers.get("Content-Type") or ""):
      raise DownloadError(f"{url}: the server sent a web page instead of {dest.name} (Google "
                          f"Drive: quota or sign-in); fetch it by hand from {OFFICIAL_FOLDER}")
    span = _range_start_total(resp.headers.get("Content-Range")) if resp.status == 206 else None
    if span is not None and span[0] == have:
      total, mode = span[1], "ab"
    else:  # no range support (or a fresh start): the whole file again
      length = resp.headers.get("Content-Length")
      have, mode, total = 0, "wb", int(length) if length is not None else None
    resumed_at = have
    if size is not None and total is not None and total != size:
      raise DownloadError(f"{url}: the server offers {total:,} bytes, expected {size:,}")
    _copy(resp, part, mode, dest.name, have, total)
  got = part.stat().st_size
  if (total is not None and got != total) or (size is not None and got != size):
    raise DownloadError(f"{dest.name}: got {got:,} of {total or size:,} bytes; rerun to resume")
  os.replace(part, dest)
  return {"bytes": got, "resumed_at": resumed_at, "seconds": time.perf_counter() - t0}


def _copy(resp, part: Path, mode: str, name: str, have: int, total: int | None) -> None:
  """Streams the response body into `part`; a cut connection keeps what arrived."""
  tty = sys.stderr.isatty()
  last = 0.0
  with open(part, mode) as f:
    while True:
      try:
        block = resp.read(BLOCK)
      except (OSError, http.client.HTTPException) as e:  # reset, timeout, IncompleteRead
        f.flush()
        raise DownloadError(f"{name}: connection lost after {have:,} bytes ({e}); rerun "
                            "to resume") from e
      if not block:
        break
      f.write(block)
      have += len(block)
      if tty and time.monotonic() - last > 0.5:
        last = time.monotonic()
        of = f" of {total / 1e6:.1f}" if total else ""
        print(f"\r{name}: {have / 1e6:.1f}{of} MB", end="", file=sys.stderr, flush=True)
  if tty:
    print("\r", end="", file=sys.stderr)


def drive_file_ids(folder_id: str = OFFICIAL_FOLDER_ID) -> dict[str, str]:
  """{file name: Drive file id} of a public Google Drive folder (its embedded listing)."""
  with _open(DRIVE_LISTING.format(folder=folder_id), {}) as resp:
    html = resp.read().decode("utf-8", "replace")
  ids = {}
  for entry in html.split('class="flip-entry"')[1:]:
    fid = re.search(r"/file/d/([\w-]+)", entry)
    title = re.search(r'flip-entry-title">([^<]+)<', entry)
    if fid and title:
      ids[title.group(1).strip()] = fid.group(1)
  return ids


def fetch_checkpoints(names: list[str], folder: str | os.PathLike, *,
                      source: str = "", say: Callable[[str], None] = print) -> dict[str, dict]:
  """Fetches the missing `names` into `folder`: from the mirror `source` (base URL) or, when
  empty, the official Google Drive folder. One line per file. Returns {name: fetch info}."""
  folder = Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  missing = [n for n in names if not (folder / n).is_file()]
  if not missing:
    return {}
  if source:
    urls = {n: source.rstrip("/") + "/" + urllib.parse.quote(n) for n in missing}
  else:
    ids = drive_file_ids()
    absent = [n for n in missing if n not in ids]
    if absent:
      raise DownloadError(f"{OFFICIAL_FOLDER}: no {', '.join(absent)} in the folder listing "
                          f"(it lists {', '.join(sorted(ids)) or 'nothing'})")
    urls = {n: DRIVE_FILE.format(id=ids[n]) for n in missing}
  out = {}
  for n in missing:
    info = fetch(urls[n], folder / n)
    resumed = f" (resumed at {info['resumed_at'] / 1e6:.1f} MB)" if info["resumed_at"] else ""
    say(f"downloaded {n}: {info['bytes'] / 1e6:.1f} MB in {info['seconds']:.1f} s{resumed} "
        f"<- {urls[n]}")
    out[n] = {**info, "url": urls[n]}
  return out
