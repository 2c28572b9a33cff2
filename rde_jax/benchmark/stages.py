"""The parts of one frame as separately compiled JAX calls, for per-stage timing.

    for s in stages.compile_stages(engine, variables, first, frame, onehot):
      s.call()                                   # one run of that stage on real inputs

Stages (names used by the benchmark tables): encode_key (key encoder + key_proj + key_comp),
read (affinity, top-k, read-out over the full memory [RDE, last, first, first]), decode (all
objects), aggregate, value (value encoder, all objects), sam (the RDE update of key and values);
with `frames=True` also plain_frame and memory_frame: the whole per-frame step
(`Engine.scan` on one frame) without and with the RDE update.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp

from rde_jax.benchmark import roofline
from rde_jax.inference import Engine
from rde_jax.model import memory_read


@dataclasses.dataclass
class Stage:
  """One compiled stage with its inputs; `call()` runs it once and waits for the result."""
  name: str
  compiled: Any
  args: tuple
  compile_s: float
  flops: float | None

  def call(self) -> Any:
    return jax.block_until_ready(self.compiled(*self.args))


def _compile(name: str, fn: Callable, *args: Any) -> tuple[Stage, Any]:
  t0 = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  stage = Stage(name, compiled, args, round(time.perf_counter() - t0, 3),
                roofline.flops_of(compiled))
  return stage, stage.call()


def compile_stages(engine: Engine, variables: Any, first: jnp.ndarray, frame: jnp.ndarray,
                   onehot: jnp.ndarray, frames: bool = False) -> list[Stage]:
  """Compiles each stage of `frame` on the inputs the previous one produced, the memory full
  (the annotated `first` frame stored, every slot marked filled).

  first/frame (Hp,Wp,3) normalised, onehot (K,Hp,Wp).
  """
  k = onehot.shape[0]
  state, _ = engine.call("interact", variables, engine.empty_state(k, first.shape[:2]), first,
                         jnp.zeros_like(onehot), onehot, jnp.ones((k,), bool))
  state = state.replace(filled=jnp.ones_like(state.filled))
  enc, feats = _compile("encode_key", engine.encode_key, variables, frame)
  rd, readout = _compile("read", engine.read, state, feats["k16"])
  dec, p = _compile("decode", engine.decode, variables, readout, feats)
  agg, probs = _compile("aggregate", lambda x: memory_read.soft_aggregate(x)[1], p)
  val, value = _compile("value", engine.value, variables, frame, feats["f16"], probs[1:])
  key2 = jnp.stack([state.keys[:, 0], feats["k16"].astype(state.keys.dtype)], 1)
  val2 = jnp.stack([state.values[:, 0], value.astype(state.values.dtype)], 1)
  sam, _ = _compile("sam", engine.compress, variables, key2, val2)
  out = [enc, rd, dec, agg, val, sam]
  if frames:
    # XLA's cost analysis counts both branches of the step's lax.cond: a frame's FLOPs are
    # those of the stages it runs.
    plain = sum(s.flops or 0.0 for s in (enc, rd, dec, agg))
    for name, add, flops in (("plain_frame", False, plain),
                             ("memory_frame", True, plain + (val.flops or 0) + (sam.flops or 0))):
      stage = _compile(name, engine.scan, variables, state, frame[None],
                       jnp.asarray([add]))[0]
      stage.flops = flops or None
      out.append(stage)
  return out
