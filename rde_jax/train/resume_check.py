"""A resumed run must train as the interrupted one did: the same seed, learning rate, batch,
data, ... (a resume is bit-identical only then).

WORKDIR/run_config.json records the config of the run (written by process 0 when a run starts
from step 0, and whenever a changed config is accepted). A resume compares every field but
those that do not change the trajectory (`FREE`: how long, how often to log, checkpoint and
evaluate, the compilation cache, the reader threads) and refuses the first difference, unless
`allow_changed` (train.py --allow_changed_resume). Workdirs of earlier versions have no record;
the config saved with WORKDIR/model (model.json) is compared instead, when there is one.
"""

from __future__ import annotations

import json
from typing import Any

import ml_collections
from absl import logging

from rde_jax.errors import UserError
from rde_jax.fileio import atomic

NAME = "run_config.json"
FREE = ("num_steps", "log_every", "checkpoint_every", "keep_checkpoints", "eval_every", "eval.",
        "compilation_cache", "data.num_threads")


class ChangedResumeError(UserError):
  """A resume with a config that changes the training trajectory."""


def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
  """{'a': {'b': 1}} -> {'a.b': 1}, with JSON values (tuples as lists)."""
  out: dict[str, Any] = {}
  for k, v in d.items():
    if isinstance(v, dict) and v:
      out.update(flat(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = json.loads(json.dumps(v))
  return out


def _free(field: str) -> bool:
  return any(field == f or (f.endswith(".") and field.startswith(f)) for f in FREE)


def first_difference(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, Any, Any] | None:
  """(field, old value, new value) of the first trajectory field that differs, or None."""
  a, b = flat(old), flat(new)
  for field in sorted(set(a) | set(b)):
    if not _free(field) and a.get(field, "<unset>") != b.get(field, "<unset>"):
      return field, a.get(field, "<unset>"), b.get(field, "<unset>")
  return None


def _recorded(workdir: Any) -> tuple[dict[str, Any] | None, Any]:
  """The earlier run's config and the file it came from (None when there is no record)."""
  for path, key in ((workdir / NAME, None), (workdir / "model" / "model.json", "config")):
    try:
      data = json.loads(path.read_text())
    except (OSError, ValueError):
      continue
    data = data.get(key) if key else data
    if isinstance(data, dict):
      return data, path
  return None, None


def check(cfg: ml_collections.ConfigDict, workdir: Any, *, resuming: bool,
          allow_changed: bool = False, write: bool = True) -> None:
  """Refuses a resume whose config changes the trajectory; records the config (`write`)."""
  new = cfg.to_dict()
  if resuming:
    old, source = _recorded(workdir)
    diff = first_difference(old, new) if old is not None else None
    if diff is not None:
      field, was, now = diff
      message = (f"config.{field} is {now!r} but the run being resumed in {workdir} used {was!r} "
                 f"({source}); a resume with another value is not the same training")
      if not allow_changed:
        raise ChangedResumeError(message, hint="use a new --workdir, or pass "
                                 "--allow_changed_resume to resume with the new config anyway")
      logging.warning("%s; resuming anyway (--allow_changed_resume)", message)
    elif old is None:
      logging.warning("%s: no record of the earlier run's config; recording this one", workdir)
    else:
      return
  if write:
    atomic.write_json(workdir / NAME, new)
