"""Deployable artifacts of the whole video pipeline: the per-frame functions (memory included)
as StableHLO (`jax.export`) and ONNX (jax2onnx), and a runtime that needs no JAX.

    python -m rde_jax.export --checkpoint M --out DIR --height H --width W --objects K
    from rde_jax.export import runtime; probs = runtime.segment(DIR, frames, first_mask)

Modules: `functions` (the exported functions, traced from the Engine's step), `stablehlo`,
`onnx_export` + `onnx_plugins` (the converters), `build` (writes DIR), `manifest` (reads and
checks DIR), `runtime` (runs DIR). Nothing is imported here, so `import rde_jax.export.runtime`
stays free of JAX.
"""
