"""Official PyTorch state dict <-> Flax variables (numpy only), and the `.pth` -> orbax CLI.

The Flax module tree mirrors the PyTorch keys, so conversion is a rename rule plus transposes:
numeric key parts join the previous part ('res2.0.conv1' -> 'res2_0/conv1'); conv weights
(O,I,kh,kw[,...]) -> kernels (kh,kw,[...],I,O); Linear (O,I) -> (I,O); BatchNorm weight/bias ->
params scale/bias, running_mean/var -> batch_stats mean/var; `num_batches_tracked` is dropped.

    python -m rde_jax.convert --input model_s012_final.pth --output /ckpt/s012 [--overwrite]

The output directory is written beside and swapped in at the end (a kill leaves the old or the
new complete model); an existing model directory is replaced only with --overwrite.
"""

from __future__ import annotations

import math
import re
import zipfile
from typing import Any, Mapping

import flax
import jax
import numpy as np

from rde_jax.errors import UserError
from rde_jax.model.architectures import Arch
from rde_jax.model.network import abstract_variables


_BN_STATS = {"running_mean": "mean", "running_var": "var"}
_LITERAL_NAMES = {"up_16_8", "up_8_4"}  # official names that merely look like 'name_<index>'


class ConversionError(UserError, ValueError):
  """A state dict does not match the architecture (lists every offending key)."""


def flax_path(key: str) -> tuple[str, tuple[str, ...]]:
  """'a.res2.0.bn1.running_mean' -> ('batch_stats', ('a', 'res2_0', 'bn1', 'mean'))."""
  parts: list[str] = []
  for tok in key.split("."):
    if tok.isdigit() and parts:
      parts[-1] = f"{parts[-1]}_{tok}"
    else:
      parts.append(tok)
  leaf = parts[-1]
  if leaf in _BN_STATS:
    return "batch_stats", tuple(parts[:-1]) + (_BN_STATS[leaf],)
  return "params", tuple(parts)


def to_flax_leaf(leaf: str, value: np.ndarray) -> tuple[str, np.ndarray]:
  """Maps a PyTorch leaf name and array to the Flax leaf name and layout."""
  if leaf == "weight":
    if value.ndim == 1:
      return "scale", value
    if value.ndim == 2:
      return "kernel", value.T
    return "kernel", np.transpose(value, tuple(range(2, value.ndim)) + (1, 0))
  return leaf, value


def _from_flax(leaf: str, value: np.ndarray) -> tuple[str, np.ndarray]:
  """Inverse of `_to_flax`."""
  if leaf == "scale":
    return "weight", value
  if leaf == "kernel":
    if value.ndim == 2:
      return "weight", value.T
    n = value.ndim
    return "weight", np.transpose(value, (n - 1, n - 2) + tuple(range(n - 2)))
  return leaf, value


def _count(sd: Mapping[str, Any], pattern: str) -> int:
  idx = {int(m.group(1)) for k in sd for m in [re.match(pattern, k)] if m}
  return max(idx) + 1 if idx else 0


def arch_from_state_dict(sd: Mapping[str, np.ndarray]) -> Arch:
  """Reads widths and depths off an official-format state dict (any scale of the network)."""
  try:
    shape = lambda k: tuple(sd[k].shape)
    key_planes = tuple(shape(f"key_encoder.{n}.0.conv1.weight")[0]
                       for n in ("res2", "layer2", "layer3"))
    value_planes = tuple(shape(f"value_encoder.layer{i}.0.conv1.weight")[0] for i in (1, 2, 3))
    vdim = shape("value_encoder.fuser.block1.conv1.weight")[0]
    hidden = shape("value_encoder.fuser.attention.ChannelGate.mlp.1.weight")[0]
    return Arch(
        key_blocks=tuple(_count(sd, rf"key_encoder\.{n}\.(\d+)\.")
                         for n in ("res2", "layer2", "layer3")),
        key_planes=key_planes,
        key_stem=shape("key_encoder.conv1.weight")[0],
        value_blocks=tuple(_count(sd, rf"value_encoder\.layer{i}\.(\d+)\.") for i in (1, 2, 3)),
        value_planes=value_planes,
        value_stem=shape("value_encoder.conv1.weight")[0],
        value_in_channels=shape("value_encoder.conv1.weight")[1],
        key_dim=shape("key_proj.key_proj.weight")[0],
        value_dim=vdim,
        decoder_dims=(shape("decoder.up_16_8.out_conv.conv1.weight")[0],
                      shape("decoder.up_8_4.out_conv.conv1.weight")[0]),
        cbam_reduction=vdim // hidden,
        with_mem_compress=any(k.startswith("mem_compress.") for k in sd))
  except KeyError as e:
    raise ConversionError(f"state dict lacks {e.args[0]!r}; not an RDE-VOS/STCN network") from e


def arch_from_variables(variables: Mapping[str, Any]) -> Arch:
  """Reads the architecture off Flax variables (shapes only, no copies)."""
  shapes = {}
  for col in ("params", "batch_stats"):
    for path, v in flax.traverse_util.flatten_dict(dict(variables[col])).items():
      shape = _torch_shape(path[-1], v.shape) if col == "params" else tuple(v.shape)
      shapes[_torch_key(col, path)] = jax.ShapeDtypeStruct(shape, np.float32)
  return arch_from_state_dict(shapes)


def expected_shapes(arch: Arch) -> dict[str, dict[tuple[str, ...], tuple[int, ...]]]:
  """Flat {collection: {path: shape}} of the Flax variables of `arch` (no compute)."""
  tree = abstract_variables(arch)
  return {col: {p: tuple(v.shape) for p, v in flax.traverse_util.flatten_dict(t).items()}
          for col, t in tree.items()}


def from_torch_state_dict(state_dict: Mapping[str, Any], arch: Arch | None = None) -> dict:
  """Official state dict {key: array} -> Flax variables {'params', 'batch_stats'} (float32).

  `arch` defaults to the one read off the state dict (5- or 4-channel value encoder, with or
  without mem_compress). Raises ConversionError listing missing, unexpected and mis-shaped keys,
  or the tensors holding NaN/inf.
  """
  sd = {k: np.asarray(v) for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}
  arch_given = arch
  arch = arch or arch_from_state_dict(sd)
  want = expected_shapes(arch)
  out: dict[str, dict] = {col: {} for col in want}
  nonfinite = sorted(k for k, v in sd.items()
                     if np.issubdtype(v.dtype, np.floating) and not np.isfinite(v).all())
  if nonfinite:  # a diverged training run: its model would segment nothing
    raise ConversionError(f"state dict holds NaN or infinite values in {len(nonfinite)} tensors: "
                          f"{', '.join(nonfinite[:5])}{', ...' if len(nonfinite) > 5 else ''}")
  unexpected, misshaped, misshaped_paths = [], [], set()
  for key, value in sd.items():
    col, path = flax_path(key)
    leaf, arr = to_flax_leaf(path[-1], value) if col == "params" else (path[-1], value)
    path = path[:-1] + (leaf,)
    if col not in want or path not in want[col]:
      unexpected.append(key)
    elif tuple(arr.shape) != want[col][path]:
      misshaped.append(f"{key}: got {tuple(value.shape)}, expected "
                       f"{_torch_shape(leaf, want[col][path])}")
      misshaped_paths.add((col, path))
    else:
      out[col][path] = np.ascontiguousarray(arr, dtype=np.float32)
  missing = [_torch_key(col, p) for col in want for p in want[col]
             if p not in out[col] and (col, p) not in misshaped_paths]
  if missing or unexpected or misshaped:
    lines = ["state dict does not match the RDE-VOS architecture read off its own shapes:"
             if arch_given is None else "state dict does not match the requested architecture:"]
    for title, keys in (("missing", missing), ("unexpected", unexpected),
                        ("wrong shape", misshaped)):
      if keys:
        lines.append(f"  {title} ({len(keys)}): " + ", ".join(sorted(keys)))
    raise ConversionError("\n".join(lines))
  return {col: flax.traverse_util.unflatten_dict(v) for col, v in out.items()}


def _torch_shape(leaf: str, flax_shape: tuple[int, ...]) -> tuple[int, ...]:
  if leaf != "kernel":
    return tuple(flax_shape)
  n = len(flax_shape)
  order = (1, 0) if n == 2 else (n - 1, n - 2) + tuple(range(n - 2))
  return tuple(flax_shape[i] for i in order)


def _torch_key(col: str, path: tuple[str, ...]) -> str:
  leaf = path[-1]
  if col == "batch_stats":
    name = {"mean": "running_mean", "var": "running_var"}[leaf]
  else:
    name = {"scale": "weight", "kernel": "weight"}.get(leaf, leaf)
  parts = [p if p in _LITERAL_NAMES else re.sub(r"_(\d+)$", r".\1", p) for p in path[:-1]]
  return ".".join(parts + [name])


def to_torch_state_dict(variables: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """Flax variables -> official-format state dict (BN `num_batches_tracked` set to 0)."""
  sd: dict[str, np.ndarray] = {}
  for path, v in flax.traverse_util.flatten_dict(dict(variables["params"])).items():
    sd[_torch_key("params", path)] = _from_flax(path[-1], np.asarray(v))[1]
  for path, v in flax.traverse_util.flatten_dict(dict(variables["batch_stats"])).items():
    key = _torch_key("batch_stats", path)
    sd[key] = np.asarray(v)
    if path[-1] == "mean":
      sd[key.replace("running_mean", "num_batches_tracked")] = np.array(0, np.int64)
  return sd


def _read_input(path: str, use_torch: bool) -> dict[str, np.ndarray]:
  """A `.pth` (read without executing pickled code) or `.npz` state dict; errors name the file."""
  from rde_jax.convert import pth_reader
  if not path.endswith(".npz"):
    return pth_reader.load_state_dict(path, use_torch=use_torch)
  try:
    _check_npz_sizes(path)
    with np.load(path, allow_pickle=False) as z:
      return {k: z[k] for k in z.files}
  except ConversionError:
    raise
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise ConversionError(f"{path}: not a readable .npz state dict "
                          f"({type(e).__name__}: {e})") from e


def _check_npz_sizes(path: str) -> None:
  """Every array's declared shape x dtype must fit its record (numpy allocates the declared
  size before reading: a tiny file could ask for terabytes)."""
  with zipfile.ZipFile(path) as zf:
    for info in zf.infolist():
      if not info.filename.endswith(".npy"):
        continue
      with zf.open(info) as f:
        major, _ = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if major == 1
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(f)
        header = f.tell()
      nbytes = math.prod(shape) * dtype.itemsize
      if nbytes > info.file_size - header:
        raise ConversionError(
            f"{path}: array '{info.filename[:-4]}' declares shape {shape} of {dtype} "
            f"({nbytes} bytes) but its record holds {info.file_size - header}; refusing to "
            "allocate it")


def convert_file(input_path: str, output: str, *, overwrite: bool = False,
                 use_torch: bool = False) -> tuple[Arch, int]:
  """Official state dict file -> model directory, replaced as a whole (`fileio.atomic_dir`).

  Returns (architecture, parameter count). Raises UserError naming the file on bad input, and
  refuses an existing model directory unless `overwrite`.
  """
  from rde_jax import checkpoint, validate
  validate.existing("--input", input_path, kind="file")
  validate.output_dir("--output", output, overwrite=overwrite, marker="model.json", what="a model",
                      inputs=[("--input", input_path)], legacy=checkpoint.MODEL_LAYOUT)
  sd = _read_input(input_path, use_torch)
  try:
    variables = from_torch_state_dict(sd)
    arch = arch_from_state_dict(sd)
  except ConversionError as e:
    raise ConversionError(f"{input_path}: {e}") from e
  checkpoint.save_model(output, variables, arch, source=str(input_path))
  return arch, sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(variables["params"]))
