"""Entry-point plumbing shared by segment, convert, evaluate, eval.py and train.py.

    if __name__ == "__main__":
      cli.run(main, define_flags)        # absl: flags -> main(argv, fv) -> exit status

* A `UserError` (bad value, path or file) is printed as `error: ...` (+ `hint: ...`) and the
  command exits with status 1; `--debug` re-raises it with the traceback. Flag and config-field
  errors exit with status 2 the same way.
* Unless `--verbosity` is given, log records below WARNING from libraries (orbax, JAX's
  "Unable to initialize backend 'tpu'", ...) are dropped; our own INFO lines stay.
* SIGTERM exits like Ctrl-C: half-written outputs are removed on the way out.
* `call(main, define_flags, argv)` runs a command in-process with fresh flags (tests).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import signal
import sys
from typing import Callable, Sequence

from absl import app, flags

from rde_jax.errors import UserError

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

Main = Callable[[Sequence[str], flags.FlagValues], int]


def define_common_flags(fv: flags.FlagValues) -> None:
  if "debug" not in fv:
    flags.DEFINE_bool("debug", False, "Show the traceback of an error (for bug reports).",
                      flag_values=fv)


def print_error(lines: Sequence[str]) -> None:
  for line in lines:
    print(line, file=sys.stderr)
  sys.stderr.flush()


def _config_override_error(e: Exception, argv: Sequence[str]) -> list[str]:
  """Rephrases ml_collections' KeyError/AttributeError/TypeError of a `--config.x=v` override."""
  text = " ".join(str(e).replace("\\n", " ").replace("\\'", "'").replace('"', "").split())
  keys = set(re.findall(r"[A-Za-z_]\w*", text))
  overrides = [a.split("=", 1)[0] for a in argv if re.match(r"--?\w+\.", a)]
  culprit = next((o for o in overrides if keys & set(o.lstrip("-").split(".")[1:])), None)
  if culprit and isinstance(e, (KeyError, AttributeError)):
    mean = re.search(r"Did you mean (\w+)", text)
    hint = (f"did you mean {culprit.rsplit('.', 1)[0]}.{mean.group(1)}?" if mean
            else "see the config file for its fields")
    return [f"error: {culprit}: no such field in this config", f"hint: {hint}"]
  where = culprit or (overrides[0] if len(overrides) == 1 else "--config")
  return [f"error: {where}: {text}"]


def parse_flags(argv: Sequence[str], fv: flags.FlagValues = flags.FLAGS) -> list[str]:
  """absl flag parsing with one-line errors (used as app.run's flags_parser)."""
  missing = _missing_config_file(argv, fv)
  if missing:
    print_error([f"error: {missing}"])
    sys.exit(2)
  try:
    return fv(list(argv))
  except flags.Error as e:
    print_error([f"error: {_one_line(str(e))}",
                 f"hint: {os.path.basename(argv[0])} --helpshort lists the flags"])
  except (KeyError, AttributeError, TypeError, ValueError) as e:  # config_flags overrides
    if "--debug" in argv:
      raise
    print_error(_config_override_error(e, argv))
  sys.exit(2)


def _one_line(text: str) -> str:
  """First line of a message, plus its last line when it embeds a traceback (config files)."""
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  if len(lines) > 1 and any(line.startswith("Traceback") for line in lines):
    return f"{lines[0]} {lines[-1]}"
  return " ".join(lines)


def _missing_config_file(argv: Sequence[str], fv: flags.FlagValues) -> str | None:
  """'--config: PATH: no such file' for a config-file flag naming a missing file."""
  from ml_collections.config_flags import config_flags  # is_config_flag is not re-exported
  for i, arg in enumerate(argv):
    name, _, value = arg.lstrip("-").partition("=")
    if name not in fv or "." in name or not config_flags.is_config_flag(fv[name]):
      continue
    if not value and i + 1 < len(argv):
      value = argv[i + 1]
    path = value.split(":", 1)[0]
    if path and not os.path.isfile(path):
      return f"--{name}: {path}: no such file"
  return None


def quiet_libraries(fv: flags.FlagValues = flags.FLAGS) -> None:
  """Drops library log records below WARNING unless --verbosity was given."""
  if "verbosity" in fv and fv["verbosity"].present:
    return
  ours = (_PACKAGE_DIR + os.sep, os.path.abspath(sys.argv[0]) if sys.argv else "")

  def keep(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or record.pathname.startswith(ours)

  for handler in logging.getLogger().handlers:
    if not any(getattr(f, "_rde_quiet", False) for f in handler.filters):
      keep._rde_quiet = True  # type: ignore[attr-defined]
      handler.addFilter(keep)


def guarded(fn: Callable[[], int | None], *, debug: bool = False) -> int:
  """Runs fn(); a UserError or file-system error becomes one printed line and status 1."""
  try:
    return int(fn() or 0)
  except UserError as e:
    if debug:
      raise
    print_error(e.lines())
  except app.UsageError as e:
    if debug:
      raise
    print_error([f"error: {e}", "hint: --helpshort lists the flags"])
    return 2
  except OSError as e:  # disk full, permission denied, ... while writing
    if debug:
      raise
    name = f"{e.filename}: " if e.filename else ""
    print_error([f"error: {name}{e.strerror or e}"])
  except KeyboardInterrupt:
    print_error(["error: interrupted (nothing half-written is left)"])
    return 130
  return 1


def call(main: Main, define_flags: Callable[[flags.FlagValues], None],
         argv: Sequence[str]) -> int:
  """Runs a command in this process with fresh flags: its exit status (tests)."""
  fv = flags.FlagValues()
  define_flags(fv)
  define_common_flags(fv)
  saved, sys.argv = sys.argv, list(argv)  # config_flags reads the overrides off sys.argv
  try:
    rest = parse_flags(argv, fv)
  except SystemExit as e:
    return int(e.code or 0)
  finally:
    sys.argv = saved
  return guarded(functools.partial(main, rest, fv), debug=fv["debug"].value)


def _terminate(signum: int, frame: object) -> None:
  """SIGTERM unwinds like Ctrl-C, so staging folders and partial files are removed."""
  raise SystemExit(128 + signum)


def run(main: Main, define_flags: Callable[[flags.FlagValues], None]) -> None:
  """The `if __name__ == '__main__'` of an absl command."""
  define_flags(flags.FLAGS)
  define_common_flags(flags.FLAGS)

  def entry(argv: Sequence[str]) -> int:
    quiet_libraries(flags.FLAGS)
    signal.signal(signal.SIGTERM, _terminate)  # train.py installs its own (checkpoint, stop)
    return guarded(functools.partial(main, argv, flags.FLAGS), debug=flags.FLAGS.debug)

  app.run(entry, flags_parser=parse_flags)


HEARTBEAT_SECONDS = 30  # --multihost_heartbeat_s: a killed process ends the job within ~30 s


def start_backend(fv: flags.FlagValues) -> None:
  """Before JAX starts (eval.py, rde-reproduce): the XLA:CPU flags for this CPU
  (`cpu_settings.apply`; RDE_JAX_CPU_FLAGS overrides) and, with --multihost (flags of
  `define_multihost_flags`), `jax.distributed.initialize()`."""
  from rde_jax import cpu_settings
  cpu_settings.apply()
  if fv.multihost:
    from rde_jax import multihost
    multihost.initialize_from_flags(fv)


def define_multihost_flags(fv: flags.FlagValues, help_multihost: str) -> None:
  """--multihost and the jax.distributed.initialize() settings (train.py and eval.py)."""
  flags.DEFINE_bool("multihost", False, help_multihost, flag_values=fv)
  flags.DEFINE_string("coordinator_address", None, "With --multihost: host:port of process 0 "
                      "(default: auto-detected or JAX_COORDINATOR_ADDRESS).", flag_values=fv)
  flags.DEFINE_integer("num_processes", None, "With --multihost (default: auto).",
                       flag_values=fv)
  flags.DEFINE_integer("process_id", None, "With --multihost (default: auto).", flag_values=fv)
  flags.DEFINE_integer("multihost_heartbeat_s", HEARTBEAT_SECONDS,
                       "With --multihost: a process that sent no heartbeat for this long is "
                       "taken as dead and the whole job ends (JAX's own default: 100; "
                       "docs/pod.md).", lower_bound=1, flag_values=fv)
