r"""`python -m rde_jax.export` (and `rde-export`): a model directory -> a deployable artifact of
the whole video pipeline (the per-frame functions, memory included) for one frame size and
object count.

  python -m rde_jax.export --checkpoint models/rde_s012 --out artifacts/rde_480p \
      --height 480 --width 854 --objects 2 [--format stablehlo,onnx] [--dtype float32] \
      [--top_k 40] [--memory_mode two-frames-compress] [--mem_every 3] [--platforms cpu,cuda,tpu]

Writes --out as a whole (manifest.json, stablehlo/, onnx/: see rde_jax/export/manifest.py); run
it with `rde_jax.export.runtime` (no JAX needed for ONNX), `rde-segment --artifact DIR` or
`rde_jax.load_artifact(DIR)`. ONNX needs the converter: `pip install 'rde-jax[onnx]'` and
`pip install --no-deps jax2onnx` (README "Deploy"). Errors are one line; --debug shows the
traceback.
"""

from __future__ import annotations

import functools
import sys

from absl import app, flags

from rde_jax import cli, validate
from rde_jax.errors import UserError
from rde_jax.export import build
from rde_jax.inference.settings import DTYPES, MEMORY_MODES, CONV_ALGORITHMS, InferenceSettings


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
  """The command-line flags (defined only when the command runs)."""
  f = functools.partial
  s, i, b, e, li = (f(flags.DEFINE_string, flag_values=fv), f(flags.DEFINE_integer, flag_values=fv),
                    f(flags.DEFINE_bool, flag_values=fv), f(flags.DEFINE_enum, flag_values=fv),
                    f(flags.DEFINE_list, flag_values=fv))
  s("checkpoint", None, "Model dir (python -m rde_jax.convert, or a training workdir).")
  s("out", None, "Artifact folder to write (new, empty, or an earlier artifact with --overwrite).")
  b("overwrite", False, "Replace an earlier artifact in --out.")
  s("arch", "", "Expected architecture ('official', 'tiny'); '' = any.")
  i("height", None, "Frame height H the artifact runs at.")
  i("width", None, "Frame width W the artifact runs at.")
  i("objects", None, "Number of objects K (1..255).")
  li("format", list(build.FORMATS), "Formats: stablehlo, onnx.")
  li("platforms", list(build.DEFAULT_PLATFORMS), "StableHLO platforms: cpu, cuda, rocm, tpu.")
  d = InferenceSettings()  # the defaults live in one place
  e("dtype", d.dtype, list(DTYPES), "Compute dtype.")
  i("top_k", d.top_k, "Top-k memory read-out (>= 1).")
  e("memory_mode", d.memory_mode, list(MEMORY_MODES), "Official memory mode.")
  i("mem_every", d.mem_every, "The schedule recorded for the runtime: a memory frame every N "
    "frames.")
  b("include_last", d.include_last, "The schedule: every frame but the last is a memory frame.")
  e("conv_algorithm", d.conv_algorithm, list(CONV_ALGORITHMS),
    "3x3 convolutions: auto = direct (the runtime picks its algorithm), or winograd.")
  i("stm_slots", build.STM_SLOTS, "Memory frames an stm artifact holds.")


def main(argv: list[str], fv: flags.FlagValues = flags.FLAGS) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  missing = [f"--{n}" for n in ("checkpoint", "out", "height", "width", "objects")
             if fv[n].value is None]
  if missing:
    raise app.UsageError(f"missing {', '.join(missing)}")
  settings = InferenceSettings.from_values(
      "--", top_k=fv.top_k, dtype=fv.dtype, memory_mode=fv.memory_mode, mem_every=fv.mem_every,
      include_last=fv.include_last, conv_algorithm=fv.conv_algorithm)
  size = (fv.height, fv.width)
  build.check_request("--", size=size, num_objects=fv.objects, formats=fv.format,
                      platforms=fv.platforms, stm_slots=fv.stm_slots)
  if "onnx" in fv.format:
    require_converter("--format onnx")
  validate.choice("--arch", fv.arch, ("",) + validate.ARCHES)
  validate.output_dir("--out", fv.out, overwrite=fv.overwrite, marker="manifest.json",
                      what="an exported model")
  validate.model_dir("--checkpoint", fv.checkpoint)
  from rde_jax import api, checkpoint
  arch, variables = checkpoint.load_model(fv.checkpoint, api.resolve_arch(fv.arch or None))
  m = build.export_artifact(variables, arch, settings, fv.out, size=size, num_objects=fv.objects,
                            formats=fv.format, platforms=fv.platforms, stm_slots=fv.stm_slots,
                            source=fv.checkpoint, overwrite=fv.overwrite, prefix="--")
  total = sum(e["bytes"] for e in m["files"].values())
  print(f"wrote {fv.out}: {', '.join(m['formats'])} of init, step, step_and_memorize for "
        f"{fv.height}x{fv.width}, {fv.objects} objects ({total / 1e6:.1f} MB)", file=sys.stderr)
  return 0


def require_converter(what: str) -> None:
  """UserError unless jax2onnx and onnx are importable."""
  try:
    import jax2onnx  # noqa: F401
    import onnx  # noqa: F401
  except ImportError as e:
    raise UserError(f"{what} needs the converter ({e.name} is not installed)",
                    hint="pip install 'rde-jax[onnx]' onnx-ir && pip install --no-deps jax2onnx "
                         "(README 'Deploy'), or --format stablehlo") from e


def run() -> None:
  """`python -m rde_jax.export` and the `rde-export` console script."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
