"""Timing of a propagation run: frames produced and seconds spent, by kind."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Iterator


@dataclasses.dataclass
class RunStats:
  """What `propagate` measured: frames produced and seconds spent, by kind.

  `model_seconds` is the paper's FPS time: inside propagation, frame reading, the consumer's
  work between frames and compilation excluded (device work is included: outputs are fetched).
  """
  frames: int = 0
  model_seconds: float = 0.0
  read_seconds: float = 0.0
  compile_seconds: float = 0.0

  @property
  def fps(self) -> float:
    return self.frames / self.model_seconds if self.model_seconds > 0 else float("nan")

  def add(self, other: "RunStats") -> None:
    for f in dataclasses.fields(self):
      setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class Clock:
  """Splits a generator's busy time into reading, compiling and the rest (model time)."""

  def __init__(self, stats: RunStats, prop: Any):
    self.stats, self.prop = stats, prop
    self.resume()

  def resume(self) -> None:
    self.t0, self.read_s, self.c0 = time.perf_counter(), 0.0, self.prop.compile_seconds

  def pause(self, frames: int = 0) -> None:
    compiled = self.prop.compile_seconds - self.c0
    s = self.stats
    s.model_seconds += time.perf_counter() - self.t0 - self.read_s - compiled
    s.read_seconds += self.read_s
    s.compile_seconds += compiled
    s.frames += frames

  def read(self, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    try:
      return fn()
    finally:
      self.read_s += time.perf_counter() - start

  def fetch(self, it: Iterator[Any]) -> Any:
    return self.read(lambda: next(it, None))
