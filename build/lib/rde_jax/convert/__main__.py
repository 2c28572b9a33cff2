"""`python -m rde_jax.convert` (and `rde-convert`): an official `.pth` (read without executing
pickled code) or `.npz` state dict -> an rde_jax model directory.

  python -m rde_jax.convert --input model_s012_final.pth --output models/s012 [--overwrite]

The model directory is written beside and swapped in at the end (a kill leaves the old or the new
complete model); an existing one is replaced only with --overwrite. Errors are one line
(`error: ...`); --debug shows the traceback.
"""

from __future__ import annotations

from absl import app, flags

from rde_jax import cli, convert


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
  """The command-line flags (defined only when the command runs)."""
  flags.DEFINE_string("input", None, "Official state dict (.pth) or .npz.", flag_values=fv)
  flags.DEFINE_string("output", None, "Model directory to write.", flag_values=fv)
  flags.DEFINE_bool("overwrite", False, "Replace an existing model directory (atomically).",
                    flag_values=fv)
  flags.DEFINE_bool("use_torch", False,
                    "Read with torch.load(weights_only=True) instead of our own reader.",
                    flag_values=fv)
  flags.mark_flags_as_required(["input", "output"], flag_values=fv)


def main(argv: list[str], fv: flags.FlagValues = flags.FLAGS) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  arch, n = convert.convert_file(fv.input, fv.output, overwrite=fv.overwrite,
                                 use_torch=fv.use_torch)
  print(f"wrote {fv.output}: {n:,} parameters, value encoder input "
        f"{arch.value_in_channels} channels, SAM {'yes' if arch.with_mem_compress else 'no'}")
  return 0


def run() -> None:
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
