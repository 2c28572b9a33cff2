"""What the commands print on stderr when a library fails: one line, not its thread dumps.

* `disk_full(e)`: 'error: disk full (No space left on device) writing PATH' for an exception
  whose chain holds ENOSPC/EDQUOT, however a library wrapped it (orbax/tensorstore raise
  `ValueError: RESOURCE_EXHAUSTED: ... No space left on device`). PATH is the folder the user
  named: a staging folder `.NAME.staging.<pid>.<token>` is reported as NAME.
* `quiet_library_logs`: unless --verbosity is given, library log records below WARNING are
  dropped, ERROR records of library background threads are dropped (asynchronous work that
  failed: the main thread re-raises it and the command reports it as its one line; orbax logs
  each such failure with its traceback several times), and the library records kept lose their
  tracebacks (--verbosity=0 shows everything).
* `StderrTracebackFilter`: tensorstore's completion callbacks print a traceback ending in
  `RuntimeError: Event loop is closed` for every pending write or read of an orbax operation
  that failed (its event loop is already closed; 10-150 of them on a full disk or a model
  folder missing its data). The filter drops exactly those blocks; all other output passes.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import re
import sys
import threading
from typing import Sequence

_FULL = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXT = re.compile(r"No space left on device|Disk quota exceeded|os_error_code='(28|122)'")
_QUOTED_PATH = re.compile(r'(?:local file|Failed writing:?|file) "([^"]+)"')
_STAGING = re.compile(r"/\.([^/]+)\.(?:staging|trash)\.\d+\.[0-9a-f]+")


def _chain(e: BaseException) -> list[BaseException]:
  out, seen = [], set()
  while e is not None and id(e) not in seen and len(out) < 20:
    seen.add(id(e))
    out.append(e)
    e = e.__cause__ or e.__context__
  return out


def user_path(path: str) -> str:
  """A path as the user named it: staging folders mapped to their target, orbax temporaries
  cut off."""
  path = _STAGING.sub(r"/\1", path)
  path = re.sub(r"\.orbax-checkpoint-tmp.*$", "", path)
  return path.rstrip("/")


def disk_full(e: BaseException) -> str | None:
  """The one line for a full disk anywhere in `e`'s chain (None: not a full disk)."""
  for x in _chain(e):
    text = str(x)
    if (isinstance(x, OSError) and x.errno in _FULL) or _FULL_TEXT.search(text):
      path = getattr(x, "filename", None) if isinstance(x, OSError) else None
      if not path:
        m = _QUOTED_PATH.search(text)
        path = m.group(1) if m else None
      where = f" writing {user_path(os.fspath(path))}" if path else ""
      return (f"error: disk full (No space left on device){where}; what was written "
              "before is intact: free some space and rerun")
  return None


def quiet_library_logs(ours: Sequence[str]) -> None:
  """Installs the record filter of the module docstring on the root handlers (once)."""
  ours = tuple(ours)

  def keep(record: logging.LogRecord) -> bool:
    if record.pathname.startswith(ours):
      return True
    if record.levelno < logging.WARNING:
      return False
    if record.levelno >= logging.ERROR and record.thread != threading.main_thread().ident:
      return False
    record.exc_info, record.exc_text, record.stack_info = None, None, None
    return True

  keep._rde_quiet = True  # type: ignore[attr-defined]
  for handler in logging.getLogger().handlers:
    if not any(getattr(f, "_rde_quiet", False) for f in handler.filters):
      handler.addFilter(keep)


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Warning)\b")
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")
_NOISE_FRAMES = ("asyncio/base_events.py", "self._check_closed()",
                 "raise RuntimeError('Event loop is closed')")


class StderrTracebackFilter(io.TextIOBase):
  """Wraps sys.stderr; drops the tracebacks whose exception line starts with `drop`.

  Output passes line by line (Python prints an exception line in pieces; a partial line with
  a carriage return, a progress bar, passes at once). Traceback lines are held until their
  exception line. Several threads print such tracebacks
  at once, interleaved line by line, so: other lines (our `error:` line, log lines) pass at
  once while a traceback is held; after a dropped traceback, orphaned lines of its known frames
  are dropped too; every other traceback is printed whole."""

  def __init__(self, stream: io.TextIOBase, drop: str = "RuntimeError: Event loop is closed"):
    self._stream, self._drop = stream, drop
    self._lock = threading.Lock()
    self._pending = ""  # text after the last newline
    self._held: list[str] = []  # traceback lines held back

  def _line(self, line: str) -> None:
    text = line.rstrip("\n")
    if text.startswith("Traceback (most recent call last):") or (
        self._held and (text.startswith((" ",) + _CHAINED) or not text)):
      self._held.append(line)
    elif text.startswith(self._drop):
      self._held = []
    elif self._held and _EXCEPTION_LINE.match(text):
      self._stream.write("".join(self._held) + line)
      self._held = []
    elif text.startswith(" ") and any(f in text for f in _NOISE_FRAMES):
      pass  # an interleaved, already dropped traceback's frame
    else:
      self._stream.write(line)

  def write(self, text: str) -> int:
    with self._lock:
      self._pending += text
      *lines, self._pending = self._pending.split("\n")
      for line in lines:
        self._line(line + "\n")
      if "\r" in self._pending:  # a progress bar redraws without newlines: now
        self._stream.write(self._pending)
        self._pending = ""
    return len(text)

  def flush(self) -> None:
    """Flushes what passed (a held traceback waits for its exception line)."""
    with self._lock:
      self._stream.flush()

  def drain(self) -> None:
    """At exit: what is still held, unless it is only frames of the dropped kind."""
    with self._lock:
      rest = self._held + ([self._pending] if self._pending else [])
      if any(line.strip() and not line.startswith("Traceback") and
             not any(f in line for f in _NOISE_FRAMES) for line in rest):
        self._stream.write("".join(rest))
      self._held, self._pending = [], ""
      self._stream.flush()

  def fileno(self) -> int:
    return self._stream.fileno()

  def isatty(self) -> bool:
    return self._stream.isatty()

  @property
  def encoding(self) -> str:  # type: ignore[override]
    return getattr(self._stream, "encoding", "utf-8")


def filter_stderr() -> None:
  """Installs `StderrTracebackFilter` on sys.stderr (once)."""
  if not isinstance(sys.stderr, StderrTracebackFilter):
    import atexit
    sys.stderr = StderrTracebackFilter(sys.stderr)
    atexit.register(sys.stderr.drain)
