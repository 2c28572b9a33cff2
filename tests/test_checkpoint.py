"""Model directories: save/load round trip, the convert CLI on a torch-format file, errors."""

import json

import jax
import numpy as np
import pytest

from rde_jax import checkpoint, convert, model_config
from rde_jax.network import Arch, init_variables
from tests import torch_zip_writer


@pytest.fixture(scope="module")
def tiny():
  arch = Arch.from_config(model_config.tiny())
  return arch, init_variables(arch, jax.random.key(3))


def _assert_same(a, b):
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_save_load_round_trip(tmp_path, tiny):
  arch, variables = tiny
  checkpoint.save_model(tmp_path / "m", variables, arch, source="test")
  arch2, restored = checkpoint.load_model(tmp_path / "m")
  assert arch2 == arch
  _assert_same(restored, variables)
  assert json.loads((tmp_path / "m" / "model.json").read_text())["source"] == "test"


def test_architecture_mismatch_is_refused(tmp_path, tiny):
  arch, variables = tiny
  checkpoint.save_model(tmp_path / "m", variables, arch)
  with pytest.raises(checkpoint.CheckpointMismatchError, match="does not match"):
    checkpoint.load_model(tmp_path / "m", Arch.from_config(model_config.official()))
  with pytest.raises(FileNotFoundError, match="no model.json"):
    checkpoint.load_model(tmp_path / "nothing")


def test_convert_cli_reads_a_pth_without_torch(tmp_path, tiny):
  arch, variables = tiny
  sd = convert.to_torch_state_dict(variables)
  pth = tmp_path / "model.pth"
  torch_zip_writer.save(sd, pth)
  convert.main(["--input", str(pth), "--output", str(tmp_path / "out")])
  arch2, restored = checkpoint.load_model(tmp_path / "out")
  assert arch2 == arch
  _assert_same(restored, variables)


def test_convert_cli_refuses_a_truncated_pth(tmp_path, tiny):
  _, variables = tiny
  pth = tmp_path / "model.pth"
  torch_zip_writer.save(convert.to_torch_state_dict(variables), pth)
  data = pth.read_bytes()
  pth.write_bytes(data[: len(data) // 2])
  from rde_jax import pth_reader
  with pytest.raises(pth_reader.CheckpointError, match="model.pth"):
    convert.convert_file(str(pth), str(tmp_path / "out"))
  assert convert.main(["--input", str(pth), "--output", str(tmp_path / "out")]) == 1
  assert not (tmp_path / "out").exists()
