"""Test helper: write ``.pth`` files in torch's zip format without torch.

The pickle opcodes are emitted by hand to mirror what ``torch.save`` produces
(protocol 2, ``GLOBAL`` for ``collections.OrderedDict``,
``torch._utils._rebuild_tensor_v2`` and ``torch.<X>Storage``, ``BINPERSID`` for
storages).  Values of any other type are pickled with the standard :mod:`pickle`
module and spliced in, which is how the tests build malicious payloads.
"""

from __future__ import annotations

import collections
import dataclasses
import pickle
import struct
import zipfile
from typing import Any

import numpy as np

_STORAGE_NAMES = {
  np.dtype("float32"): "FloatStorage", np.dtype("float64"): "DoubleStorage",
  np.dtype("float16"): "HalfStorage", np.dtype("int64"): "LongStorage",
  np.dtype("int32"): "IntStorage", np.dtype("int16"): "ShortStorage",
  np.dtype("int8"): "CharStorage", np.dtype("uint8"): "ByteStorage",
  np.dtype("bool"): "BoolStorage",
}


@dataclasses.dataclass
class Tensor:
  """A tensor as torch serializes it: a flat storage plus offset/size/stride.

  ``key`` lets several tensors share one storage record (views).
  """

  storage: np.ndarray
  size: tuple[int, ...]
  stride: tuple[int, ...]
  offset: int = 0
  storage_type: str | None = None  # defaults from storage dtype; "BFloat16Storage" for bf16
  key: str | None = None

  @classmethod
  def of(cls, arr: np.ndarray) -> "Tensor":
    arr = np.array(arr, order="C")  # (ascontiguousarray would make 0-d 1-d)
    strides = tuple(s // arr.itemsize for s in arr.strides)
    return cls(arr.reshape(-1), arr.shape, strides)


def bf16(x: np.ndarray) -> Tensor:
  """A bfloat16 tensor from float32 values (truncating the low 16 bits)."""
  bits = (np.ascontiguousarray(x, np.float32).view(np.uint32) >> 16).astype(np.uint16)
  t = Tensor.of(bits)
  t.storage_type = "BFloat16Storage"
  return t


def _global(module: str, name: str) -> bytes:
  return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _str(s: str) -> bytes:
  b = s.encode("utf-8")
  return b"X" + struct.pack("<I", len(b)) + b


def _int(i: int) -> bytes:
  if 0 <= i < 256:
    return b"K" + bytes([i])
  if -(2**31) <= i < 2**31:
    return b"J" + struct.pack("<i", i)
  return pickle.dumps(i, protocol=2)[2:-1]  # LONG1


class _Emitter:
  def __init__(self) -> None:
    self.storages: dict[str, tuple[np.ndarray, str]] = {}

  def value(self, v: Any) -> bytes:
    if v is None:
      return b"N"
    if isinstance(v, bool):
      return b"\x88" if v else b"\x89"
    if isinstance(v, int):
      return _int(v)
    if isinstance(v, float):
      return b"G" + struct.pack(">d", v)
    if isinstance(v, str):
      return _str(v)
    if isinstance(v, tuple):
      return b"(" + b"".join(map(self.value, v)) + b"t"
    if isinstance(v, list):
      return b"](" + b"".join(map(self.value, v)) + b"e"
    if isinstance(v, np.ndarray):
      v = Tensor.of(v)
    if isinstance(v, Tensor):
      return self.tensor(v)
    if type(v) in (dict, collections.OrderedDict):
      head = (_global("collections", "OrderedDict") + b")R"
          if isinstance(v, collections.OrderedDict) else b"}")
      body = b"".join(self.value(k) + self.value(x) for k, x in v.items())
      return head + (b"(" + body + b"u" if v else b"")
    # Anything else (e.g. a malicious __reduce__) goes through real pickle.
    return pickle.dumps(v, protocol=2)[2:-1]

  def tensor(self, t: Tensor) -> bytes:
    stype = t.storage_type or _STORAGE_NAMES[t.storage.dtype]
    key = t.key if t.key is not None else str(len(self.storages))
    self.storages.setdefault(key, (np.ascontiguousarray(t.storage).reshape(-1), stype))
    numel = self.storages[key][0].size
    pid = (b"(" + _str("storage") + _global("torch", stype) + _str(key) + _str("cpu")
        + _int(numel) + b"tQ")
    args = (pid + _int(t.offset) + self.value(tuple(t.size)) + self.value(tuple(t.stride))
        + b"\x89" + _global("collections", "OrderedDict") + b")R")
    return _global("torch._utils", "_rebuild_tensor_v2") + b"(" + args + b"tR"


def dumps(obj: Any) -> tuple[bytes, dict[str, tuple[np.ndarray, str]]]:
  """Return ``(data.pkl bytes, {key: (flat storage, storage type)})``."""
  em = _Emitter()
  return b"\x80\x02" + em.value(obj) + b".", em.storages


def write_zip(path: Any, data_pkl: bytes, storages: dict[str, np.ndarray],
       prefix: str = "archive", byteorder: str | None = "little") -> None:
  """Write a torch-style zip: data.pkl, data/<key>, byteorder, version (stored)."""
  with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
    zf.writestr(f"{prefix}/data.pkl", data_pkl)
    if byteorder is not None:
      zf.writestr(f"{prefix}/byteorder", byteorder)
    end = "<" if byteorder in (None, "little") else ">"
    for key, arr in storages.items():
      raw = arr.astype(arr.dtype.newbyteorder(end)).tobytes()
      zf.writestr(f"{prefix}/data/{key}", raw)
    zf.writestr(f"{prefix}/version", "3\n")


def save(obj: Any, path: Any, prefix: str = "archive", byteorder: str = "little") -> None:
  """``torch.save`` look-alike for dicts of numpy arrays / :class:`Tensor` specs."""
  data_pkl, storages = dumps(obj)
  write_zip(path, data_pkl, {k: a for k, (a, _) in storages.items()}, prefix, byteorder)
