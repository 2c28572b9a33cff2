"""`python -m rde_jax.convert` (and `rde-convert`): an official `.pth` (read without executing
pickled code) or `.npz` state dict -> an rde_jax model directory.

  python -m rde_jax.convert --input model_s012_final.pth --output models/s012
"""

from __future__ import annotations

import sys

import jax
import numpy as np
from absl import app, flags

from rde_jax import checkpoint, convert
from rde_jax.convert import pth_reader
from rde_jax.errors import UserError


def define_flags() -> None:
  """The command-line flags (defined only when the command runs)."""
  flags.DEFINE_string("input", None, "Official state dict (.pth) or .npz.")
  flags.DEFINE_string("output", None, "Model directory to write.")
  flags.DEFINE_bool("use_torch", False,
                    "Read with torch.load(weights_only=True) instead of our own reader.")
  flags.mark_flags_as_required(["input", "output"])


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  f = flags.FLAGS
  try:
    if f.input.endswith(".npz"):
      with np.load(f.input, allow_pickle=False) as z:
        sd = {k: z[k] for k in z.files}
    else:
      sd = pth_reader.load_state_dict(f.input, use_torch=f.use_torch)
    variables = convert.from_torch_state_dict(sd)
    arch = convert.arch_from_state_dict(sd)
    checkpoint.save_model(f.output, variables, arch, source=str(f.input))
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  n = sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(variables["params"]))
  print(f"wrote {f.output}: {n:,} parameters, value encoder input "
        f"{arch.value_in_channels} channels, SAM {'yes' if arch.with_mem_compress else 'no'}")
  return 0


def run() -> None:
  define_flags()
  app.run(main)


if __name__ == "__main__":
  run()
