"""The inference settings, once: every entry point (segment, eval.py, the benchmark, the API, the
app, export, reproduce) builds one `InferenceSettings` and hands it on whole.

    settings = InferenceSettings(top_k=20, memory_mode="stm")  # validated here
    settings = InferenceSettings.from_preset("official", mem_every=5)  # float16 + direct convs
    settings = InferenceSettings.from_values(prefix="--", **flag_values)  # errors name the flags
    engine = model.engine(settings)  # keyed by settings.engine_key()

Defaults are the official DAVIS protocol (eval_davis.py: memory every 3 frames, top-k 40, the
paper's two-frames-compress memory). The class is frozen and hashable (it keys the engine cache);
`replace(**changes)` makes a changed copy, validated again.

Fields that change the compiled frame step (`engine_key`): top_k, memory_mode, dtype,
conv_algorithm. The others steer the host loop: mem_every, include_last, chunk, max_side.

Precision presets (`PRESETS`), shared by eval.py, segment and reproduce:
  float32   float32 compute; convolutions 'auto' (Winograd on the CPU, direct elsewhere)
  official  what the official scripts run with --amp: float16 autocast semantics (convolutions,
            matmuls, BatchNorm outputs, pooling, bilinear resizing and the decoder's sigmoid in
            float16; |mk|^2, top-k softmax and soft aggregation float32; docs/evaluation.md),
            direct convolutions (cuDNN's own algorithms, not our Winograd)
  fast      bfloat16 compute, convolutions 'auto'
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from rde_jax import validate
from rde_jax.errors import UserError
from rde_jax.inference.modes import DEFAULT as DEFAULT_MEMORY_MODE
from rde_jax.inference.modes import MODES as MEMORY_MODES
from rde_jax.model import conv_algorithm as conv_algorithms
from rde_jax.model.conv_algorithm import ALGORITHMS as CONV_ALGORITHMS
DTYPES = validate.DTYPES
PRESETS: dict[str, dict[str, str]] = {
    "float32": {"dtype": "float32", "conv_algorithm": "auto"},
    "official": {"dtype": "float16", "conv_algorithm": "direct"},
    "fast": {"dtype": "bfloat16", "conv_algorithm": "auto"},
}
ENGINE_FIELDS = ("top_k", "memory_mode", "dtype", "conv_algorithm")


@dataclasses.dataclass(frozen=True)
class InferenceSettings:
  """How a video is segmented. Frozen, hashable, validated at construction (UserError).

  mem_every: a memory frame (RDE update) every N frames (>= 1).
  top_k: entries of the top-k memory read-out (>= 1).
  memory_mode: one of the official MemoryBank modes (docs/evaluation.md).
  include_last: the official --include_last: every frame but the last is a memory frame.
  dtype: compute dtype of convolutions and matmuls ('float32' | 'bfloat16' | 'float16').
  conv_algorithm: 'auto' (Winograd on the CPU, direct elsewhere) | 'direct' | 'winograd'.
  max_side: run the network at long side <= this (None: native size; else >= 16).
  chunk: frames per device call (the lax.scan length); does not change results.
  """
  mem_every: int = 3
  top_k: int = 40
  memory_mode: str = DEFAULT_MEMORY_MODE
  include_last: bool = False
  dtype: str = "float32"
  conv_algorithm: str = "auto"
  max_side: int | None = None
  chunk: int = 8

  def __post_init__(self) -> None:
    _check(self, prefix="")

  # -- construction ------------------------------------------------------------------------
  @classmethod
  def from_values(cls, prefix: str = "", **values: Any) -> "InferenceSettings":
    """Settings from loose values (flags, config fields, API keywords); unknown names are an
    error. Errors name the field with `prefix` ('--' for flags, 'config.' for configs)."""
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise UserError(f"{prefix}{unknown[0]}: not an inference setting (expected one of "
                      f"{', '.join(f.name for f in dataclasses.fields(cls))})")
    values = dict(values)
    if "dtype" in values:
      values["dtype"] = validate.dtype_name(f"{prefix}dtype", values["dtype"])
    if values.get("max_side") == 0:
      values["max_side"] = None
    probe = object.__new__(cls)
    for f in dataclasses.fields(cls):
      object.__setattr__(probe, f.name, values.get(f.name, f.default))
    _check(probe, prefix=prefix)
    return cls(**values)

  @classmethod
  def from_preset(cls, preset: str = "float32", prefix: str = "",
                  **overrides: Any) -> "InferenceSettings":
    """A precision preset ('float32' | 'official' | 'fast'), then `overrides` on top."""
    validate.choice(f"{prefix}preset", preset, tuple(PRESETS))
    return cls.from_values(prefix, **{**PRESETS[preset], **overrides})

  @classmethod
  def from_config(cls, cfg: Any, prefix: str = "config.") -> "InferenceSettings":
    """From a ConfigDict (or mapping) holding these fields at its top level (eval configs);
    fields it lacks keep their defaults; a `preset` field, if set, applies first."""
    get = cfg.get if hasattr(cfg, "get") else (lambda k, d=None: getattr(cfg, k, d))
    values = {f.name: get(f.name) for f in dataclasses.fields(cls) if get(f.name) is not None}
    preset = get("preset", "") or ""
    if preset:
      return cls.from_preset(preset, prefix, **{k: v for k, v in values.items()
                                                if k not in PRESETS[preset] or
                                                v != getattr(cls(), k)})
    return cls.from_values(prefix, **values)

  def replace(self, **changes: Any) -> "InferenceSettings":
    """A copy with `changes`, validated."""
    return dataclasses.replace(self, **changes)

  # -- views ---------------------------------------------------------------------------------
  def engine_key(self) -> tuple[Any, ...]:
    """What the compiled frame step depends on (top_k, memory_mode, dtype, conv_algorithm)."""
    return tuple(getattr(self, n) for n in ENGINE_FIELDS)

  def conv_algorithm_for(self, backend: str) -> str:
    """The algorithm for JAX backend `backend` ('cpu', 'gpu', 'tpu'): 'auto' resolved."""
    return conv_algorithms.resolve(self.conv_algorithm, backend)

  @property
  def preset(self) -> str:
    """The preset these settings match ('float32', 'official', 'fast') or 'custom'."""
    for name, fields in PRESETS.items():
      if all(getattr(self, k) == v for k, v in fields.items()):
        return name
    return "custom"

  def to_dict(self) -> dict[str, Any]:
    """JSON-ready fields (+ the preset they match): summaries, manifests, tables."""
    return {**dataclasses.asdict(self), "preset": self.preset}

  @classmethod
  def from_dict(cls, d: Mapping[str, Any], prefix: str = "") -> "InferenceSettings":
    """Inverse of `to_dict` (the 'preset' entry is derived, so ignored)."""
    return cls.from_values(prefix, **{k: v for k, v in d.items() if k != "preset"})


def _check(s: InferenceSettings, prefix: str) -> None:
  validate.integer(f"{prefix}mem_every", s.mem_every, minimum=1)
  validate.integer(f"{prefix}top_k", s.top_k, minimum=1)
  validate.integer(f"{prefix}chunk", s.chunk, minimum=1)
  validate.side(f"{prefix}max_side", 0 if s.max_side is None else s.max_side)
  if s.max_side == 0:
    raise UserError(f"{prefix}max_side: use None for the native size, not 0")
  validate.choice(f"{prefix}memory_mode", s.memory_mode, MEMORY_MODES)
  validate.choice(f"{prefix}dtype", s.dtype, DTYPES)
  validate.choice(f"{prefix}conv_algorithm", s.conv_algorithm, CONV_ALGORITHMS)
  if not isinstance(s.include_last, bool):
    raise UserError(f"{prefix}include_last must be True or False, got {s.include_last!r}")
