"""Initial training variables: fresh, ImageNet ResNets (torchvision .pth), or a previous stage.

* Fresh: `init_variables` (the official weight laws, PyTorch's default conv biases). The
  official model/mod_resnet.py ResNet.__init__ zeroes the value ResNet's conv biases before it
  loads ImageNet weights (which have none): `zero_value_resnet_biases` does so when
  `config.init.resnet18` is given. A from-scratch run keeps the drawn biases: measured on the
  synthetic demo (1,000 steps), zeroing them there gave J&F 0.33 instead of 0.86.
* ImageNet: torchvision resnet50 -> key encoder (layer1 is `res2`), resnet18 -> value encoder
  (its first 3 input channels; the mask channels orthogonal-initialised; conv biases stay 0).
* Previous stage: a model directory; a 4-channel (stage-0) value encoder is extended to 5 input
  channels with an orthogonally initialised 5th channel, and a missing `mem_compress` (SAM) is
  created fresh with PyTorch's default initialisation, as the official code does.
"""

from __future__ import annotations

import re
from typing import Any

import flax
import ml_collections
import numpy as np
from absl import logging

from rde_jax import checkpoint, convert
from rde_jax.model.architectures import Arch
from rde_jax.model.network import init_variables, orthogonal


def _put(flat: dict, path: tuple[str, ...], value: np.ndarray, source: str) -> None:
  if path not in flat:
    raise ValueError(f"{source}: target {'/'.join(path)} does not exist in the model")
  if flat[path].shape != value.shape:
    raise ValueError(f"{source}: shape {value.shape} does not fit {'/'.join(path)} "
                     f"{flat[path].shape}")
  flat[path] = np.asarray(value, np.float32)


def load_imagenet(variables: dict, resnet50: dict | None, resnet18: dict | None,
                  seed: int = 0) -> dict:
  """Copies torchvision ImageNet weights into the key / value encoders of `variables`."""
  flat = {col: flax.traverse_util.flatten_dict(variables[col]) for col in variables}
  gen = np.random.default_rng(seed)
  for sd, prefix, rename in ((resnet50, "key_encoder", {"layer1": "res2"}),
                             (resnet18, "value_encoder", {})):
    if sd is None:
      continue
    for key, value in sd.items():
      head = key.split(".")[0]
      if head in ("fc", "layer4") or key.endswith("num_batches_tracked"):
        continue
      key = ".".join([rename.get(head, head)] + key.split(".")[1:])
      col, path = convert.flax_path(f"{prefix}.{key}")
      leaf, arr = convert.to_flax_leaf(path[-1], np.asarray(value)) if col == "params" else (
          path[-1], np.asarray(value))
      path = path[:-1] + (leaf,)
      if prefix == "value_encoder" and key == "conv1.weight":  # (7,7,3,64) into (7,7,C,64)
        full = np.array(flat["params"][path])
        extra = full.shape[2] - arr.shape[2]
        pads = orthogonal(gen, (7, 7, extra, full.shape[3]))
        arr = np.concatenate([arr, pads], axis=2)
      _put(flat[col], path, arr, f"ImageNet {prefix} {key}")
  return {col: flax.traverse_util.unflatten_dict(v) for col, v in flat.items()}


def zero_value_resnet_biases(variables: dict) -> dict:
  """`variables` with every conv bias of the value encoder's ResNet-18 (conv1, layer1..3 and
  their 1x1 downsample convs; not the fuser, not BatchNorm) set to 0, as the official
  model/mod_resnet.py ResNet.__init__ leaves them (`m.bias.data.zero_()` for each Conv2d)."""
  params = flax.traverse_util.flatten_dict(variables["params"])
  for path, value in params.items():
    if path[0] == "value_encoder" and path[-1] == "bias" and _is_resnet_conv(path):
      params[path] = np.zeros(np.shape(value), np.float32)
  return {**variables, "params": flax.traverse_util.unflatten_dict(params)}


def _is_resnet_conv(path: tuple[str, ...]) -> bool:
  """A conv of the value encoder's ResNet (conv1, layerN_i/convJ, layerN_0/downsample_0)."""
  if "fuser" in path:
    return False
  layer = path[-2]
  return layer == "downsample_0" or re.fullmatch(r"conv\d+", layer) is not None


def adapt_previous_stage(variables: dict, arch: Arch, seed: int = 0) -> dict:
  """Extends a stage-0 model (4-channel value encoder, no SAM) to the `arch` of a later stage."""
  fresh = init_variables(arch, seed)
  params = dict(variables["params"])
  kernel = np.asarray(params["value_encoder"]["conv1"]["kernel"])
  if kernel.shape[2] == 4 and arch.value_in_channels == 5:
    gen = np.random.default_rng(seed)
    pad = orthogonal(gen, kernel.shape[:2] + (1, kernel.shape[3]))
    value_encoder = flax.core.unfreeze(params["value_encoder"])
    value_encoder["conv1"] = dict(value_encoder["conv1"],
                                  kernel=np.concatenate([kernel, pad], axis=2))
    params["value_encoder"] = value_encoder
  if arch.with_mem_compress and "mem_compress" not in params:
    params["mem_compress"] = fresh["params"]["mem_compress"]
  return {"params": params, "batch_stats": variables["batch_stats"]}


def initial_variables(cfg: ml_collections.ConfigDict, arch: Arch) -> dict[str, Any]:
  """The variables a run starts from (before any checkpoint of the run itself is restored)."""
  if cfg.init.checkpoint:
    _, variables = checkpoint.load_model(cfg.init.checkpoint)
    variables = adapt_previous_stage(variables, arch, cfg.seed)
  else:
    variables = init_variables(arch, cfg.seed)
    if not (cfg.init.resnet50 or cfg.init.resnet18) and sum(arch.key_blocks) > 6:
      logging.warning(
          "training a deep network from scratch: BatchNorm is frozen (as official) at identity "
          "statistics, so activations can blow up; set config.init.resnet50/resnet18 "
          "(ImageNet, torchvision .pth) or config.init.checkpoint")
    if cfg.init.resnet50 or cfg.init.resnet18:
      from rde_jax.convert import pth_reader
      read = lambda p: pth_reader.load_state_dict(p) if p else None
      if cfg.init.resnet18:  # the official recipe: zeroed conv biases, then ImageNet weights
        variables = zero_value_resnet_biases(variables)
      variables = load_imagenet(variables, read(cfg.init.resnet50), read(cfg.init.resnet18),
                                cfg.seed)
  got = convert.arch_from_variables(variables)
  if got != arch:
    raise ValueError(f"initial weights have architecture {got}, the config asks for {arch}")
  return variables
