"""Entry-point plumbing shared by segment, convert, evaluate, eval.py and train.py.

    if __name__ == "__main__":
      cli.run(main, define_flags)        # absl: flags -> main(argv, fv) -> exit status

* A `UserError` (bad value, path or file) is printed as `error: ...` (+ `hint: ...`) and the
  command exits with status 1; `--debug` re-raises it with the traceback. Flag and config-field
  errors exit with status 2 the same way.
* Unless `--verbosity` is given, log records below WARNING from libraries (orbax, JAX's
  "Unable to initialize backend 'tpu'", ...) are dropped; our own INFO lines stay; a library
  failure that the command reports as its one line is not dumped again (`cli_output`).
* A full disk ends in `error: disk full (...) writing PATH`, however a library wrapped it.
* `--help` lists the command's flags, for console scripts (bin/rde-segment) too.
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
  except Exception as e:  # a config file that does not load, or a bad override
    if "--debug" in argv:
      raise
    broken = _broken_config_file(e, argv, fv)
    if broken:
      print_error([f"error: {broken}"])
    elif isinstance(e, (KeyError, AttributeError, TypeError, ValueError)):  # overrides
      print_error(_config_override_error(e, argv))
    else:
      raise
  sys.exit(2)


def define_all(define_flags: Callable[[flags.FlagValues], None], fv: flags.FlagValues,
               argv: Sequence[str]) -> None:
  """define_flags(fv) and the common flags; a config flag with a default file applies the
  `--config.x=v` overrides right then, so their errors are one line here as in parse_flags."""
  try:
    define_flags(fv)
  except (KeyError, AttributeError, TypeError, ValueError) as e:
    if "--debug" in argv:
      raise
    print_error(_config_override_error(e, argv))
    sys.exit(2)
  define_common_flags(fv)


def _config_files(argv: Sequence[str], fv: flags.FlagValues) -> list[tuple[str, str]]:
  """(flag name, file) of every config-file flag on the command line."""
  from ml_collections.config_flags import config_flags  # is_config_flag is not re-exported
  found = []
  for i, arg in enumerate(argv):
    name, _, value = arg.lstrip("-").partition("=")
    if name not in fv or "." in name or not config_flags.is_config_flag(fv[name]):
      continue
    if not value and i + 1 < len(argv):
      value = argv[i + 1]
    found.append((name, value.split(":", 1)[0]))
  return found


def _broken_config_file(e: BaseException, argv: Sequence[str], fv: flags.FlagValues) -> str | None:
  """'--config: FILE: cannot load it (SyntaxError: ... line 3)' when `e` was raised while a
  config file was being imported or run (a syntax error, a missing module, get_config failing)."""
  import traceback
  for name, path in _config_files(argv, fv):
    real = os.path.realpath(path)
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if os.path.realpath(f.filename) == real]
    if isinstance(e, SyntaxError) and e.filename and os.path.realpath(e.filename) == real:
      return f"--{name}: {path}: cannot load it (SyntaxError: {e.msg}, line {e.lineno})"
    if frames:
      text = " ".join(str(e).split())
      return (f"--{name}: {path}: cannot load it ({type(e).__name__}: {text}, "
              f"line {frames[-1].lineno})")
  return None


def _one_line(text: str) -> str:
  """First line of a message, plus its last line when it embeds a traceback (config files)."""
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  if len(lines) > 1 and any(line.startswith("Traceback") for line in lines):
    return f"{lines[0]} {lines[-1]}"
  return " ".join(lines)


def _missing_config_file(argv: Sequence[str], fv: flags.FlagValues) -> str | None:
  """'--config: PATH: no such file' for a config-file flag naming a missing file."""
  for name, path in _config_files(argv, fv):
    if path and not os.path.isfile(path):
      return f"--{name}: {path}: no such file"
  return None


def quiet_libraries(fv: flags.FlagValues = flags.FLAGS) -> None:
  """Unless --verbosity was given: library log records below WARNING and library background
  threads' ERROR records are dropped, and tracebacks printed for orbax's closed event loops
  (`cli_output`)."""
  if "verbosity" in fv and fv["verbosity"].present:
    return
  from rde_jax import cli_output
  cli_output.quiet_library_logs((_PACKAGE_DIR + os.sep,
                                 os.path.abspath(sys.argv[0]) if sys.argv else ""))
  cli_output.filter_stderr()


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
  except KeyboardInterrupt:
    print_error(["error: interrupted (nothing half-written is left)"])
    return 130
  except Exception as e:  # disk full however a library wrapped it; permission denied, ...
    if debug:
      raise
    from rde_jax import cli_output
    full = cli_output.disk_full(e)
    if full:
      print_error([full])
    elif isinstance(e, OSError):
      name = f"{cli_output.user_path(os.fspath(e.filename))}: " if e.filename else ""
      print_error([f"error: {name}{e.strerror or e}"])
    else:
      raise  # a bug: keeps its traceback
  return 1


def call(main: Main, define_flags: Callable[[flags.FlagValues], None],
         argv: Sequence[str]) -> int:
  """Runs a command in this process with fresh flags: its exit status (tests)."""
  fv = flags.FlagValues()
  saved, sys.argv = sys.argv, list(argv)  # config_flags reads the overrides off sys.argv
  try:  # (a config flag with a default file reads them when it is defined)
    define_all(define_flags, fv, argv)
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
  """The `if __name__ == '__main__'` of an absl command (and of its console script)."""
  before = set(flags.FLAGS)
  define_all(define_flags, flags.FLAGS, sys.argv)
  # `--help` lists the key flags of the module named by sys.argv[0]: for a console script
  # (bin/rde-segment) that is not the module that defined them, so register them for it.
  main_module = sys.argv[0] if sys.argv else "__main__"
  for name in sorted(set(flags.FLAGS) - before):
    flags.FLAGS.register_key_flag_for_module(main_module, flags.FLAGS[name])

  def entry(argv: Sequence[str]) -> int:
    quiet_libraries(flags.FLAGS)
    signal.signal(signal.SIGTERM, _terminate)  # train.py installs its own (checkpoint, stop)
    return guarded(functools.partial(main, argv, flags.FLAGS), debug=flags.FLAGS.debug)

  app.run(entry, flags_parser=parse_flags)


HEARTBEAT_SECONDS = 30  # --multihost_heartbeat_s: a killed process ends the job within ~30 s


def start_backend(fv: flags.FlagValues, purpose: str = "inference") -> None:
  """Before JAX starts (eval.py, rde-reproduce, train.py with purpose 'train'): the XLA:CPU
  flags for this CPU (`cpu_settings.apply`; RDE_JAX_CPU_FLAGS overrides) and, with --multihost
  (flags of `define_multihost_flags`), `jax.distributed.initialize()`."""
  from rde_jax import cpu_settings
  cpu_settings.apply(purpose=purpose)
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
