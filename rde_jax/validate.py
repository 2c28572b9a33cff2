"""Checks of user-facing values, shared by every entry point and the Python API.

Each check raises `UserError` naming the field (as the user wrote it: `--top_k`, `top_k`,
`config.top_k`) and what is allowed, before any work or any write:

    validate.integer("--top_k", 0, minimum=1)   # UserError: --top_k must be an integer >= 1, got 0
    validate.output_dir("--out", out, overwrite=False, marker="summary.json", what="results")
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from rde_jax.errors import UserError

DTYPES = ("float32", "bfloat16", "float16")  # = rde_jax.inference.DTYPES (tested), no JAX import
TRAIN_DTYPES = DTYPES  # rde_jax/train/trainer.py (float16 with loss scaling)
REMAT_POLICIES = ("none", "encoders", "all", "all_dots")  # = rde_jax.train.remat.POLICIES (tested)
ARCHES = ("official", "tiny")  # rde_jax.model.architectures.get names (tested)
PRECISIONS = ("default", "high", "highest", "bfloat16", "tensorfloat32", "float32")


def integer(name: str, value: Any, *, minimum: int | None = None, note: str = "") -> int:
  """An int (not a bool) >= `minimum`; `note` explains a special value, e.g. '0: native size'."""
  if isinstance(value, bool) or not isinstance(value, numbers.Integral):
    raise UserError(f"{name} must be an integer, got {value!r}")
  if minimum is not None and value < minimum:
    extra = f" ({note})" if note else ""
    raise UserError(f"{name} must be an integer >= {minimum}{extra}, got {value}")
  return int(value)


def number(name: str, value: Any, *, above: float | None = None,
           minimum: float | None = None, maximum: float | None = None) -> float:
  """A finite real number with `value > above`, `value >= minimum`, `value <= maximum` as given
  (NaN and +-inf are never valid)."""
  if isinstance(value, bool) or not isinstance(value, numbers.Real):
    raise UserError(f"{name} must be a number, got {value!r}")
  if not math.isfinite(value):
    raise UserError(f"{name} must be a finite number, got {value!r}")
  if above is not None and not value > above:
    raise UserError(f"{name} must be > {above:g}, got {value:g}")
  if minimum is not None and value < minimum:
    raise UserError(f"{name} must be >= {minimum:g}, got {value:g}")
  if maximum is not None and value > maximum:
    raise UserError(f"{name} must be <= {maximum:g}, got {value:g}")
  return float(value)


def side(name: str, value: Any) -> int:
  """An image side to resize to: 0 (native size) or >= 16 (the network's stride)."""
  value = integer(name, value, minimum=0, note="0: native size")
  if 0 < value < 16:
    raise UserError(f"{name} must be 0 (native size) or >= 16 (the network's stride), "
                    f"got {value}")
  return value


def choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
  if value not in choices:
    allowed = ", ".join(repr(c) for c in choices)
    raise UserError(f"{name} must be one of {allowed}, got {value!r}")
  return value


def dtype_name(name: str, dtype: Any, choices: Sequence[str] = DTYPES) -> str:
  """'float32' / 'bfloat16' / 'float16' from a string, a numpy/JAX dtype or scalar type."""
  text = dtype if isinstance(dtype, str) else (getattr(dtype, "name", None)
                                              or getattr(dtype, "__name__", None) or str(dtype))
  return choice(name, text, choices)


def existing(name: str, path: Any, *, kind: str = "any") -> Path:
  """An existing file ('file'), folder ('dir') or either ('any'). URIs (gs://) are looked up
  through etils.epath and returned unchanged."""
  if "://" in os.fspath(path):
    _existing_uri(name, os.fspath(path))
    return path
  p = Path(os.path.expanduser(os.fspath(path)))
  if not p.exists():
    raise UserError(f"{name}: {p}: no such file or folder")
  if kind == "file" and not p.is_file():
    raise UserError(f"{name}: {p} is a folder, expected a file")
  if kind == "dir" and not p.is_dir():
    raise UserError(f"{name}: {p} is a file, expected a folder")
  return p


def _existing_uri(name: str, uri: str) -> None:
  """`uri` exists (an object, or a folder: a prefix some object starts with)."""
  from rde_jax.fileio import storage
  try:
    found = storage.as_path(uri).exists()
  except ImportError as e:  # epath: no backend for this scheme (gcsfs, s3fs, ...)
    raise UserError(f"{name}: {uri}: cannot be read here ({e})",
                    hint="install the storage backend on every host, e.g. pip install "
                         "'rde-jax[gcs]' for gs://") from None
  if not found:
    raise UserError(f"{name}: {uri}: no such file or folder")


def model_dir(name: str, path: Any) -> Path:
  """A model directory (model.json) or a training workdir holding model/model.json. URIs
  (gs://) pass unchanged (checked when read)."""
  from rde_jax.fileio import atomic_dir
  if "://" in os.fspath(path):
    return path
  p = Path(os.path.expanduser(os.fspath(path)))
  for d in (p, p / "model"):
    atomic_dir.recover(d)
  if not ((p / "model.json").is_file() or (p / "model" / "model.json").is_file()):
    raise UserError(f"{name}: {p}: no model.json here or in model/",
                    hint="convert official weights with `python -m rde_jax.convert --input "
                         "X.pth --output DIR`, or train with train.py")
  return p


def _writable_parent(name: str, p: Path) -> None:
  """The nearest existing ancestor of `p` must be a folder (mkdir -p would fail otherwise)."""
  parent = p.parent
  while not parent.exists():
    parent = parent.parent
  if not parent.is_dir():
    raise UserError(f"{name} {p}: {parent} is a file, so the folder cannot be created")


def workdir(name: str, path: Any) -> Any:
  """A folder to create or reuse (resume): must not be a file. URIs (gs://) pass unchanged."""
  if "://" in os.fspath(path):
    return path
  p = Path(os.path.expanduser(os.fspath(path))).absolute()
  if p.exists() and not p.is_dir():
    raise UserError(f"{name} {p} is a file; pass a new folder or an earlier run's folder")
  _writable_parent(name, p)
  return p


def output_dir(name: str, path: Any, *, overwrite: bool, marker: str, what: str,
               inputs: Sequence[tuple[str, Any]] = (), legacy: Sequence[str] = ()) -> Path:
  """A folder the command writes as a whole: new, empty, or (with `overwrite`) an earlier output
  of ours. An earlier output is one with our manifest (`fileio/manifest.py`; or, written before
  manifests, `marker` and only what `legacy` matches); it is replaced only if everything in it
  is on the manifest, so no file of the user's is ever deleted. `inputs` ((flag, path) pairs)
  must not lie inside the folder. URIs (gs://) pass unchanged (written by upload, not swapped)."""
  from rde_jax.fileio import atomic_dir, manifest
  if "://" in os.fspath(path):
    return path
  p = Path(os.path.expanduser(os.fspath(path))).absolute()
  inputs_outside(name, p, inputs)
  atomic_dir.recover(p)
  if p.exists() and not p.is_dir():
    raise UserError(f"{name} {p} is a file; pass a folder to write into")
  _writable_parent(name, p)
  if not p.is_dir():
    return p
  entries = sorted(e.name for e in p.iterdir())
  if not entries:
    return p
  if not (p / marker).exists() and not manifest.is_ours(p):
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    raise UserError(f"{name} {p} exists and is not an earlier output of this command (it holds "
                    f"{shown}, no {marker}); choose a new or empty folder")
  manifest.check_replaceable(p, legacy, name=name)
  if not overwrite:
    raise UserError(f"{name} {p} already holds {what} ({marker})",
                    hint="pass --overwrite (overwrite=True) to replace them, or choose "
                         "another folder")
  return p


def inputs_outside(name: str, out: Any, inputs: Sequence[tuple[str, Any]]) -> None:
  """Refuses an input file or folder that is the output folder `out` or lies inside it (the
  output is replaced as a whole, so the input would be deleted)."""
  if "://" in os.fspath(out):
    return
  real_out = os.path.realpath(os.path.expanduser(os.fspath(out)))
  for flag, path in inputs:
    if path is None or "://" in os.fspath(path):
      continue
    real = os.path.realpath(os.path.expanduser(os.fspath(path)))
    if real == real_out or real.startswith(real_out.rstrip(os.sep) + os.sep):
      raise UserError(f"{flag} {path} is inside {name} {out}, which this command replaces as a "
                      "whole (that would delete it)",
                      hint=f"choose a {name} folder that holds none of the inputs")


def multihost_flags(coordinator_address: Any, num_processes: Any, process_id: Any) -> None:
  """--coordinator_address HOST:PORT, --num_processes >= 1, 0 <= --process_id < num_processes
  (None: auto-detected), checked before jax.distributed starts."""
  if num_processes is not None:
    integer("--num_processes", num_processes, minimum=1)
  if process_id is not None:
    integer("--process_id", process_id, minimum=0)
    if num_processes is not None and process_id >= num_processes:
      raise UserError(f"--process_id must be < --num_processes ({num_processes}), "
                      f"got {process_id}")
  if coordinator_address is not None:
    host, _, port = str(coordinator_address).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
      raise UserError(f"--coordinator_address must be HOST:PORT (a port 1-65535), "
                      f"got {coordinator_address!r}")


def unknown_fields(name: str, cfg: Any, reference: Any, skip: Iterable[str] = ()) -> None:
  """Fields of ConfigDict `cfg` that `reference` (the defaults) does not have."""
  skip = set(skip)
  for key in cfg.keys():
    field = f"{name}.{key}"
    if key in skip:
      continue
    if key not in reference:
      close = [k for k in reference.keys() if k.startswith(key[:3])]
      raise UserError(f"{field}: no such config field"
                      + (f" (did you mean {', '.join(close)}?)" if close else ""))
    if hasattr(cfg[key], "keys") and hasattr(reference[key], "keys"):
      unknown_fields(field, cfg[key], reference[key], skip)
