r"""Start the app: a web page to segment your own videos with a model on this machine.

  rde-app --checkpoint /tmp/rde_demo [--root /data/videos] [--host 127.0.0.1] [--port 8080]
  python -m rde_jax.app ...          # the same

Open the printed URL in a browser; on a remote machine (a Cloud TPU VM, a GPU server) forward
the port first: `ssh -L 8080:localhost:8080 tpu-vm`, then open http://localhost:8080/.
--checkpoint: a model directory (python -m rde_jax.convert) or a training workdir, as for
rde-segment. The page may open server paths only under the --root folders (none by default:
uploads only). The server binds to localhost unless --host says otherwise.
"""

from __future__ import annotations

import functools
import sys

from absl import app, flags, logging

from rde_jax import api, cli, cpu_settings, runtime, validate


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
  """The command-line flags (defined only when the command runs, never at import)."""
  f = functools.partial
  s, i = f(flags.DEFINE_string, flag_values=fv), f(flags.DEFINE_integer, flag_values=fv)
  s("checkpoint", None, "Model dir (python -m rde_jax.convert) or a training workdir.")
  s("arch", "", "Expected architecture ('official', 'tiny'); '' = any.")
  s("host", "127.0.0.1", "Address to listen on (another than localhost exposes the app to "
    "the network: only when asked).")
  i("port", 8080, "Port to listen on (0: any free port).", lower_bound=0, upper_bound=65535)
  flags.DEFINE_multi_string("root", [], "A folder whose videos and frame folders the page may "
                            "open by path (repeatable; none: uploads only).", flag_values=fv)
  flags.DEFINE_float("max_upload_mb", 512, "Largest upload accepted, in MB (a zip may hold 4x "
                     "that unzipped).", lower_bound=0.001, flag_values=fv)
  s("matmul_precision", "default", "jax_default_matmul_precision.")


def main(argv: list[str], fv: flags.FlagValues = flags.FLAGS) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not fv.checkpoint:
    raise app.UsageError("missing --checkpoint")
  cpu_settings.apply()  # XLA:CPU flags for this CPU, before JAX starts
  validate.choice("--arch", fv.arch, ("",) + validate.ARCHES)
  validate.choice("--matmul_precision", fv.matmul_precision, validate.PRECISIONS)
  validate.model_dir("--checkpoint", fv.checkpoint)
  roots = [str(validate.existing("--root", r, kind="dir")) for r in fv.root]
  runtime.configure(matmul_precision=fv.matmul_precision, compilation_cache=runtime.DEFAULT_CACHE)
  model = api.load(fv.checkpoint, arch=fv.arch or None)
  from rde_jax.app import server as server_lib  # after JAX is configured
  try:
    server = server_lib.make_server(model, host=fv.host, port=fv.port, roots=roots,
                                    max_upload_bytes=int(fv.max_upload_mb * 2**20))
  except OSError as e:
    from rde_jax.errors import UserError
    raise UserError(f"--host {fv.host} --port {fv.port}: cannot listen there ({e.strerror or e})",
                    hint="pick another --port (0: any free one)") from e
  if fv.host not in ("127.0.0.1", "localhost", "::1"):
    logging.warning("listening on %s: anyone who can reach this machine can use the app", fv.host)
  print(f"rde-app: serving {fv.checkpoint} at {server.url}  (Ctrl-C stops it)", flush=True)
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    pass
  finally:
    server.server_close()
  return 0


def run() -> None:
  """`python -m rde_jax.app` and the `rde-app` console script."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
