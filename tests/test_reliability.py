"""The bad-input table (tests/reliability_cases.py), run in-process through each command's main:
non-zero exit, one `error:` line matching the case, no traceback, nothing left behind, earlier
outputs intact. A few cases also run as real subprocesses (flag parsing, logging set-up)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import reliability_cases as R
from rde_jax import cli, score_davis, segment
from rde_jax.convert import __main__ as convert_cli

REPO = Path(__file__).resolve().parents[1]


def _script(name):
  spec = importlib.util.spec_from_file_location(f"rde_entry_{name}", REPO / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope="module")
def env(tmp_path_factory):
  return R.make_env(tmp_path_factory.mktemp("env"))


def _call(case, args):
  """The command's exit status, run in this process."""
  if case.command == "api":
    try:
      exec(compile(args[0], "<api case>", "exec"), {})
    except SystemExit as e:
      return int(e.code or 0)
    return 0
  module = {"segment": segment, "score_davis": score_davis, "convert": convert_cli}.get(case.command)
  if module is None:
    module = _script(case.command[:-3])
  return cli.call(module.main, module.define_flags, [case.command, *args])


def _marked(cases):
  return [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else []) for c in cases]


@pytest.mark.parametrize("case", _marked(R.CASES))
def test_bad_input_gives_one_clear_line_and_changes_nothing(case, env, tmp_path, capsys,
                                                            caplog, monkeypatch):
  monkeypatch.chdir(REPO)
  work = tmp_path / "work"
  work.mkdir()
  if case.setup:
    case.setup(env, work)
  before = R.snapshot(work, env.root)
  rc = _call(case, case.args(env, work))
  err = capsys.readouterr().err
  if case.expect == "success":  # in-process, notes (absl warnings) go to the log capture
    err += caplog.text
  assert R.judge(case, rc, err, before, R.snapshot(work, env.root), env, work) == "ok", err
  if case.expect == "error":
    assert len(err.strip().splitlines()) <= 2, err  # the error line and at most a hint


def test_table_covers_every_command_with_at_least_40_cases():
  assert len(R.CASES) >= 40
  assert {c.command for c in R.CASES} == set(R.COMMANDS)


SUBPROCESS_CASES = ["segment top_k 0", "eval.py unknown field", "train.py unknown field",
                    "train.py lr -0.001", "convert random bytes", "train.py config syntax error",
                    "segment model with damaged weights"]


@pytest.mark.system
@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_real_commands_print_one_line(case_id, env, tmp_path):
  case = next(c for c in R.CASES if c.id == case_id)
  work = tmp_path / "work"
  work.mkdir()
  if case.setup:
    case.setup(env, work)
  before = R.snapshot(work, env.root)
  proc = subprocess.run([sys.executable, *R.COMMANDS[case.command], *case.args(env, work)],
                        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                        capture_output=True, text=True, timeout=300)
  assert R.judge(case, proc.returncode, proc.stderr, before,
                 R.snapshot(work, env.root), env, work) == "ok", proc.stderr
  assert len(proc.stderr.strip().splitlines()) <= 2, proc.stderr


def test_debug_shows_the_traceback(env, tmp_path):
  with pytest.raises(Exception, match="--top_k must be an integer >= 1"):
    cli.call(segment.main, segment.define_flags,
             ["segment", *R.seg("--top_k=0", "--debug")(env, tmp_path)])


@pytest.mark.parametrize("name", ["stage0", "stage1", "stage2", "stage3", "synthetic"])
@pytest.mark.parametrize("variant", ["", "runlocal"])
def test_every_shipped_training_config_passes_validation(name, variant):
  from rde_jax.train import config as train_config
  spec = importlib.util.spec_from_file_location(name, REPO / "configs" / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  train_config.validate(module.get_config(variant))


def test_validation_constants_match_the_library():
  from rde_jax import inference, validate
  from rde_jax.model import architectures
  assert set(validate.DTYPES) == set(inference.DTYPES)
  assert set(validate.ARCHES) == set(architectures._TABLE)
