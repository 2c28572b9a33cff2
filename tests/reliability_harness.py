"""The harness of the bad-input table (tests/reliability_cases.py): the commands, the shared
inputs every case reads (`Env`, written once by `make_env`), the `Case` record, and how a run is
judged (`snapshot` of the folders before and after, `judge`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Callable

COMMANDS = {  # command -> argv prefix after the interpreter
    "segment": ["-m", "rde_jax.segment"],
    "convert": ["-m", "rde_jax.convert"],
    "score_davis": ["-m", "rde_jax.score_davis"],
    "eval.py": ["eval.py"],
    "train.py": ["train.py"],
    "api": ["-c"],
}


@dataclasses.dataclass(frozen=True)
class Env:
  """Shared inputs: a tiny model, a 12-frame clip, a DAVIS tree and results, a tiny .pth."""
  root: Path

  @property
  def model(self) -> Path:
    return self.root / "model"

  @property
  def frames(self) -> Path:
    return self.root / "clip" / "frames"

  @property
  def mask(self) -> Path:
    return self.root / "clip" / "first.png"

  @property
  def davis(self) -> Path:
    return self.root / "davis"

  @property
  def results(self) -> Path:
    return self.root / "results"

  @property
  def pth(self) -> Path:
    return self.root / "tiny.pth"


def make_env(root: Path) -> Env:
  """Writes the shared inputs once (numpy/PIL only, plus the tiny model's orbax tree)."""
  import eval_fakes as F
  import torch_zip_writer
  from rde_jax import checkpoint, convert
  from rde_jax.fileio import label_png as masks_io
  from rde_jax.model.architectures import TINY
  from rde_jax.model.network import init_variables
  env = Env(Path(root))
  if (env.root / "ready").exists():
    return env
  arch = TINY
  variables = init_variables(arch, 0)
  checkpoint.save_model(env.model, variables, arch, source="tests")
  torch_zip_writer.save(convert.to_torch_state_dict(variables), env.pth)
  frames, labels = F.video(7, 12)
  for t, f in enumerate(frames):
    F.save_jpeg(env.frames / f"{t:05d}.jpg", f)
  masks_io.write_label_png(env.mask, labels[0])
  gt = F.write_davis(env.davis, names=("alpha", "bravo"), num_frames=5)
  for name, seq in gt.items():
    for t in range(len(seq)):
      masks_io.write_label_png(env.results / name / f"{t:05d}.png", seq[t])
  (env.root / "ready").write_text("")
  return env


@dataclasses.dataclass(frozen=True)
class Case:
  """`expect='error'`: refused with one `error:` line matching `match`, nothing changed.
  `expect='success'`: exit 0, no traceback, `match` found in stderr (a note), and `check(env,
  work)` (None: fine, else what is wrong) holds for the outputs. `slow`: trains or segments."""
  id: str
  command: str
  args: Callable[[Env, Path], list[str]]
  match: str  # regex the error line (or, for a success, stderr) must match
  setup: Callable[[Env, Path], None] | None = None
  expect: str = "error"
  check: Callable[[Env, Path], str | None] | None = None
  slow: bool = False
  may_leave: str = ""  # regex of paths a refused run may leave (a failed training run's log)


def snapshot(*folders: Path) -> dict[str, str]:
  """{relative path: sha1 of the bytes ('dir' for folders)} of everything under `folders`."""
  out = {}
  for folder in folders:
    for dirpath, dirnames, filenames in os.walk(folder):
      for d in dirnames:
        out[os.path.join(dirpath, d)] = "dir"
      for f in filenames:
        p = os.path.join(dirpath, f)
        out[p] = hashlib.sha1(Path(p).read_bytes()).hexdigest()
  return out


def judge(case: Case, rc: int, stderr: str, before: dict, after: dict, env: Env | None = None,
          work: Path | None = None) -> str:
  """'ok' or the list of what went wrong (exit 0, traceback, leftovers, changed outputs...)."""
  import re
  if case.expect == "success":
    return _judge_success(case, rc, stderr, env, work)
  problems = []
  if rc == 0:
    problems.append("exit 0")
  if "Traceback" in stderr:
    problems.append(f"traceback ({len(stderr.splitlines())} lines)")
  lines = stderr.splitlines()
  errors = [l for l in lines if l.startswith(("error: ", "FATAL Flags parsing error: "))]
  hints = [l for l in lines if l.startswith("hint: ")]
  if len(errors) != 1:
    problems.append(f"{len(errors)} error lines")
  elif not re.search(case.match, " ".join(errors + hints)):
    problems.append(f"unclear: {errors[0][:100]!r}")
  added = sorted(a for a in set(after) - set(before)
                 if not (case.may_leave and re.search(case.may_leave, a)))
  removed = sorted(set(before) - set(after))
  changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
  if added:
    problems.append(f"left behind: {', '.join(os.path.basename(a) for a in added[:3])}")
  if removed or changed:
    problems.append("earlier output changed")
  return "ok" if not problems else "; ".join(problems)


def _judge_success(case: Case, rc: int, stderr: str, env: Env | None, work: Path | None) -> str:
  import re
  problems = []
  if rc != 0:
    problems.append(f"exit {rc}")
  if "Traceback" in stderr:
    problems.append(f"traceback ({len(stderr.splitlines())} lines)")
  if not re.search(case.match, stderr):
    problems.append("no note")
  if not problems and case.check is not None and env is not None:
    wrong = case.check(env, work)
    if wrong:
      problems.append(wrong)
  return "ok" if not problems else "; ".join(problems)
