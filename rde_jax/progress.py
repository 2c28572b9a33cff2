"""A minimal text progress bar with rate and ETA, on stderr (no tqdm dependency).

    bar = Progress(total=120, desc="segment")
    for ...: bar.update()
    bar.close()
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _hms(seconds: float) -> str:
  s = int(round(seconds))
  return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
  """Redraws one line at most every `interval` seconds; `total` may be None or an estimate."""

  def __init__(self, total: int | None, desc: str = "", *, stream: TextIO | None = None,
               interval: float = 0.25, width: int = 24):
    self.total, self.desc, self.stream = total, desc, stream or sys.stderr
    self.interval, self.width = interval, width
    self.n, self.start, self._last = 0, time.perf_counter(), 0.0
    self.enabled = True

  def line(self) -> str:
    elapsed = time.perf_counter() - self.start
    rate = self.n / elapsed if elapsed > 0 else 0.0
    head = f"{self.desc}: " if self.desc else ""
    if self.total:
      frac = min(self.n / self.total, 1.0)
      bar = "#" * int(frac * self.width) + "-" * (self.width - int(frac * self.width))
      eta = _hms((self.total - self.n) / rate) if rate > 0 and self.n < self.total else "0:00"
      return (f"{head}[{bar}] {self.n}/{self.total} {frac:4.0%} {rate:.1f} fps "
              f"elapsed {_hms(elapsed)} ETA {eta}")
    return f"{head}{self.n} frames {rate:.1f} fps elapsed {_hms(elapsed)}"

  def update(self, n: int = 1) -> None:
    self.n += n
    now = time.perf_counter()
    if self.enabled and now - self._last >= self.interval:
      self._last = now
      self.stream.write("\r" + self.line())
      self.stream.flush()

  def close(self) -> None:
    if self.enabled:
      if self.total and self.n > self.total:
        self.total = self.n  # the count was an estimate
      self.stream.write("\r" + self.line() + "\n")
      self.stream.flush()
      self.enabled = False
