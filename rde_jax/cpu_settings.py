"""CPU detection and the XLA:CPU settings rde-jax picks for it, applied before JAX starts.

XLA reads `XLA_FLAGS` once, when JAX initialises its backend (the first `jax.devices()`, jit
call or array creation), so entry points call `apply()` first thing:

    from rde_jax import cpu_settings
    cpu_settings.apply()                    # auto: flags chosen for this CPU (see RECOMMENDED)
    cpu_settings.apply(purpose="train")     # auto for the training step (TRAIN_RECOMMENDED)
    cpu_settings.apply("none")              # leave XLA's defaults
    cpu_settings.apply("--xla_cpu_use_onednn=true")   # exactly these flags instead
    cpu_settings.record()                   # what was detected and applied, for summaries

The user overrides it three ways: the `mode` argument (CLI `--config.cpu_flags` of the
benchmark), the environment variable `RDE_JAX_CPU_FLAGS` (same values: auto | none | flags), and
any flag already in `XLA_FLAGS`, which always wins over ours for the same flag name. The
choices in RECOMMENDED are the ones measured in benchmarks/RESULTS_inference.md.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from typing import Any

ENV_VAR = "RDE_JAX_CPU_FLAGS"

# Flags per CPU family, from the measurements in benchmarks/RESULTS_inference.md. A family
# nobody has measured keeps XLA's defaults (an empty list).
RECOMMENDED: dict[str, list[str]] = {
    "amd_avx2": [],
    "amd_avx512": [],
    "intel_avx2": [],
    "intel_avx512": [],
    "intel_amx": [],
    "other": [],
}

# XLA:CPU runs convolutions through YNNPACK by default; YNNPACK's kernels for the weight gradients
# of a convolution (the backward's conv with the batch as contraction) run 3-8x slower than its
# forward, and XLA's Eigen convolutions (YNNPACK off) take them 2-6x faster: the training step at
# stage 2, 192², is 1.37x faster with YNNPACK off (direct convs) and 1.21x (Winograd), side by
# side (benchmarks/RESULTS_training.md). Measured on an Intel Xeon (AMX) and kept for every x86
# family: the cause is YNNPACK's weight-gradient kernels, not the CPU.
_YNN_OFF = ["--xla_cpu_experimental_ynn_fusion_type="]
TRAIN_RECOMMENDED: dict[str, list[str]] = {
    "amd_avx2": _YNN_OFF,
    "amd_avx512": _YNN_OFF,
    "intel_avx2": _YNN_OFF,
    "intel_avx512": _YNN_OFF,
    "intel_amx": _YNN_OFF,
    "other": [],
}
PURPOSES = ("inference", "train")

_ISA_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
              "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16", "asimd", "sve")

_last: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class CpuInfo:
  """What the CPU is and which vector/matrix extensions it has."""
  vendor: str  # 'AuthenticAMD', 'GenuineIntel', ... ('' where unknown)
  model_name: str
  isa: tuple[str, ...]  # the entries of _ISA_FLAGS the CPU reports
  cores: int

  @property
  def family(self) -> str:
    """Key of RECOMMENDED: amd_avx2, amd_avx512, intel_avx2, intel_avx512, intel_amx, other."""
    has = set(self.isa)
    if self.vendor == "GenuineIntel":
      if "amx_bf16" in has:
        return "intel_amx"
      return "intel_avx512" if "avx512f" in has else "intel_avx2" if "avx2" in has else "other"
    if self.vendor == "AuthenticAMD":
      return "amd_avx512" if "avx512f" in has else "amd_avx2" if "avx2" in has else "other"
    return "other"


def parse_cpuinfo(text: str) -> CpuInfo:
  """CpuInfo from the text of Linux /proc/cpuinfo (first processor's vendor, model and flags)."""
  fields: dict[str, str] = {}
  cores = 0
  for line in text.splitlines():
    key, _, value = line.partition(":")
    key = key.strip()
    if key == "processor":
      cores += 1
    if key and key not in fields:
      fields[key] = value.strip()
  flags = set((fields.get("flags") or fields.get("Features") or "").split())
  return CpuInfo(vendor=fields.get("vendor_id", ""), model_name=fields.get("model name", ""),
                 isa=tuple(f for f in _ISA_FLAGS if f in flags), cores=max(cores, 1))


def detect() -> CpuInfo:
  """This machine's CpuInfo (Linux /proc/cpuinfo; elsewhere vendor and flags are unknown)."""
  try:
    with open("/proc/cpuinfo") as f:
      return parse_cpuinfo(f.read())
  except OSError:
    return CpuInfo("", platform.processor() or platform.machine(), (), os.cpu_count() or 1)


def _flag_name(flag: str) -> str:
  return flag.split("=", 1)[0].strip()


def merge_flags(existing: str, ours: list[str]) -> tuple[str, list[str]]:
  """XLA_FLAGS text with `ours` appended where `existing` does not set the same flag already.

  Returns the new text and the flags actually added (the user's own settings win).
  """
  have = {_flag_name(f) for f in existing.split()}
  added = [f for f in ours if _flag_name(f) not in have]
  return " ".join(existing.split() + added), added


def choose(mode: str, cpu: CpuInfo, purpose: str = "inference") -> tuple[list[str], str]:
  """(flags, source) for mode 'auto' | 'none' | an explicit flag string | 'auto' followed by
  flags (the recommended ones plus those). 'auto' takes RECOMMENDED (purpose 'inference') or
  TRAIN_RECOMMENDED (purpose 'train')."""
  if purpose not in PURPOSES:
    raise ValueError(f"purpose {purpose!r}: expected one of {', '.join(PURPOSES)}")
  words = (mode or "auto").split() or ["auto"]
  if words == ["none"]:
    return [], "none"
  extra = words[1:] if words[0] == "auto" else words
  bad = [f for f in extra if not f.startswith("--xla_")]
  if bad:
    raise ValueError("cpu flags must be 'auto', 'none', --xla_... flags or 'auto' followed by "
                     f"--xla_... flags; got {bad}")
  if words[0] != "auto":
    return extra, "explicit"
  table = TRAIN_RECOMMENDED if purpose == "train" else RECOMMENDED
  suffix = ", train" if purpose == "train" else ""
  named = {_flag_name(f) for f in extra}  # the user's words win over ours
  ours = [f for f in table.get(cpu.family, []) if _flag_name(f) not in named]
  return ours + extra, f"auto ({cpu.family}{suffix})" + (" + flags" if extra else "")


def _backend_started() -> bool:
  try:
    from jax._src import xla_bridge
    return bool(xla_bridge.backends_are_initialized())
  except (ImportError, AttributeError):  # pragma: no cover - other jax versions
    return False


def apply(mode: str | None = None, purpose: str = "inference") -> dict[str, Any]:
  """Detects the CPU and adds the chosen flags to XLA_FLAGS (before JAX starts its backend).

  mode: None reads RDE_JAX_CPU_FLAGS (default 'auto'). purpose: 'inference' (segment, eval,
  the app, the inference benchmark) or 'train' (train.py, the training benchmark). Returns and
  remembers `record()`'s dict. If the backend already runs, nothing changes and the record says so.
  """
  global _last
  mode = os.environ.get(ENV_VAR, "auto") if mode is None else mode
  cpu = detect()
  flags, source = choose(mode, cpu, purpose)
  user = os.environ.get("XLA_FLAGS", "")
  started = _backend_started()
  added: list[str] = []
  if not started:
    text, added = merge_flags(user, flags)
    os.environ["XLA_FLAGS"] = text
  _last = {"vendor": cpu.vendor, "model_name": cpu.model_name, "isa": list(cpu.isa),
           "cores": cpu.cores, "family": cpu.family, "mode": mode, "purpose": purpose,
           "source": source,
           "chosen": flags, "added": added, "user_xla_flags": user,
           "applied": not started,
           "note": "" if not started else "JAX backend already initialised: flags not applied"}
  return record()


def record() -> dict[str, Any]:
  """The detected CPU, the chosen flags and the XLA_FLAGS in effect (for summary files)."""
  base = dict(_last) if _last is not None else {"applied": False, "note": "apply() not called"}
  if _last is None:
    cpu = detect()
    base.update(vendor=cpu.vendor, model_name=cpu.model_name, isa=list(cpu.isa),
                cores=cpu.cores, family=cpu.family)
  base["xla_flags"] = os.environ.get("XLA_FLAGS", "")
  return base
