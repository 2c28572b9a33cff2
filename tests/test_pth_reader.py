"""Tests for rde_jax.pth_reader (no torch needed)."""

from __future__ import annotations

import collections
import os
import pickle
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rde_jax.convert.pth_reader import (CheckpointError, CheckpointFormatError,
                                        LegacyCheckpointError, load_state_dict,
                                        UnsafeCheckpointError)

from . import torch_zip_writer as tw


DATA = Path(__file__).parent / "data"


def _mixed_state_dict() -> collections.OrderedDict:
  sd = collections.OrderedDict()
  sd["conv.weight"] = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
  sd["f64"] = np.linspace(-1, 1, 5)
  sd["bn.num_batches_tracked"] = np.array(123, dtype=np.int64)
  sd["mask"] = np.array([[True, False], [False, True]])
  sd["half"] = np.array([0.5, -1.25, 65504.0], dtype=np.float16)
  sd["i32"] = np.array([-(2**31), 2**31 - 1], dtype=np.int32)
  sd["i16"] = np.array([-7, 7], dtype=np.int16)
  sd["i8"] = np.array([-128, 127], dtype=np.int8)
  sd["u8"] = np.array([0, 255], dtype=np.uint8)
  sd["empty"] = np.zeros((0, 3), np.float32)
  return sd


def assert_same(got: dict, want: dict) -> None:
  assert list(got) == list(want)
  for k, w in want.items():
    g = got[k]
    assert isinstance(g, np.ndarray), k
    assert g.dtype == w.dtype and g.shape == w.shape, (k, g.dtype, g.shape, w.dtype, w.shape)
    np.testing.assert_array_equal(g, w, err_msg=k)


# --------------------------------------------------------------------------- round trips

def test_round_trip_dtypes_and_scalar(tmp_path: Path) -> None:
  sd = _mixed_state_dict()
  tw.save(sd, tmp_path / "m.pth")
  got = load_state_dict(tmp_path / "m.pth")
  assert_same(got, sd)
  assert got["bn.num_batches_tracked"].shape == () and int(got["bn.num_batches_tracked"]) == 123
  assert all(v.flags.c_contiguous and v.flags.writeable for v in got.values())


def test_non_contiguous_offset_and_shared_storage(tmp_path: Path) -> None:
  flat = np.arange(12, dtype=np.float32)
  sd = {
    "transposed": tw.Tensor(flat, (4, 3), (1, 4)),                 # (3,4).T
    "sliced": tw.Tensor(flat, (2, 2), (6, 2), offset=1),           # [::2] rows, [1::2] cols
    "a": tw.Tensor(flat, (2, 3), (3, 1), key="shared"),
    "b": tw.Tensor(flat, (5,), (1,), offset=7, key="shared"),
    "bcast": tw.Tensor(flat, (3, 2), (0, 1), offset=10),           # stride 0 (expand)
  }
  tw.save(sd, tmp_path / "v.pth")
  got = load_state_dict(tmp_path / "v.pth")
  np.testing.assert_array_equal(got["transposed"], flat.reshape(3, 4).T)
  np.testing.assert_array_equal(got["sliced"], flat.reshape(2, 6)[:, 1::2][:, :2])
  np.testing.assert_array_equal(got["a"], flat[:6].reshape(2, 3))
  np.testing.assert_array_equal(got["b"], flat[7:])
  np.testing.assert_array_equal(got["bcast"], np.tile(flat[10:], (3, 1)))
  assert got["transposed"].flags.c_contiguous
  got["a"][0, 0] = 99  # copies: views of one storage must not alias
  assert got["b"][0] == 7 and got["transposed"][0, 0] == 0


def test_bfloat16_upcast(tmp_path: Path) -> None:
  vals = np.array([[1.0, -2.5, 3.140625], [0.0, -0.0, 1e30]], np.float32)
  tw.save({"w": tw.bf16(vals)}, tmp_path / "b.pth")
  got = load_state_dict(tmp_path / "b.pth")["w"]
  assert got.dtype == np.float32
  want = ((vals.view(np.uint32) >> 16) << 16).view(np.float32)  # bf16-truncated values
  np.testing.assert_array_equal(got, want)


def test_many_keys_keep_order(tmp_path: Path) -> None:
  sd = collections.OrderedDict((f"layer{i}.w", np.full((2,), i, np.float32))
                 for i in reversed(range(300)))
  tw.save(sd, tmp_path / "many.pth")
  assert_same(load_state_dict(tmp_path / "many.pth"), sd)


@pytest.mark.parametrize("byteorder", ["little", "big", None])
def test_byteorder(tmp_path: Path, byteorder: str | None) -> None:
  sd = _mixed_state_dict()
  data_pkl, storages = tw.dumps(sd)
  tw.write_zip(tmp_path / "e.pth", data_pkl, {k: a for k, (a, _) in storages.items()},
         prefix="some_name", byteorder=byteorder)
  assert_same(load_state_dict(str(tmp_path / "e.pth")), sd)


# --------------------------------------------------------------------------- wrapping

@pytest.mark.parametrize("wrapper", ["state_dict", "network", "model"])
def test_checkpoint_dict_unwrapped(tmp_path: Path, wrapper: str) -> None:
  sd = _mixed_state_dict()
  ckpt = {"epoch": 3, "lr": 1e-4, "tags": ["a", None, (1, 2)], "big": 2**40,
      wrapper: sd, "optimizer": {"state": {0: {"step": np.array(5.0)}}}}
  tw.save(ckpt, tmp_path / "c.pth")
  assert_same(load_state_dict(tmp_path / "c.pth"), sd)


def test_module_prefix_stripped_only_if_all_keys_have_it(tmp_path: Path) -> None:
  sd = _mixed_state_dict()
  tw.save({"network": {"module." + k: v for k, v in sd.items()}}, tmp_path / "ddp.pth")
  assert_same(load_state_dict(tmp_path / "ddp.pth"), sd)
  mixed = {"module.a": np.zeros(1), "b": np.ones(1)}
  tw.save(mixed, tmp_path / "mixed.pth")
  assert list(load_state_dict(tmp_path / "mixed.pth")) == ["module.a", "b"]


def test_counter_and_set_allowed_in_training_checkpoint(tmp_path: Path) -> None:
  # MultiStepLR keeps milestones in a collections.Counter; sets/bytes via real pickle.
  sd = {"w": np.ones(2, np.float32)}
  tw.save({"network": sd, "scheduler": {"milestones": collections.Counter([10, 20])},
       "s": {1, 2}, "raw": b"\x00\xff"}, tmp_path / "t.pth")
  assert_same(load_state_dict(tmp_path / "t.pth"), sd)


def test_not_a_state_dict(tmp_path: Path) -> None:
  tw.save({"epoch": 1, "weights": [np.zeros(2)]}, tmp_path / "n.pth")
  with pytest.raises(CheckpointFormatError, match="not a state_dict"):
    load_state_dict(tmp_path / "n.pth")


# --------------------------------------------------------------------------- safety

class _Evil:
  def __init__(self, func: object, args: tuple) -> None:
    self.func, self.args = func, args

  def __reduce__(self) -> tuple:
    return self.func, self.args


def _payloads(marker: Path) -> dict[str, _Evil]:
  m = str(marker)
  return {
    "posix.system": _Evil(os.system, (f"touch '{m}'",)),
    "builtins.eval": _Evil(eval, (f"__import__('pathlib').Path({m!r}).touch()",)),
    "subprocess.Popen": _Evil(subprocess.Popen, (["touch", m],)),
    "builtins.exec": _Evil(exec, (f"open({m!r}, 'w').close()",)),
  }


@pytest.mark.parametrize("name", ["posix.system", "builtins.eval", "subprocess.Popen", "builtins.exec"])
def test_malicious_global_inside_state_dict_refused(tmp_path: Path, name: str) -> None:
  if name == "posix.system" and os.name != "posix":
    pytest.skip("posix only")
  marker = tmp_path / "pwned"
  evil = _payloads(marker)[name]
  path = tmp_path / "evil.pth"
  tw.save({"w": np.zeros(2, np.float32), "x": evil}, path)
  with pytest.raises(UnsafeCheckpointError) as ei:
    load_state_dict(path)
  assert name in str(ei.value) and str(path) in str(ei.value)
  assert not marker.exists()


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_malicious_pickle_any_protocol_refused(tmp_path: Path, protocol: int) -> None:
  marker = tmp_path / "pwned"
  evil = _payloads(marker)["builtins.eval"]
  tw.write_zip(tmp_path / "evil.pth", pickle.dumps(evil, protocol=protocol), {})
  with pytest.raises(UnsafeCheckpointError, match=r"builtins\.eval"):
    load_state_dict(tmp_path / "evil.pth")
  assert not marker.exists()


def test_malicious_storage_type_refused(tmp_path: Path) -> None:
  data_pkl, storages = tw.dumps({"w": np.zeros(2, np.float32)})
  data_pkl = data_pkl.replace(b"ctorch\nFloatStorage\n", b"cos\nsystem\n")
  tw.write_zip(tmp_path / "s.pth", data_pkl, {k: a for k, (a, _) in storages.items()})
  with pytest.raises(UnsafeCheckpointError, match=r"os\.system"):
    load_state_dict(tmp_path / "s.pth")


@pytest.mark.parametrize("target", [("collections", "Counter"), ("torch._utils", "_rebuild_tensor_v2"),
                  ("torch", "FloatStorage")])
def test_build_cannot_monkeypatch_allowlisted_globals(tmp_path: Path, target: tuple) -> None:
  # GLOBAL target; state (None, {'keys': OrderedDict}); BUILD -> setattr(target, 'keys', ...)
  slot_state = (b"N}" + tw._str("keys") + tw._global("collections", "OrderedDict") + b"s\x86")
  pkl = b"\x80\x02" + tw._global(*target) + slot_state + b"b0}."
  tw.write_zip(tmp_path / "mp.pth", pkl, {})
  keys_before = collections.Counter.keys
  with pytest.raises(UnsafeCheckpointError, match=r"mp.pth: refused to set attribute 'keys'"):
    load_state_dict(tmp_path / "mp.pth")
  assert collections.Counter.keys is keys_before
  assert not hasattr(collections.Counter, "__wrapped__")


# --------------------------------------------------------------------------- corrupt files

def _good(tmp_path: Path) -> Path:
  path = tmp_path / "good.pth"
  tw.save(_mixed_state_dict(), path)
  return path


@pytest.mark.parametrize("keep", [0.3, 0.9, 0.999])
def test_truncated_file(tmp_path: Path, keep: float) -> None:
  raw = _good(tmp_path).read_bytes()
  path = tmp_path / "trunc.pth"
  path.write_bytes(raw[: int(len(raw) * keep)])
  with pytest.raises(CheckpointFormatError, match="trunc.pth") as ei:
    load_state_dict(path)
  assert "zip" in str(ei.value)


def test_empty_and_garbage_files(tmp_path: Path) -> None:
  (tmp_path / "empty.pth").write_bytes(b"")
  with pytest.raises(CheckpointFormatError, match="empty"):
    load_state_dict(tmp_path / "empty.pth")
  (tmp_path / "junk.pth").write_bytes(b"hello world, not a checkpoint")
  with pytest.raises(CheckpointFormatError, match="junk.pth"):
    load_state_dict(tmp_path / "junk.pth")


def test_legacy_format(tmp_path: Path) -> None:
  # Pre-1.6 files start with a protocol-2 pickle of torch's magic number.
  path = tmp_path / "legacy.pth"
  path.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + b"rest")
  with pytest.raises(LegacyCheckpointError, match="re-save"):
    load_state_dict(path)


def _rewrite(src: Path, dst: Path, drop: str = "", patch: dict[str, bytes] | None = None) -> None:
  with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
    for info in zin.infolist():
      if drop and info.filename.endswith(drop):
        continue
      zout.writestr(info.filename, (patch or {}).get(info.filename, zin.read(info)))


def test_missing_data_pkl(tmp_path: Path) -> None:
  _rewrite(_good(tmp_path), tmp_path / "bad.pth", drop="/data.pkl")
  with pytest.raises(CheckpointFormatError, match="data.pkl"):
    load_state_dict(tmp_path / "bad.pth")


def test_missing_storage_record(tmp_path: Path) -> None:
  _rewrite(_good(tmp_path), tmp_path / "bad.pth", drop="/data/0")
  with pytest.raises(CheckpointFormatError, match=r"missing storage record 'archive/data/0'"):
    load_state_dict(tmp_path / "bad.pth")


def test_storage_too_short(tmp_path: Path) -> None:
  _rewrite(_good(tmp_path), tmp_path / "bad.pth", patch={"archive/data/0": b"\x00" * 10})
  with pytest.raises(CheckpointFormatError, match=r"bad.pth.*the record holds 10 bytes"):
    load_state_dict(tmp_path / "bad.pth")


def test_tensor_exceeds_storage(tmp_path: Path) -> None:
  tw.save({"w": tw.Tensor(np.arange(4, dtype=np.float32), (2, 2), (2, 1), offset=1)},
          tmp_path / "o.pth")
  with pytest.raises(CheckpointFormatError, match=r"o.pth: storage has 4 elements"):
    load_state_dict(tmp_path / "o.pth")


@pytest.mark.parametrize("size,stride", [((3, 2), (2, 1)), ((2**31,), (0,)),
                                         ((2**20, 2**20), (0, 0))])
def test_more_elements_than_the_storage_are_refused_before_allocating(tmp_path, size, stride):
  # A 1 KB file must not make the reader allocate gigabytes (a stride-0 view passes the
  # last-element bound check).
  tw.save({"w": tw.Tensor(np.arange(4, dtype=np.float32), size, stride)}, tmp_path / "o.pth")
  assert (tmp_path / "o.pth").stat().st_size < 2048
  with pytest.raises(CheckpointFormatError, match=r"o.pth: .*declares \d+ elements but its "
                     r"storage holds 4; refusing"):
    load_state_dict(tmp_path / "o.pth")


def test_many_views_of_one_storage_are_refused(tmp_path):
  big = np.zeros(1000, np.float32)
  views = {f"w{i}": tw.Tensor(big, (1000,), (1,), key="0") for i in range(3)}
  tw.save(views, tmp_path / "o.pth")
  with pytest.raises(CheckpointFormatError, match=r"3000 declared by all its tensors"):
    load_state_dict(tmp_path / "o.pth")
  tw.save({k: views[k] for k in ("w0", "w1")}, tmp_path / "tied.pth")  # tied weights: fine
  assert set(load_state_dict(tmp_path / "tied.pth")) == {"w0", "w1"}


def test_storage_larger_than_its_record_is_refused_before_reading(tmp_path):
  _rewrite(_good(tmp_path), tmp_path / "bad.pth", patch={"archive/data/0": b"\x00" * 8})
  with pytest.raises(CheckpointFormatError, match=r"declares \d+ x torch\.\w+ .* holds 8 bytes"):
    load_state_dict(tmp_path / "bad.pth")


def test_use_torch_without_torch_gives_an_install_hint(tmp_path, monkeypatch):
  import sys
  monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
  with pytest.raises(CheckpointError) as e:
    load_state_dict(_good(tmp_path), use_torch=True)
  assert "--use_torch: torch is not installed" in str(e.value)
  assert "pip install 'rde-jax[torch]'" in e.value.hint


def test_corrupt_pickle(tmp_path: Path) -> None:
  tw.write_zip(tmp_path / "p.pth", b"\x80\x02}q\x00(X\x01", {})
  with pytest.raises(CheckpointFormatError, match="corrupt data.pkl"):
    load_state_dict(tmp_path / "p.pth")


# --------------------------------------------------------------------------- real torch

def test_real_torch_fixture() -> None:
  """tests/data/torch_ckpt.pth was written by torch 2.13 (see tests/data/README.md)."""
  got = load_state_dict(DATA / "torch_ckpt.pth")
  want = dict(np.load(DATA / "torch_ckpt_ref.npz"))
  assert_same(got, want)
  assert got["1.num_batches_tracked"].dtype == np.int64 and got["1.num_batches_tracked"].shape == ()
  assert got["bf16"].dtype == np.float32 and got["fp16"].dtype == np.float16


def test_use_torch_matches_own_reader(tmp_path: Path) -> None:
  pytest.importorskip("torch")
  path = DATA / "torch_ckpt.pth"
  assert_same(load_state_dict(path, use_torch=True), load_state_dict(path))
