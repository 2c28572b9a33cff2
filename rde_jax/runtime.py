"""Process-wide JAX settings for inference runs and the record of what ran where.

    runtime.configure(matmul_precision="highest", compilation_cache="~/.cache/rde_jax/jax")
    info = runtime.environment(dtype="float32")   # devices, versions, precision: for summaries
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

import jax

import rde_jax
from rde_jax import cpu_settings, validate

DEFAULT_CACHE = os.path.join("~", ".cache", "rde_jax", "jax_compilation_cache")


def configure(*, matmul_precision: str | None = None, compilation_cache: str | None = None) -> str:
  """Sets the default matmul precision and turns on JAX's persistent compilation cache.

  `compilation_cache`: a folder, or '' / None to leave the cache off. JAX reads the setting when
  it first compiles, so call this before any jitted work. Returns the cache folder used ('' off).
  """
  if matmul_precision:
    validate.choice("matmul_precision", matmul_precision, validate.PRECISIONS)
    jax.config.update("jax_default_matmul_precision", matmul_precision)
  if not compilation_cache:
    return ""
  path = os.path.abspath(os.path.expanduser(compilation_cache))
  os.makedirs(path, exist_ok=True)
  if jax.config.jax_compilation_cache_dir != path:
    jax.config.update("jax_compilation_cache_dir", path)
  return path


def environment(**settings: Any) -> dict[str, Any]:
  """Devices, library versions and numeric settings, for summary files."""
  import flax
  import jaxlib
  import numpy as np
  devices = jax.local_devices()
  return {
      "platform": jax.default_backend(),
      "devices": [str(d.device_kind) for d in devices],
      "num_devices": len(devices),
      "host": platform.node(),
      "python": sys.version.split()[0],
      "rde_jax": rde_jax.__version__,
      "jax": jax.__version__,
      "jaxlib": jaxlib.__version__,
      "flax": flax.__version__,
      "numpy": np.__version__,
      "matmul_precision": jax.config.jax_default_matmul_precision or "default",
      "compilation_cache": jax.config.jax_compilation_cache_dir or "",
      "cpu_settings": cpu_settings.record(),
      **settings,
  }


def rss_bytes() -> int | None:
  """Current resident set size of this process (Linux /proc), else None."""
  try:
    with open("/proc/self/statm") as f:
      return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
  except (OSError, ValueError, IndexError):
    return None
