"""SIGTERM (preemption) during training: every process stops after the same step.

One process: a Python handler sets a flag the loop reads after each step. Several processes
(`train.py --multihost`): the notice reaches one host, so the flag cannot be local. JAX's
preemption service (started by `jax.distributed.initialize`; it catches SIGTERM itself, so no
Python handler is installed then) passes it to every process, and
`multihost_utils.reached_preemption_sync_point(step)` turns True on all of them at the same
step: they save that step's checkpoint together and stop. Without the service
(`jax_enable_preemption_service=False`) the flags are combined each step (`multihost.any_process`,
one tiny collective).
"""

from __future__ import annotations

import signal
from typing import Any

import jax
from absl import logging

from rde_jax import multihost


class StopCheck:
  """`check(step)` after each step: True (on every process) when the run must checkpoint and
  stop. `restore()` gives back the previous SIGTERM handler."""

  def __init__(self) -> None:
    self.requested = False
    self._previous: Any = None
    self._service = False
    if multihost.is_multihost():
      from jax._src import distributed  # the documented service behind multihost_utils
      self._service = distributed.global_state.preemption_sync_manager is not None
    if not self._service:
      self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum: int, frame: Any) -> None:
    logging.warning("SIGTERM received: checkpointing and stopping")
    self.requested = True

  def check(self, step: int) -> bool:
    if self._service:
      from jax.experimental import multihost_utils
      stop = multihost_utils.reached_preemption_sync_point(step)
      if stop:
        logging.warning("preemption notice: every process checkpoints step %d and stops", step)
      return stop
    if multihost.is_multihost():
      return multihost.any_process(self.requested)
    return self.requested

  def restore(self) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
      self._previous = None
