"""Several JAX processes (hosts of a TPU pod slice, nodes of a GPU cluster) on one job.

    multihost.initialize()                        # jax.distributed.initialize (auto-detected
                                                  # on Cloud TPU, SLURM, Open MPI, ...)
    multihost.initialize_from_flags(FLAGS)        # the same, from cli.define_multihost_flags
    shares = multihost.assign(sizes, jax.process_count())   # balanced, the same on every host
    multihost.barrier("eval-done")                # every process waits for all
    stop = multihost.any_process(local_flag)      # the same answer on every process
    everyone = multihost.allgather_json(results)  # [process 0's, process 1's, ...]

The barrier and the agreements are collectives over every device of the job
(`jax.experimental.multihost_utils`); on CPU they need the gloo collectives, which
`initialize` selects. With one process they return at once (no collective runs).
"""

from __future__ import annotations

import heapq
import json
from typing import Any, Sequence

import jax
import numpy as np


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, heartbeat_seconds: int | None = None) -> None:
  """`jax.distributed.initialize` (None: auto-detected, or JAX_COORDINATOR_ADDRESS).

  `heartbeat_seconds`: a process silent that long (killed, its host gone) is declared dead by
  JAX's coordination service, which then ends every process of the job (None: JAX's 100 s).
  """
  if jax.config.jax_cpu_collectives_implementation is None:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  timeouts = {} if heartbeat_seconds is None else {"heartbeat_timeout_seconds": heartbeat_seconds}
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes, process_id=process_id, **timeouts)


def initialize_from_flags(fv: Any) -> None:
  """`initialize` with the flags of `rde_jax.cli.define_multihost_flags` (train.py, eval.py).

  The flags are checked first, and a failure of `jax.distributed.initialize` (no coordinator
  found, ...) becomes one UserError line naming the flags."""
  from rde_jax import validate
  validate.multihost_flags(fv.coordinator_address, fv.num_processes, fv.process_id)
  try:
    initialize(fv.coordinator_address, fv.num_processes, fv.process_id,
               heartbeat_seconds=fv.multihost_heartbeat_s)
  except (ValueError, RuntimeError, TypeError) as e:  # jax's own checks and connection errors
    from rde_jax.errors import UserError
    text = " ".join(str(e).split())
    raise UserError(f"--multihost: jax.distributed.initialize failed: {text[:300]}",
                    hint="pass --coordinator_address=HOST:PORT --num_processes=N "
                         "--process_id=I, or run where JAX detects the cluster (Cloud TPU, "
                         "SLURM, Open MPI); docs/pod.md") from e


def is_multihost() -> bool:
  return jax.process_count() > 1


def assign(sizes: Sequence[int], num_shares: int) -> list[list[int]]:
  """Splits items (by index) into `num_shares` lists balanced by `sizes` (frames per video).

  Longest first, each to the share with the least total so far (ties: the lower share index;
  equal sizes: the lower item index), so every process computes the same assignment. Within a
  share the items stay longest first. One share: every index in the given order.
  """
  if num_shares <= 1:
    return [list(range(len(sizes)))]
  order = sorted(range(len(sizes)), key=lambda i: (-int(sizes[i]), i))
  heap = [(0, s) for s in range(num_shares)]
  shares: list[list[int]] = [[] for _ in range(num_shares)]
  for i in order:
    total, s = heapq.heappop(heap)
    shares[s].append(i)
    heapq.heappush(heap, (total + int(sizes[i]), s))
  return shares


def barrier(name: str) -> None:
  """Every process waits here until all arrive (no-op with one process)."""
  if is_multihost():
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices(name)


def any_process(flag: bool) -> bool:
  """True on every process if `flag` is True on any (also a barrier)."""
  if not is_multihost():
    return bool(flag)
  from jax.experimental import multihost_utils
  flags = multihost_utils.process_allgather(np.asarray([int(bool(flag))], np.int32), tiled=True)
  return bool(np.asarray(flags).any())


def broadcast_flags(flags: Sequence[bool]) -> list[bool]:
  """Process 0's `flags` on every process (each process passes a list of the same length)."""
  if not is_multihost() or not flags:
    return [bool(f) for f in flags]
  from jax.experimental import multihost_utils
  out = multihost_utils.broadcast_one_to_all(np.asarray(flags, np.int32).reshape(-1))
  return [bool(x) for x in np.asarray(out)]


def allgather_json(obj: Any) -> list[Any]:
  """Every process's `obj` (JSON-able; numpy arrays allowed and restored bit-exactly), in process
  order, on every process. Sent as UTF-8 bytes padded to the longest process's."""
  text = json.dumps(obj, default=_encode_array, allow_nan=True)
  if not is_multihost():
    return [json.loads(text, object_hook=_decode_array)]
  from jax.experimental import multihost_utils
  data = np.frombuffer(text.encode("utf-8"), np.uint8)
  sizes = np.asarray(multihost_utils.process_allgather(np.asarray([data.size], np.int32)))
  padded = np.zeros(int(sizes.max()), np.uint8)
  padded[:data.size] = data
  every = np.asarray(multihost_utils.process_allgather(padded))  # (processes, longest)
  return [json.loads(bytes(row[:int(n)]).decode("utf-8"), object_hook=_decode_array)
          for row, n in zip(every, sizes.reshape(-1))]


def _encode_array(x: Any) -> Any:
  if isinstance(x, np.ndarray):
    return {"__ndarray__": x.tolist(), "dtype": str(x.dtype), "shape": list(x.shape)}
  if isinstance(x, (np.integer, np.floating)):
    return x.item()
  raise TypeError(f"not JSON serialisable: {type(x)}")


def _decode_array(d: dict) -> Any:
  if "__ndarray__" in d:
    return np.asarray(d["__ndarray__"], d["dtype"]).reshape(d["shape"])
  return d
