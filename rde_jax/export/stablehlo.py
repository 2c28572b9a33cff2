"""StableHLO artifacts through `jax.export`: writing them, and running them (needs JAX, not our
model code).

Each function is serialised with the variables as its first inputs (a flat list, the pytree
paths as names), stored once in stablehlo/weights.npz, so the three functions share one copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import jax
import numpy as np

from rde_jax.export import functions
from rde_jax.export.manifest import ArtifactError

PLATFORMS = ("cpu", "cuda", "rocm", "tpu")
WEIGHTS = "weights.npz"


def save_weights(variables: Any, folder: Path) -> list[str]:
  """Writes the flat variables to folder/weights.npz (keys w00000, ...) -> their names."""
  names, arrays, _ = functions.flat_weights(variables)
  np.savez(folder / WEIGHTS, **{f"w{i:05d}": a for i, a in enumerate(arrays)})
  return names


def save(function: functions.Function, variables: Any, conv: str,
         platforms: Sequence[str], folder: Path) -> dict[str, Any]:
  """Serialises `function` for `platforms` to folder/<name>.bin -> its manifest entry."""
  _, arrays, treedef = functions.flat_weights(variables)
  fn = functions.with_flat_weights(function, treedef)
  args = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in arrays]
  args += [s.abstract() for s in function.inputs]
  del conv  # a field of the engine's network the function was built from
  exported = jax.export.export(jax.jit(fn), platforms=tuple(platforms))(*args)
  path = folder / f"{function.name}.bin"
  path.write_bytes(exported.serialize())
  return {"file": f"stablehlo/{path.name}", "weights": len(arrays),
          "calling_convention_version": exported.calling_convention_version}


class Runner:
  """The exported functions of an artifact on JAX's default device: run(name, *inputs)."""

  def __init__(self, directory: Path, m: dict[str, Any]):
    try:
      with np.load(directory / "stablehlo" / WEIGHTS, allow_pickle=False) as z:
        self.weights = [jax.device_put(z[f"w{i:05d}"]) for i in range(len(z.files))]
      self.exported = {
          name: jax.export.deserialize(bytearray(
              (directory / m["formats"]["stablehlo"]["functions"][name]["file"]).read_bytes()))
          for name in m["functions"]}
    except Exception as e:  # foreign bytes fail deep in the flatbuffer reader, any type
      raise ArtifactError(f"{directory / 'stablehlo'}: cannot load the StableHLO functions "
                          f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
                          ) from e
    self.platform = jax.default_backend()
    platforms = m["formats"]["stablehlo"]["platforms"]
    if not any(p == self.platform or (p == "cuda" and self.platform == "gpu")
               for p in platforms):
      raise ArtifactError(f"{directory}: exported for {', '.join(platforms)}, but JAX runs on "
                          f"{self.platform}; re-export with --platforms {self.platform}")

    self.executables: dict[str, Any] = {}

  def run(self, name: str, *inputs: Any) -> tuple[Any, ...]:
    """Outputs as device arrays (the state stays on the device between frames)."""
    exe = self.executables.get(name)
    if exe is None:  # compiled once, ahead of time: immune to jax.clear_caches()
      exported = self.exported[name]
      args = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in exported.in_avals]
      exe = self.executables[name] = jax.jit(exported.call).lower(*args).compile()
    return tuple(exe(*self.weights, *inputs))

  @staticmethod
  def to_host(x: Any) -> np.ndarray:
    return np.asarray(x)
