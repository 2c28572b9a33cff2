"""Writes an artifact directory: the per-frame functions of an Engine in StableHLO and ONNX, and
manifest.json (layout: `rde_jax.export.manifest`).

    export_artifact(variables, arch, InferenceSettings(top_k=40), "artifacts/rde_480p",
                    size=(480, 854), num_objects=2, formats=("stablehlo", "onnx"))

The directory is written as a whole (`atomic_dir.replacing`): a failed or killed export leaves
the earlier artifact, or none.
"""

from __future__ import annotations

import os
import platform as platform_lib
from typing import Any, Sequence

import jax
import jax.numpy as jnp

from rde_jax import __version__, validate
from rde_jax.errors import UserError
from rde_jax.export import functions, manifest, stablehlo
from rde_jax.fileio import atomic, atomic_dir
from rde_jax.inference.engine import Engine
from rde_jax.inference.geometry import Geometry
from rde_jax.inference.settings import InferenceSettings
from rde_jax.model import architectures
from rde_jax.model.architectures import Arch
from rde_jax.model.imagenet import IMAGENET_MEAN, IMAGENET_STD

FORMATS = ("stablehlo", "onnx")
DEFAULT_PLATFORMS = ("cpu", "cuda", "tpu")
STM_SLOTS = 32  # memory frames an stm artifact holds (its state cannot grow)


def arch_name(arch: Arch) -> str:
  return next((n for n, a in (("official", architectures.OFFICIAL),
                              ("tiny", architectures.TINY)) if a == arch), "custom")


def check_request(prefix: str, *, size: Sequence[int], num_objects: int,
                  formats: Sequence[str], platforms: Sequence[str], stm_slots: int) -> None:
  """The export's own values (UserError naming `prefix`+field)."""
  if len(size) != 2:
    raise UserError(f"{prefix}height/{prefix}width: one frame size (H, W), got {size}")
  validate.integer(f"{prefix}height", size[0], minimum=1)
  validate.integer(f"{prefix}width", size[1], minimum=1)
  validate.integer(f"{prefix}objects", num_objects, minimum=1)
  if num_objects > 255:
    raise UserError(f"{prefix}objects must be <= 255 (uint8 ids), got {num_objects}")
  if not formats:
    raise UserError(f"{prefix}format: name at least one of {', '.join(FORMATS)}")
  for f in formats:
    validate.choice(f"{prefix}format", f, FORMATS)
  for p in platforms:
    validate.choice(f"{prefix}platforms", p, stablehlo.PLATFORMS)
  validate.integer(f"{prefix}stm_slots", stm_slots, minimum=1)


def export_artifact(variables: Any, arch: Arch, settings: InferenceSettings,
                    out: str | os.PathLike, *, size: tuple[int, int], num_objects: int,
                    formats: Sequence[str] = FORMATS,
                    platforms: Sequence[str] = DEFAULT_PLATFORMS, stm_slots: int = STM_SLOTS,
                    source: str | None = None, overwrite: bool = False,
                    prefix: str = "") -> dict[str, Any]:
  """Exports the model for frames of `size` (H,W) with `num_objects` objects -> the manifest.

  settings: top_k, memory_mode, dtype and conv_algorithm shape the functions ('auto' is
  'direct' here: the artifact is portable and other runtimes pick their own convolution
  algorithms); mem_every and include_last are recorded as the schedule the runtime follows.
  """
  size = tuple(size)
  formats = tuple(dict.fromkeys(formats))
  check_request(prefix, size=size, num_objects=num_objects, formats=formats,
                platforms=platforms, stm_slots=stm_slots)
  out = validate.output_dir(f"{prefix}out", out, overwrite=overwrite, marker=manifest.NAME,
                            what="an exported model")
  conv = "direct" if settings.conv_algorithm == "auto" else settings.conv_algorithm
  engine = Engine(variables, arch, settings.replace(conv_algorithm=conv))
  slots = stm_slots if engine.mode.grows else None
  fns = functions.build(engine, size, num_objects, slots=slots)
  geo = Geometry.make(size)
  with atomic_dir.replacing(out) as stage:
    entries: dict[str, Any] = {}
    if "stablehlo" in formats:
      (stage / "stablehlo").mkdir()
      names = stablehlo.save_weights(variables, stage / "stablehlo")
      entries["stablehlo"] = {
          "platforms": list(platforms), "jax_version": jax.__version__, "weights_file":
          f"stablehlo/{stablehlo.WEIGHTS}", "weights": names, "functions": {
              n: stablehlo.save(f, variables, conv, platforms, stage / "stablehlo")
              for n, f in fns.items()}}
    if "onnx" in formats:
      from rde_jax.export import onnx_export
      (stage / "onnx").mkdir()
      shared = onnx_export.SharedWeights(stage / "onnx")
      entries["onnx"] = {"converter": onnx_export.converter_version(),
                         "weights_file": f"onnx/{onnx_export.WEIGHTS}", "functions": {
                             n: onnx_export.save(f, variables, conv, stage / "onnx", shared)
                             for n, f in fns.items()}}
    m = describe(fns, arch, settings, geo, num_objects, conv, entries,
                 engine.host_state(num_objects, geo.padded, slots=slots).capacity, source)
    m["files"] = manifest.file_table(stage)
    atomic.write_json(stage / manifest.NAME, m)
  return m


def describe(fns: dict[str, functions.Function], arch: Arch, settings: InferenceSettings,
             geo: Geometry, num_objects: int, conv: str, formats: dict[str, Any], slots: int,
             source: str | None) -> dict[str, Any]:
  """The manifest (without the file table)."""
  spec_list = lambda specs: [s.to_dict() for s in specs]
  return {
      "format": manifest.FORMAT,
      "created_by": {"rde_jax": __version__, "jax": jax.__version__,
                     "python": platform_lib.python_version()},
      "model": {"source": source, "arch_name": arch_name(arch),
                "arch": arch.to_config().to_dict()},
      "frame_size": list(geo.size), "padded_size": list(geo.padded), "num_objects": num_objects,
      "settings": {**settings.to_dict(), "conv_algorithm": conv},
      "memory_slots": slots,
      "preprocessing": {
          "inside_functions": True,
          "input": "uint8 RGB (H,W,3) at frame_size; first labels uint8 (H,W) ids 0..K",
          "normalisation": "(x / 255 - mean) / std, float32",
          "mean": IMAGENET_MEAN.tolist(), "std": IMAGENET_STD.tolist(),
          "padding": {"multiple": 16, "pads": [list(p) for p in geo.pads], "value": 0.0,
                      "rule": "official: each side up to the next multiple of 16, split "
                              "floor(d/2) before, the rest after"},
          "output": "probabilities (K+1,H,W) float32 cropped back to frame_size; labels = "
                    "argmax over the channels",
      },
      "schedule": {
          "mem_every": settings.mem_every, "include_last": settings.include_last,
          "rule": "frame 0: init; frame t > 0: step_and_memorize when t % mem_every == 0 (every "
                  "frame with include_last) and t is not the last frame, else step",
      },
      "state": spec_list(fns["step"].inputs[1:]),
      "functions": {n: {"doc": f.doc, "inputs": spec_list(f.inputs),
                        "outputs": spec_list(f.outputs)} for n, f in fns.items()},
      "formats": formats,
  }
