"""ONNX artifacts through jax2onnx (the converter of the JAX ecosystem).

jax2onnx converts a function by tracing it with its own shims for Flax modules (`nn.Conv`,
`nn.max_pool`, ...), which reinterpret our layers (its `max_pool` shim does not even accept
Flax's call). So the function is first traced by JAX to one jaxpr of lax primitives, exactly
what `jax.export` serialises, and jax2onnx converts that jaxpr (`jax.core.eval_jaxpr`), with our
lowering of the one primitive it gets wrong (`onnx_plugins`).

Initializers of at least `SHARED_MIN_BYTES` are moved to onnx/weights.bin (ONNX external data),
each distinct tensor once, so the three functions share one copy of the weights.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jax
import numpy as np

from rde_jax.export import functions, onnx_plugins

OPSET = 23  # the newest opset both jax2onnx 0.17 and onnxruntime >= 1.24 run
WEIGHTS = "weights.bin"
SHARED_MIN_BYTES = 1024
ALIGN = 4096  # offsets of the external tensors (page-aligned: onnxruntime may map them)


def converter_version() -> str:
  from importlib import metadata
  return f"jax2onnx {metadata.version('jax2onnx')}"


def convert(function: functions.Function, variables: Any, conv: str, opset: int = OPSET) -> Any:
  """`function` with the variables as constants -> onnx.ModelProto (weights inside)."""
  onnx_plugins.register()
  from jax2onnx import to_onnx
  jaxpr = functions.closed_jaxpr(functions.with_constants(function, variables), function.inputs,
                                 conv)
  flat = lambda *a: jax.core.eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *a)
  model = to_onnx(flat, [s.abstract() for s in function.inputs], model_name=function.name,
                  opset=opset, input_names=[s.name for s in function.inputs])
  _name_outputs(model, [s.name for s in function.outputs])
  _match_gemm_bias_types(model)
  return model


def _match_gemm_bias_types(model: Any) -> None:
  """jax2onnx 0.17 lowers dot_general to Gemm with a float32 bias initializer (beta 0) even for
  float16/bfloat16 operands, which onnxruntime refuses ("Type parameter (T) of Optype (Gemm)
  bound to different types"): such a bias is cast to the operands' type."""
  import onnx
  from onnx import numpy_helper
  inferred = onnx.shape_inference.infer_shapes(model)
  types = {v.name: v.type.tensor_type.elem_type
           for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
  types.update({t.name: t.data_type for t in model.graph.initializer})
  inits = {t.name: t for t in model.graph.initializer}
  for node in model.graph.node:
    if node.op_type != "Gemm" or len(node.input) < 3 or node.input[2] not in inits:
      continue
    want = types.get(node.input[0]) or types.get(node.input[1])
    bias = inits[node.input[2]]
    if want and bias.data_type != want:
      dtype = onnx.helper.tensor_dtype_to_np_dtype(want)
      bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias).astype(dtype), bias.name))


def _name_outputs(model: Any, names: list[str]) -> None:
  """Names the graph outputs through Identity nodes. (jax2onnx's `output_names` refuses an
  output that is an input passed through, as the state is in `step`; onnxruntime removes the
  Identity nodes again.)"""
  import onnx
  for out, name in zip(model.graph.output, names):
    model.graph.node.append(onnx.helper.make_node("Identity", [out.name], [name],
                                                  name=f"output_{name}"))
    out.name = name


class SharedWeights:
  """Writes the large initializers of several models once into one external-data file."""

  def __init__(self, folder: Path):
    self.path = folder / WEIGHTS
    self.offsets: dict[str, tuple[int, int]] = {}
    self.size = 0
    self.path.write_bytes(b"")

  def externalize(self, model: Any) -> None:
    """Points the model's initializers >= SHARED_MIN_BYTES at weights.bin (appending new ones)."""
    import onnx
    from onnx import numpy_helper
    for t in model.graph.initializer:
      data = np.ascontiguousarray(numpy_helper.to_array(t)).tobytes()
      if len(data) < SHARED_MIN_BYTES:
        continue
      key = f"{t.data_type}:{tuple(t.dims)}:{hashlib.sha256(data).hexdigest()}"
      if key not in self.offsets:
        start = -(-self.size // ALIGN) * ALIGN
        with open(self.path, "ab") as f:
          f.write(b"\0" * (start - self.size))
          f.write(data)
        self.offsets[key] = (start, len(data))
        self.size = start + len(data)
      offset, length = self.offsets[key]
      moved = onnx.TensorProto(name=t.name, data_type=t.data_type, dims=list(t.dims),
                               data_location=onnx.TensorProto.EXTERNAL)
      for key, value in (("location", WEIGHTS), ("offset", offset), ("length", length)):
        moved.external_data.add(key=key, value=str(value))
      t.CopyFrom(moved)


def save(function: functions.Function, variables: Any, conv: str, folder: Path,
         weights: SharedWeights, opset: int = OPSET) -> dict[str, Any]:
  """Converts `function` to folder/<name>.onnx (weights in `weights`) -> its manifest entry."""
  model = convert(function, variables, conv, opset)
  weights.externalize(model)
  path = folder / f"{function.name}.onnx"
  path.write_bytes(model.SerializeToString())
  return {"file": f"onnx/{path.name}", "opset": opset,
          "nodes": len(model.graph.node)}
