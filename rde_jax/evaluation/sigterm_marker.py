"""SIGTERM (a TPU VM's preemption notice) during evaluation: stop cleanly, resume later.

The handler only sets a flag. The per-video writer checks it before each frame and stops the
video with `Preempted`: every file already written is whole (atomic writes), the interrupted
video has no record and is recomputed on the next run. With several processes the one that got
the signal leaves a marker `<workdir>/preempted/<process>` in the shared workdir; the others
look for it (at most every `poll_seconds`) and stop too, and `multihost.any_process` makes every
process agree before any of them exits.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from absl import logging

from rde_jax.fileio import atomic


class Preempted(RuntimeError):
  """Evaluation stopped on SIGTERM; rerun the same command to resume."""


class Watch:
  """`requested()`: was this process, or (multihost) any other, told to stop?"""

  def __init__(self, workdir: Any, process: int, shared: bool, poll_seconds: float = 2.0):
    self.markers = workdir / "preempted"
    self.process, self.shared, self.poll_seconds = process, shared, poll_seconds
    self.local = False
    self._seen, self._marked, self._last_poll = False, False, 0.0
    self._lock = threading.Lock()
    self._installed, self._previous = False, None
    if threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._handle)
      self._installed = True

  def clear(self) -> None:
    """Removes markers of an earlier preempted run (process 0, before work is shared out)."""
    if self.markers.exists():
      for p in self.markers.iterdir():
        p.unlink()

  def _handle(self, signum: int, frame: Any) -> None:
    self.local = True

  def requested(self) -> bool:
    with self._lock:
      if self.local and not self._seen:
        self._seen = True
        logging.warning("SIGTERM received: stopping after the current frame (rerun to resume)")
      if self.local and self.shared and not self._marked:
        self._marked = True
        atomic.write_bytes(self.markers / str(self.process), b"")
      if self.local or not self.shared:
        return self.local
      now = time.monotonic()
      if now - self._last_poll >= self.poll_seconds:
        self._last_poll = now
        if self.markers.exists() and any(True for _ in self.markers.iterdir()):
          logging.warning("another process was preempted: stopping")
          self.local = self._seen = True
      return self.local

  def restore(self) -> None:
    if self._installed:  # None: a handler set outside Python; the default is the nearest
      signal.signal(signal.SIGTERM, signal.SIG_DFL if self._previous is None else self._previous)
      self._installed = False
