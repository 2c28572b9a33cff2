"""Safe, torch-free reader for PyTorch `.pth` checkpoints (zip format, torch >= 1.6).

`torch.save` writes a zip archive holding `<prefix>/data.pkl` (a pickle whose
tensors are persistent ids pointing at raw storages), `<prefix>/data/<key>` (the
storage bytes), `<prefix>/byteorder` and `<prefix>/version`.  We unpickle
`data.pkl` with a restricted `pickle.Unpickler` whose `find_class`
resolves only an explicit allowlist of globals, so a malicious checkpoint cannot
run code: anything else raises `UnsafeCheckpointError` *before* it is called.
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import math
import os
import pickle
import tarfile
import zipfile
import zlib
from typing import Any, Callable, NamedTuple

import numpy as np

from rde_jax.errors import UserError


__all__ = ["load_state_dict", "CheckpointError", "CheckpointFormatError",
      "LegacyCheckpointError", "UnsafeCheckpointError"]

WRAPPER_KEYS = ("state_dict", "network", "model")


class CheckpointError(UserError):
  """Base class for all errors raised by this module."""


class CheckpointFormatError(CheckpointError, ValueError):
  """The file is not a well-formed torch zip checkpoint (corrupt, truncated, ...)."""


class LegacyCheckpointError(CheckpointFormatError):
  """The file uses torch's legacy (pre-1.6) non-zip serialization."""


class UnsafeCheckpointError(CheckpointError):
  """The pickle references a global outside the allowlist."""


class _Frozen:
  """Immutable wrapper for everything `find_class` hands out.

  Pickle's BUILD opcode can `setattr` on any object on the stack; wrapping the
  allowlisted globals stops a file from monkeypatching e.g. `collections.Counter`
  for the whole process.  Calls pass through (positional args only, like REDUCE).
  """

  __slots__ = ("_obj",)

  def __init__(self, obj: Any) -> None:
    object.__setattr__(self, "_obj", obj)

  def __setattr__(self, name: str, value: Any) -> None:
    raise UnsafeCheckpointError(f"refused to set attribute {name!r} on {self!r}")

  def __call__(self, *args: Any) -> Any:
    if isinstance(self._obj, _StorageType):
      raise CheckpointFormatError(f"refused to call {self!r}")
    return self._obj(*args)

  def __repr__(self) -> str:
    return f"<allowlisted {self._obj!r}>"


class _StorageType(NamedTuple):
  """Stand-in for `torch.<Name>Storage`: only carries the element dtype."""

  name: str
  dtype: np.dtype
  bf16: bool

  def __repr__(self) -> str:
    return f"torch.{self.name}"


_STORAGE_TYPES = {n: _StorageType(n, np.dtype(d), n == "BFloat16Storage") for n, d in [
  ("FloatStorage", "<f4"), ("DoubleStorage", "<f8"), ("HalfStorage", "<f2"),
  ("BFloat16Storage", "<u2"), ("LongStorage", "<i8"), ("IntStorage", "<i4"),
  ("ShortStorage", "<i2"), ("CharStorage", "i1"), ("ByteStorage", "u1"),
  ("BoolStorage", "?")]}


class _Storage:
  """A loaded storage: flat native-endian array plus the bfloat16 flag; `viewed` counts the
  elements of the tensors built from it so far."""

  __slots__ = ("data", "bf16", "viewed")

  def __init__(self, data: np.ndarray, bf16: bool) -> None:
    self.data, self.bf16, self.viewed = data, bf16, 0


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any,
            requires_grad: Any = False, backward_hooks: Any = None,
            metadata: Any = None) -> np.ndarray:
  """Build a C-contiguous copy of the strided view described by torch."""
  if not isinstance(storage, _Storage):
    raise CheckpointFormatError(f"tensor storage is {type(storage).__name__}, not a storage")
  ints = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0  # noqa: E731
  if (not ints(storage_offset) or not isinstance(size, tuple) or not isinstance(stride, tuple)
      or len(size) != len(stride) or not all(map(ints, size + stride))):
    raise CheckpointFormatError(f"bad tensor geometry: offset={storage_offset!r} "
                  f"size={size!r} stride={stride!r}")
  data = storage.data
  numel = math.prod(size)
  if len(size) > 32:
    raise CheckpointFormatError(f"tensor of {len(size)} dimensions (size={size})")
  # Sizes come from the file: checked before anything is allocated. A tensor never holds more
  # elements than its storage (a stride-0 view of a 1 KB file could declare 2**31 of them),
  # and all tensors of a storage together at most twice its size (tied weights).
  storage.viewed += numel
  if numel > data.size or storage.viewed > 2 * data.size:
    raise CheckpointFormatError(
      f"tensor (size={size}, stride={stride}) declares {numel} elements but its storage holds "
      f"{data.size}" + (f" ({storage.viewed} declared by all its tensors)"
                        if numel <= data.size else "") + "; refusing to allocate them")
  if 0 in size:
    out = np.empty(size, data.dtype)
  else:
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= data.size:
      raise CheckpointFormatError(
        f"storage has {data.size} elements but tensor (offset={storage_offset}, "
        f"size={size}, stride={stride}) needs {last + 1}")
    view = np.lib.stride_tricks.as_strided(
      data[storage_offset:], shape=size,
      strides=tuple(s * data.itemsize for s in stride), writeable=False)
    out = np.array(view, order="C", copy=True)
  if storage.bf16:  # bfloat16 bits are the top half of a float32
    out = (out.astype(np.uint32) << 16).view(np.float32)
  return out


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> np.ndarray:
  return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None) -> Any:
  return data


def _codecs_encode(obj: Any, encoding: str = "utf-8") -> bytes:
  """How protocol-2 pickles spell `bytes`; limited to plain text codecs."""
  if not isinstance(obj, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
    raise CheckpointFormatError(f"refused _codecs.encode({type(obj).__name__}, {encoding!r})")
  return obj.encode(encoding)


_ALLOWED: dict[tuple[str, str], Any] = {
  ("collections", "OrderedDict"): collections.OrderedDict,
  ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
  ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
  ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
  # Harmless data types found in full training checkpoints (e.g. the
  # MultiStepLR `milestones` Counter, sets, and bytes under protocol 2).
  ("collections", "Counter"): collections.Counter,
  ("builtins", "set"): set,
  ("_codecs", "encode"): _codecs_encode,
  **{("torch", n): t for n, t in _STORAGE_TYPES.items()},
}


class _SafeUnpickler(pickle.Unpickler):
  """Unpickler that resolves only allowlisted globals and zip-backed storages."""

  def __init__(self, data: bytes, path: str, load_storage: Callable[..., _Storage]) -> None:
    super().__init__(io.BytesIO(data))
    self._path, self._load_storage = path, load_storage
    self._storages: dict[tuple[str, str], _Storage] = {}

  def find_class(self, module: str, name: str) -> Any:
    # Protocol <3 pickles (torch uses 2) spell Python 3 names the Python 2 way
    # (`__builtin__.set`); rename as pickle's fix_imports would, then check.
    if (module, name) in _compat_pickle.NAME_MAPPING:
      module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    try:
      return _Frozen(_ALLOWED[(module, name)])
    except KeyError:
      raise UnsafeCheckpointError(
        f"{self._path}: refused global '{module}.{name}': only plain state_dict "
        "contents are allowed (this pickle could run code). If the file is trusted, "
        "re-save just its tensors with torch.save(state_dict, path)") from None

  def persistent_load(self, pid: Any) -> _Storage:
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
        and isinstance(pid[1], _Frozen) and isinstance(pid[1]._obj, _StorageType)
        and isinstance(pid[2], str) and isinstance(pid[4], int) and pid[4] >= 0):
      raise CheckpointFormatError(f"{self._path}: unsupported persistent id {pid!r}")
    _, frozen, key, _location, numel = pid
    stype = frozen._obj
    if (key, stype.name) not in self._storages:
      self._storages[key, stype.name] = self._load_storage(stype, key, numel)
    return self._storages[key, stype.name]


def _open_zip(path: str) -> zipfile.ZipFile:
  with open(path, "rb") as f:
    head = f.read(4)
  if not head:
    raise CheckpointFormatError(f"{path}: file is empty")
  if head[:1] == b"\x80" or (head[:2] != b"PK" and tarfile.is_tarfile(path)):
    raise LegacyCheckpointError(
      f"{path}: legacy (pre-1.6, non-zip) torch checkpoint; re-save it with a recent "
      "torch: torch.save(torch.load(p, map_location='cpu', weights_only=True), new_p)")
  if head[:2] != b"PK":
    raise CheckpointFormatError(f"{path}: not a torch zip checkpoint (header {head!r})")
  try:
    return zipfile.ZipFile(path)
  except (zipfile.BadZipFile, OSError, EOFError) as e:
    raise CheckpointFormatError(f"{path}: corrupt or truncated zip archive ({e})") from e


def _read_pickle(path: str) -> Any:
  """Unpickle `data.pkl` of a torch zip checkpoint into numpy-backed objects."""
  with _open_zip(path) as zf:
    names = set(zf.namelist())
    pkl = sorted(n for n in names if n.count("/") == 1 and n.endswith("/data.pkl"))
    if not pkl:
      raise CheckpointFormatError(f"{path}: zip has no '<prefix>/data.pkl' record")
    prefix = pkl[0][: -len("data.pkl")]

    def read(name: str, nbytes: int = -1) -> bytes:
      try:
        with zf.open(name) as f:
          return f.read(nbytes)
      except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        raise CheckpointFormatError(f"{path}: cannot read record '{name}' ({e})") from e

    order = "little"
    if prefix + "byteorder" in names:
      order = read(prefix + "byteorder").decode("ascii", "replace").strip()
      if order not in ("little", "big"):
        raise CheckpointFormatError(f"{path}: unknown byteorder {order!r}")

    def load_storage(stype: _StorageType, key: str, numel: int) -> _Storage:
      name = f"{prefix}data/{key}"
      if name not in names:
        raise CheckpointFormatError(f"{path}: missing storage record '{name}'")
      dtype = stype.dtype.newbyteorder("<" if order == "little" else ">")
      nbytes = numel * dtype.itemsize
      if nbytes > zf.getinfo(name).file_size:  # checked before reading or allocating
        raise CheckpointFormatError(
          f"{path}: storage '{name}' declares {numel} x {stype!r} ({nbytes} bytes) but the "
          f"record holds {zf.getinfo(name).file_size} bytes")
      raw = read(name, nbytes)
      if len(raw) < nbytes:
        raise CheckpointFormatError(f"{path}: storage '{name}' has {len(raw)} bytes, "
                      f"expected {nbytes} ({numel} x {stype!r})")
      arr = np.frombuffer(raw, dtype=dtype)
      return _Storage(arr.astype(stype.dtype.newbyteorder("=")), stype.bf16)

    try:
      return _SafeUnpickler(read(prefix + "data.pkl"), path, load_storage).load()
    except CheckpointError as e:  # add the path to errors raised while rebuilding
      if str(e).startswith(path):
        raise
      raise type(e)(f"{path}: {e}") from e
    except Exception as e:  # malformed pickle stream or bad REDUCE arguments
      raise CheckpointFormatError(f"{path}: corrupt data.pkl ({type(e).__name__}: {e})") from e


def _is_state_dict(obj: Any) -> bool:
  return isinstance(obj, dict) and all(
    isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items())


def _extract(obj: Any, path: str) -> dict[str, np.ndarray]:
  """Unwrap `{'state_dict'|'network'|'model': sd, ...}` and strip DDP `module.`."""
  if not _is_state_dict(obj) and isinstance(obj, dict):
    obj = next((obj[k] for k in WRAPPER_KEYS if _is_state_dict(obj.get(k))), obj)
  if not _is_state_dict(obj):
    what = (f"dict with keys {sorted(map(str, obj))[:10]}" if isinstance(obj, dict)
        else type(obj).__name__)
    raise CheckpointFormatError(
      f"{path}: not a state_dict (str -> tensor) nor a dict wrapping one under "
      f"{WRAPPER_KEYS}; got {what}")
  sd = dict(obj)
  if sd and all(k.startswith("module.") for k in sd):
    sd = {k[len("module."):]: v for k, v in sd.items()}
  return sd


def _load_with_torch(path: str) -> Any:
  try:
    import torch  # optional dependency
  except ImportError as e:
    raise CheckpointError(
        f"--use_torch: torch is not installed ({e})",
        hint="pip install 'rde-jax[torch]', or drop --use_torch: the built-in reader needs no "
             "torch and runs no pickled code") from None

  def conv(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
      t = o.detach().cpu()
      return (t.float() if t.dtype == torch.bfloat16 else t).numpy().copy()
    return {k: conv(v) for k, v in o.items()} if isinstance(o, dict) else o

  try:
    obj = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # torch raises UnpicklingError, RuntimeError, ... for bad files
    text = " ".join(str(e).split())[:200]
    raise CheckpointFormatError(f"{path}: torch.load refused it ({type(e).__name__}: {text})"
                                ) from e
  return conv(obj)


def load_state_dict(path: str | os.PathLike[str], *,
                    use_torch: bool = False) -> dict[str, np.ndarray]:
  """Load a torch `.pth` state_dict as `{name: numpy array}` without executing code.

  Accepts a bare state_dict or a checkpoint dict holding one under `state_dict`,
  `network` or `model`; a `module.` prefix shared by all keys is removed.
  bfloat16 tensors are upcast to float32.  `use_torch=True` delegates to
  `torch.load(weights_only=True)` (requires torch).

  Raises:
   UnsafeCheckpointError: the pickle references a non-allowlisted global.
   CheckpointFormatError: corrupt/truncated/legacy file or no state_dict inside.
  """
  path = os.fspath(path)
  obj = _load_with_torch(path) if use_torch else _read_pickle(path)
  return _extract(obj, path)
