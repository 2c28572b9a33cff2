"""Model directories: save/load round trip, the convert CLI on a torch-format file, errors."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from tests import torch_zip_writer

from rde_jax import checkpoint, convert
from rde_jax.model import architectures
from rde_jax.model.architectures import Arch
from rde_jax.model.network import init_variables


@pytest.fixture(scope="module")
def tiny():
  arch = Arch.from_config(architectures.tiny())
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
    checkpoint.load_model(tmp_path / "m", Arch.from_config(architectures.official()))
  with pytest.raises(FileNotFoundError, match="no model.json"):
    checkpoint.load_model(tmp_path / "nothing")


@pytest.mark.system
def test_convert_cli_reads_a_pth_without_torch(tmp_path, tiny):
  arch, variables = tiny
  sd = convert.to_torch_state_dict(variables)
  pth = tmp_path / "model.pth"
  torch_zip_writer.save(sd, pth)
  proc = _convert_cli(pth, tmp_path / "out")
  assert proc.returncode == 0, proc.stderr
  arch2, restored = checkpoint.load_model(tmp_path / "out")
  assert arch2 == arch
  _assert_same(restored, variables)


@pytest.mark.system
def test_convert_cli_refuses_a_truncated_pth(tmp_path, tiny):
  _, variables = tiny
  pth = tmp_path / "model.pth"
  torch_zip_writer.save(convert.to_torch_state_dict(variables), pth)
  data = pth.read_bytes()
  pth.write_bytes(data[: len(data) // 2])
  from rde_jax.convert import pth_reader
  with pytest.raises(pth_reader.CheckpointError, match="model.pth"):
    convert.convert_file(str(pth), str(tmp_path / "out"))
  proc = _convert_cli(pth, tmp_path / "out")
  assert proc.returncode == 1
  assert proc.stderr.strip().startswith("error: ") and "model.pth" in proc.stderr
  assert "Traceback" not in proc.stderr
  assert not (tmp_path / "out").exists()


def _convert_cli(pth, out):
  """`python -m rde_jax.convert` as a user runs it (no torch needed)."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=root)
  return subprocess.run([sys.executable, "-m", "rde_jax.convert", f"--input={pth}",
                         f"--output={out}"], env=env, capture_output=True, text=True,
                        timeout=300, cwd=root)
