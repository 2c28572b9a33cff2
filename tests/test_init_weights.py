"""Initial weights: torchvision ImageNet ResNets and a previous (stage-0) checkpoint."""

import numpy as np

from rde_jax import convert
from rde_jax.model import architectures
from rde_jax.model.architectures import Arch
from rde_jax.model.network import init_variables
from rde_jax.train import initial_weights


def _torchvision_like(sd: dict, prefix: str, rename: dict) -> dict:
  """An encoder of our state dict in torchvision's key names, plus layer4/fc to be ignored."""
  out = {}
  for k, v in sd.items():
    if k.startswith(prefix + ".") and ".fuser." not in k:
      parts = k[len(prefix) + 1:].split(".")
      parts[0] = rename.get(parts[0], parts[0])
      out[".".join(parts)] = v
  out["fc.weight"] = np.zeros((10, 4), np.float32)
  out["layer4.0.conv1.weight"] = np.zeros((1, 1, 1, 1), np.float32)
  return out


def test_imagenet_resnets_land_in_the_encoders():
  arch = Arch.from_config(architectures.tiny())
  source = convert.to_torch_state_dict(init_variables(arch, 1))
  r50 = _torchvision_like(source, "key_encoder", {"res2": "layer1"})
  r18 = _torchvision_like(source, "value_encoder", {})
  r18["conv1.weight"] = r18["conv1.weight"][:, :3]  # ImageNet: RGB only
  r18 = {k: v for k, v in r18.items() if not k.endswith(".bias") or ".bn" in k
         or "downsample.1" in k or k == "bn1.bias"}  # torchvision convs have no bias
  fresh = init_variables(arch, 2)
  got = convert.to_torch_state_dict(initial_weights.load_imagenet(fresh, r50, r18, seed=0))
  for k, v in source.items():
    if k.startswith("key_encoder."):
      np.testing.assert_array_equal(got[k], v, err_msg=k)
  w = got["value_encoder.conv1.weight"]  # (64, 5, 7, 7): RGB copied, mask channels orthogonal
  np.testing.assert_array_equal(w[:, :3], source["value_encoder.conv1.weight"][:, :3])
  extra = w[:, 3:].reshape(w.shape[0], -1)
  np.testing.assert_allclose(extra @ extra.T, np.eye(extra.shape[0]), atol=1e-5)  # rows
  np.testing.assert_array_equal(got["value_encoder.layer1.0.bn1.running_var"],
                                source["value_encoder.layer1.0.bn1.running_var"])
  fresh_sd = convert.to_torch_state_dict(fresh)  # conv biases absent in torchvision: unchanged
  np.testing.assert_array_equal(got["value_encoder.layer1.0.conv1.bias"],
                                fresh_sd["value_encoder.layer1.0.conv1.bias"])
  np.testing.assert_array_equal(got["decoder.pred.weight"], fresh_sd["decoder.pred.weight"])


def test_stage0_checkpoint_is_extended_for_the_video_stages():
  cfg0 = architectures.tiny()
  cfg0.value_in_channels, cfg0.with_mem_compress = 4, False
  stage0 = init_variables(Arch.from_config(cfg0), 3)
  arch = Arch.from_config(architectures.tiny())
  out = initial_weights.adapt_previous_stage(stage0, arch, seed=0)
  assert convert.arch_from_variables(out) == arch
  k0 = np.asarray(stage0["params"]["value_encoder"]["conv1"]["kernel"])
  k1 = np.asarray(out["params"]["value_encoder"]["conv1"]["kernel"])
  assert k1.shape == k0.shape[:2] + (5, k0.shape[3])
  np.testing.assert_array_equal(k1[:, :, :4], k0)  # the trained channels are kept
  assert np.abs(k1[:, :, 4]).sum() > 0  # the new 'others' channel is initialised
  assert "mem_compress" in out["params"]


def test_value_resnet_conv_biases_are_zeroed_before_imagenet_only():
  """Official model/mod_resnet.py ResNet.__init__ zeroes every conv bias of the value encoder's
  ResNet, then loads ImageNet weights (torchvision convs have no bias): zeroed biases stay 0.
  A from-scratch run keeps init_variables' draw of every variable."""
  from rde_jax.train.config import base_config
  cfg = base_config()
  cfg.seed = 4
  arch = Arch.from_config(architectures.tiny())
  fresh_vars = init_variables(arch, 4)
  fresh = convert.to_torch_state_dict(fresh_vars)
  scratch = convert.to_torch_state_dict(initial_weights.initial_variables(cfg, arch))
  for k in fresh:
    np.testing.assert_array_equal(scratch[k], fresh[k], err_msg=k)
  got = convert.to_torch_state_dict(initial_weights.zero_value_resnet_biases(fresh_vars))
  resnet_biases = [k for k in got if k.startswith("value_encoder.") and k.endswith(".bias")
                   and ".fuser." not in k and ".bn" not in k and "downsample.1" not in k
                   and k != "value_encoder.bn1.bias"]
  assert len(resnet_biases) == 1 + 2 * sum(arch.value_blocks) + 2  # conv1, blocks, downsamples
  for k in resnet_biases:
    assert np.abs(fresh[k]).max() > 0, k  # init_variables draws them (PyTorch's default)
    np.testing.assert_array_equal(got[k], 0, err_msg=k)
  for k in set(got) - set(resnet_biases):  # everything else is init_variables' draw
    np.testing.assert_array_equal(got[k], fresh[k], err_msg=k)
