"""The exported per-frame functions: pure functions of (frame, flat state), traced from the
Engine's own step (`Engine._interact`, `Engine._step`).

State, a flat list in this order (B = 1 bank shared by the K objects, as the official DAVIS
`InferenceCore`; S slots [RDE, last, first] (stm: S memory frames); h, w = padded size / 16):

    keys    (1,S,h,w,Ck)  compute dtype   memory keys
    values  (K,S,h,w,Cv)  compute dtype   memory values, one per object
    filled  (1,)          int32           RDE modes: 0 before the first memory frame, then 1;
                                          stm: slots in use
    active  (1,)          bool            the bank has been annotated

Functions (each also takes the variables first: closed over as constants for ONNX, a flat list
of arrays for StableHLO; frames at the exported size; normalisation, the official padding to
multiples of 16 and the un-padding run inside):

    init(frame (H,W,3) uint8, labels (H,W) uint8 ids 0..K) -> probs (K+1,H,W) float32, *state
    step(frame, *state) -> probs, *state               an ordinary frame (memory unchanged)
    step_and_memorize(frame, *state) -> probs, *state  a memory frame (the SAM update / append)

probs: channel 0 background, 1..K the objects (soft aggregation). Two functions rather than one
with a flag: a `lax.cond` has no faithful ONNX form (jax2onnx's `If` lowering fails in
onnxruntime), and each exported function runs exactly the work of its frame.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from rde_jax.inference import geometry
from rde_jax.inference.engine import Engine
from rde_jax.inference.state import MemoryState

STATE_NAMES = ("keys", "values", "filled", "active")
FUNCTION_NAMES = ("init", "step", "step_and_memorize")
STATE_DOC = {
    "keys": "memory keys (banks, slots, h, w, key_dim); slots [RDE, last, first] (stm: frames)",
    "values": "memory values (objects, slots, h, w, value_dim)",
    "filled": "RDE modes: 0 before the first memory frame, then 1; stm: slots in use",
    "active": "the bank has been annotated",
}


@dataclasses.dataclass(frozen=True)
class TensorSpec:
  """One input or output: name, shape, dtype name ('uint8', 'float32', ...), what it holds."""
  name: str
  shape: tuple[int, ...]
  dtype: str
  doc: str = ""

  def to_dict(self) -> dict[str, Any]:
    return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "doc": self.doc}

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "TensorSpec":
    return cls(str(d["name"]), tuple(int(s) for s in d["shape"]), str(d["dtype"]),
               str(d.get("doc", "")))

  def abstract(self) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(self.shape, np.dtype(self.dtype))


@dataclasses.dataclass(frozen=True)
class Function:
  """fn(variables, *inputs) -> outputs, pure, and the specs of its inputs and outputs."""
  name: str
  fn: Callable[..., tuple[Any, ...]]
  inputs: tuple[TensorSpec, ...]
  outputs: tuple[TensorSpec, ...]
  doc: str


def _specs(tree: MemoryState, suffix: str = "") -> tuple[TensorSpec, ...]:
  return tuple(TensorSpec(n + suffix, tuple(np.shape(x)), np.dtype(x.dtype).name, STATE_DOC[n])
               for n, x in zip(STATE_NAMES, _flat(tree)))


def _flat(state: MemoryState) -> tuple[Any, ...]:
  return tuple(getattr(state, n) for n in STATE_NAMES)


def _unflat(arrays: tuple[Any, ...]) -> MemoryState:
  return MemoryState(**dict(zip(STATE_NAMES, arrays)))


def build(engine: Engine, size: tuple[int, int], num_objects: int, *,
          slots: int | None = None) -> dict[str, Function]:
  """The exported functions of `engine` for frames of `size` (H,W) and `num_objects` K.

  slots: memory capacity of the stm mode (None: the Engine's default); the RDE modes have 3.
  """
  geo = geometry.Geometry.make(size)
  k = num_objects
  empty = engine.host_state(k, geo.padded, slots=slots)
  h, w = geo.size

  def prepare(frame: jnp.ndarray) -> jnp.ndarray:
    return geometry.prepare_frames(frame[None], None, None, pads=geo.pads)[0]

  def finish(prob: jnp.ndarray) -> jnp.ndarray:
    return geometry.finish_probs(prob[None], None, None, crop=geo.crop, labels=False)[0]

  def init(variables: Any, frame: jnp.ndarray, labels: jnp.ndarray) -> tuple[Any, ...]:
    ids = jnp.arange(1, k + 1, dtype=jnp.int32).reshape(k, 1, 1)
    onehot = (labels.astype(jnp.int32)[None] == ids).astype(jnp.float32)
    onehot = jnp.pad(onehot, ((0, 0),) + geo.pads)  # = Geometry.onehot, traced
    state, prob = engine._interact(variables, empty, prepare(frame), jnp.zeros_like(onehot),
                                   onehot, jnp.ones((k,), bool))
    return (finish(prob),) + _flat(state)

  def stepper(memorize: bool) -> Callable[..., tuple[Any, ...]]:
    def step(variables: Any, frame: jnp.ndarray, *state: jnp.ndarray) -> tuple[Any, ...]:
      new, prob = engine._step(variables, _unflat(state), prepare(frame), memorize)
      return (finish(prob),) + _flat(new)
    return step

  frame = TensorSpec("frame", (h, w, 3), "uint8", "RGB frame at the exported size")
  labels = TensorSpec("labels", (h, w), "uint8", "object ids of the annotated frame, 0..K")
  probs = TensorSpec("probs", (k + 1, h, w), "float32",
                     "probabilities, channel 0 background, 1..K the objects")
  state_in, state_out = _specs(empty), _specs(empty, "_next")
  return {
      "init": Function("init", init, (frame, labels), (probs,) + state_out,
                       "the annotated first frame: opens the memory"),
      "step": Function("step", stepper(False), (frame,) + state_in, (probs,) + state_out,
                       "an ordinary frame: read the memory, state unchanged"),
      "step_and_memorize": Function(
          "step_and_memorize", stepper(True), (frame,) + state_in, (probs,) + state_out,
          "a memory frame: read, then store the frame (SAM update of the RDE / append)"),
  }


def with_constants(function: Function, variables: Any) -> Callable[..., tuple[Any, ...]]:
  """fn(*inputs) with the variables (numpy) closed over as constants."""
  variables = jax.tree_util.tree_map(np.asarray, variables)
  return lambda *inputs: function.fn(variables, *inputs)


def flat_weights(variables: Any) -> tuple[list[str], list[np.ndarray], Any]:
  """The variables as (names, numpy arrays, treedef); names are the pytree paths
  ('params/key_encoder/conv1/kernel') in the flattening order."""
  paths, treedef = jax.tree_util.tree_flatten_with_path(variables)
  names = ["/".join(str(getattr(k, "key", k)) for k in path) for path, _ in paths]
  return names, [np.asarray(x) for _, x in paths], treedef


def with_flat_weights(function: Function, treedef: Any) -> Callable[..., tuple[Any, ...]]:
  """fn(*weights, *inputs): the variables as the flat arrays of `flat_weights`."""
  n = treedef.num_leaves

  def fn(*args: Any) -> tuple[Any, ...]:
    return function.fn(jax.tree_util.tree_unflatten(treedef, args[:n]), *args[n:])
  return fn


def closed_jaxpr(fn: Callable[..., Any], inputs: tuple[TensorSpec, ...],
                 conv: str) -> Any:
  """fn as one jaxpr of lax primitives (closed-over arrays as constants), traced once. `conv`
  (the convolution algorithm) is already a field of the engine's network: recorded only."""
  del conv
  return jax.make_jaxpr(fn)(*[s.abstract() for s in inputs])
