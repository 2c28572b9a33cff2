"""jax2onnx lowerings that the converter lacks for our network (imported by `onnx_export`).

`reduce_window_max` over an NHWC tensor (the ResNet stem's 3x3/2 max pool, official
model/modules.py KeyEncoder: `self.maxpool`): jax2onnx 0.17 lowers every window dimension as
a spatial one, so a (1,3,3,1) window becomes a 4-D MaxPool that onnxruntime refuses
("Unsupported pooling size"). This lowering moves the dimensions the window leaves alone
(size 1, stride 1, no padding) into the batch axis and pools only the others:

    x (N,H,W,C) -> Transpose (N,C,H,W) -> Reshape (N*C,1,H,W) -> MaxPool 3x3/2
      -> Reshape (N,C,h,w) -> Transpose (N,h,w,C)

Registering replaces jax2onnx's own plugin for the primitive (its registry keeps the last
registration), so `register()` first lets jax2onnx import all of its plugins.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import jax
import numpy as np

_registered = False


def _plugin_api() -> Any:
  """jax2onnx's plugin modules, imported quietly (plugins for absent libraries log warnings)."""
  logger = logging.getLogger("jax2onnx.plugins.plugin_system")
  level = logger.level
  logger.setLevel(logging.ERROR)
  try:
    from jax2onnx.plugins import plugin_system
    plugin_system.import_all_plugins()
  finally:
    logger.setLevel(level)
  return plugin_system


def register() -> None:
  """Installs our lowerings into jax2onnx (idempotent)."""
  global _registered
  if _registered:
    return
  plugin_system = _plugin_api()
  import onnx_ir as ir
  from jax2onnx.converter.ir_builder import _dtype_to_ir
  from jax2onnx.plugins._ir_shapes import _ensure_value_metadata, _stamp_type_and_shape
  from jax2onnx.plugins.jax.lax._index_utils import _const_i64

  def stamp(ctx: Any, value: Any, dtype: Any, shape: Sequence[int]) -> Any:
    value.type = ir.TensorType(dtype)
    _stamp_type_and_shape(value, tuple(int(s) for s in shape))
    _ensure_value_metadata(ctx, value)
    return value

  @plugin_system.register_primitive(
      jaxpr_primitive=jax.lax.reduce_window_max_p.name, context="primitives.lax",
      component="reduce_window_max", since="rde_jax",
      onnx=[{"component": "MaxPool", "doc": "https://onnx.ai/onnx/operators/onnx__MaxPool.html"}])
  class ReduceWindowMaxPooled(plugin_system.PrimitiveLeafPlugin):
    """reduce_window_max with untouched (batch/channel) dimensions -> one 2-D/3-D MaxPool."""

    def lower(self, ctx: Any, eqn: Any) -> None:
      p = eqn.params
      window, strides = tuple(p["window_dimensions"]), tuple(p["window_strides"])
      pads = tuple(tuple(int(v) for v in pair) for pair in p["padding"])
      if any(d != 1 for d in tuple(p["base_dilation"])):
        raise NotImplementedError("reduce_window_max with base_dilation is not supported")
      in_var, out_var = eqn.invars[0], eqn.outvars[0]
      in_shape, out_shape = tuple(in_var.aval.shape), tuple(out_var.aval.shape)
      dtype = _dtype_to_ir(np.dtype(in_var.aval.dtype), ctx.builder.enable_double_precision)
      kept = [i for i in range(len(window))
              if window[i] == 1 and strides[i] == 1 and pads[i] == (0, 0)]
      pooled = [i for i in range(len(window)) if i not in kept]
      if not 1 <= len(pooled) <= 3:
        raise NotImplementedError(f"reduce_window_max over {len(pooled)} dimensions")
      perm = kept + pooled
      batch = int(np.prod([in_shape[i] for i in kept]))
      x = ctx.get_value_for_var(in_var, name_hint=ctx.fresh_name("rwm_in"))
      x = stamp(ctx, ctx.builder.Transpose(x, perm=perm, _outputs=[ctx.fresh_name("rwm_t")]),
                dtype, [in_shape[i] for i in perm])
      shape = [batch, 1] + [in_shape[i] for i in pooled]
      x = stamp(ctx, ctx.builder.Reshape(x, _const_i64(ctx, shape, "rwm_shape"),
                                         _outputs=[ctx.fresh_name("rwm_r")]), dtype, shape)
      attrs: dict[str, Any] = {"kernel_shape": [window[i] for i in pooled],
                               "strides": [strides[i] for i in pooled],
                               "pads": [pads[i][0] for i in pooled] + [pads[i][1] for i in pooled]}
      dil = [int(p["window_dilation"][i]) for i in pooled]
      if any(d != 1 for d in dil):
        attrs["dilations"] = dil
      shape = [batch, 1] + [out_shape[i] for i in pooled]
      x = stamp(ctx, ctx.builder.MaxPool(x, _outputs=[ctx.fresh_name("rwm_pool")], **attrs),
                dtype, shape)
      shape = [out_shape[i] for i in perm]
      x = stamp(ctx, ctx.builder.Reshape(x, _const_i64(ctx, shape, "rwm_back"),
                                         _outputs=[ctx.fresh_name("rwm_r")]), dtype, shape)
      inverse = [int(i) for i in np.argsort(perm)]
      out = ctx.builder.Transpose(x, perm=inverse, _outputs=[ctx.fresh_name("rwm_out")])
      ctx.bind_value_for_var(out_var, stamp(ctx, out, dtype, out_shape))

  _registered = True
