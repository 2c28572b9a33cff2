"""State-dict conversion: exact round trip, architecture read-off, loud failures."""

import jax
import numpy as np
import pytest

from rde_jax import convert
from rde_jax.model import architectures
from rde_jax.model.architectures import Arch
from rde_jax.model.network import count_params, init_variables


OFFICIAL_PARAMS = 64_020_836


def test_official_architecture_has_the_official_parameter_count():
  shapes = convert.expected_shapes(Arch.from_config(architectures.official()))
  assert sum(int(np.prod(s)) for s in shapes["params"].values()) == OFFICIAL_PARAMS
  assert len(shapes["params"]) == 261  # trainable tensors of the official state dict
  assert len(shapes["batch_stats"]) == 2 * 58


@pytest.fixture(scope="module")
def tiny_sd():
  arch = Arch.from_config(architectures.tiny())
  return arch, convert.to_torch_state_dict(init_variables(arch, jax.random.key(0)))


def test_round_trip_is_exact(tiny_sd):
  arch, sd = tiny_sd
  assert convert.arch_from_state_dict(sd) == arch
  variables = convert.from_torch_state_dict(sd)
  assert convert.arch_from_variables(variables) == arch
  assert architectures.from_variables(variables) == arch  # read off the Flax tree itself
  back = convert.to_torch_state_dict(variables)
  assert set(back) == set(sd)
  for k in sd:
    np.testing.assert_array_equal(back[k], sd[k], err_msg=k)


def test_layouts_are_transposed_as_pytorch(tiny_sd):
  _, sd = tiny_sd
  variables = convert.from_torch_state_dict(sd)
  w = sd["key_encoder.conv1.weight"]  # (O, I, kh, kw)
  np.testing.assert_array_equal(variables["params"]["key_encoder"]["conv1"]["kernel"],
                                np.transpose(w, (2, 3, 1, 0)))
  w3 = sd["mem_compress.compress_key.weight"]  # (O, I, kt, kh, kw)
  np.testing.assert_array_equal(variables["params"]["mem_compress"]["compress_key"]["kernel"],
                                np.transpose(w3, (2, 3, 4, 1, 0)))
  lin = sd["value_encoder.fuser.attention.ChannelGate.mlp.1.weight"]
  np.testing.assert_array_equal(
      variables["params"]["value_encoder"]["fuser"]["attention"]["ChannelGate"]["mlp_1"]["kernel"],
      lin.T)
  np.testing.assert_array_equal(
      variables["batch_stats"]["key_encoder"]["res2_0"]["downsample_1"]["var"],
      sd["key_encoder.res2.0.downsample.1.running_var"])


def test_missing_key_is_named(tiny_sd):
  _, sd = tiny_sd
  bad = dict(sd)
  del bad["decoder.pred.bias"]
  with pytest.raises(convert.ConversionError, match=r"missing \(1\): decoder\.pred\.bias"):
    convert.from_torch_state_dict(bad)


def test_wrong_shape_is_named(tiny_sd):
  arch, sd = tiny_sd
  bad = dict(sd)
  bad["key_comp.bias"] = np.zeros(3, np.float32)
  with pytest.raises(convert.ConversionError, match=r"wrong shape \(1\): key_comp\.bias: got \(3,\)"):
    convert.from_torch_state_dict(bad, arch)


def test_unexpected_key_is_named(tiny_sd):
  _, sd = tiny_sd
  bad = dict(sd)
  bad["key_encoder.layer4.0.conv1.weight"] = np.zeros((1, 1, 1, 1), np.float32)
  with pytest.raises(convert.ConversionError,
                     match=r"unexpected \(1\): key_encoder\.layer4\.0\.conv1\.weight"):
    convert.from_torch_state_dict(bad)


def test_stage0_four_channel_network_without_sam():
  cfg = architectures.tiny()
  cfg.value_in_channels = 4
  cfg.with_mem_compress = False
  arch = Arch.from_config(cfg)
  sd = convert.to_torch_state_dict(init_variables(arch, jax.random.key(1)))
  assert sd["value_encoder.conv1.weight"].shape[1] == 4
  assert not any(k.startswith("mem_compress") for k in sd)
  variables = convert.from_torch_state_dict(sd)
  assert convert.arch_from_variables(variables) == arch
  # A 4-channel state dict forced into the 5-channel architecture is refused, naming the key.
  with pytest.raises(convert.ConversionError, match="value_encoder.conv1.weight"):
    convert.from_torch_state_dict(sd, Arch.from_config(architectures.tiny()))


def test_not_an_rde_state_dict():
  with pytest.raises(convert.ConversionError, match="not an RDE-VOS"):
    convert.from_torch_state_dict({"fc.weight": np.zeros((2, 2), np.float32)})


def test_tiny_config_is_small_and_bad_configs_are_refused():
  assert count_params(init_variables(Arch.from_config(architectures.tiny()),
                                     jax.random.key(0))["params"]) < 2_000_000
  cfg = architectures.tiny()
  cfg.value_dim = 30
  with pytest.raises(ValueError, match="value_dim must be divisible by 4"):
    Arch.from_config(cfg)
  with pytest.raises(ValueError, match="unknown architecture"):
    architectures.get("huge")
