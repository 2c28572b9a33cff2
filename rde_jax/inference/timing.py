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
  chunks: list["ChunkRecord"] | None = None  # a list: every device call is appended to it

  @property
  def fps(self) -> float:
    return self.frames / self.model_seconds if self.model_seconds > 0 else float("nan")

  def add(self, other: "RunStats") -> None:
    for name in ("frames", "model_seconds", "read_seconds", "compile_seconds"):
      setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclasses.dataclass(frozen=True)
class ChunkRecord:
  """One device call of a propagation (the annotated frame, or a chunk of frames from `start`):
  which of its frames were memory frames, its model and compile seconds, and the memory state
  after it: capacity (slots), slots listed in the next read (bank 0), bytes."""
  start: int
  memory_frames: tuple[bool, ...]
  seconds: float
  compile_seconds: float
  capacity: int
  listed_slots: int
  state_bytes: int


class Clock:
  """Splits a generator's busy time into reading, compiling and the rest (model time)."""

  def __init__(self, stats: RunStats, engine: Any):
    self.stats, self.engine = stats, engine
    self.resume()

  def resume(self) -> None:
    self.t0, self.read_s, self.c0 = time.perf_counter(), 0.0, self.engine.compile_seconds

  def pause(self, frames: int = 0) -> tuple[float, float]:
    """Books the time since `resume`; returns its (model, compile) seconds."""
    compiled = self.engine.compile_seconds - self.c0
    s = self.stats
    model = time.perf_counter() - self.t0 - self.read_s - compiled
    s.model_seconds += model
    s.read_seconds += self.read_s
    s.compile_seconds += compiled
    s.frames += frames
    return model, compiled

  def read(self, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    try:
      return fn()
    finally:
      self.read_s += time.perf_counter() - start

  def fetch(self, it: Iterator[Any]) -> Any:
    return self.read(lambda: next(it, None))
