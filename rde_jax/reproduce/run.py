"""The reproduction itself: inputs -> checkpoints (fetched, hashed, converted once) -> each row
through `rde_jax.evaluation.run` (eval.py's code) -> W/table.md and W/table.json.

Workdir W:
  models/<stem>-<sha256[:12]>/   each checkpoint converted once (a changed file: a new folder)
  rows/<row>/                    the row's eval.py workdir (resumes per video)
  rows/<row>/row.json            the row's result, written last: a row with it is never rerun
  jax_cache/                     the compilation cache the rows share
  table.md, table.json           the table (rewritten at the end of every run)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import ml_collections

from rde_jax import multihost, validate
from rde_jax.errors import UserError
from rde_jax.fileio import atomic, storage
from rde_jax.inference.settings import PRESETS
from rde_jax.reproduce import download, table
from rde_jax.reproduce.rows import BY_NAME, DATASETS, ROWS, Row

# configs/ of a source checkout (the eval configs the rows run).
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@dataclasses.dataclass(frozen=True)
class Request:
  """What to reproduce. roots: {'davis' | 'davis_testdev' | 'youtube': folder or ''}.
  overrides: {row: {'a.b': value}} config fields set after the row's own (tests, studies)."""
  workdir: str
  checkpoints: str
  roots: Mapping[str, str]
  rows: Sequence[str] = tuple(r.name for r in ROWS)
  preset: str = "float32"
  download: bool = False
  download_from: str = ""
  overrides: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)


def _primary() -> bool:
  """Process 0 fetches, converts and writes the row records and the table."""
  import jax
  return jax.process_index() == 0


def load_config(row: Row) -> ml_collections.ConfigDict:
  """configs/<row.config>.py's get_config()."""
  path = CONFIGS / f"{row.config}.py"
  if not path.is_file():
    raise UserError(f"{path}: no such config (rde-reproduce runs from a source checkout)")
  spec = importlib.util.spec_from_file_location(f"rde_reproduce_{row.config}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def row_config(row: Row, model_dir: Path, root: str, req: Request,
               workdir: Path) -> ml_collections.ConfigDict:
  """The row's eval config: its official settings, our model and data, the preset."""
  cfg = load_config(row)
  cfg.checkpoint = str(model_dir)
  cfg.dataset.root = root
  cfg.arch = ""  # the converted file decides (the official files: the official architecture)
  cfg.num_devices = 0  # every local device, one video each
  cfg.compilation_cache = str(workdir / "jax_cache")
  for field, value in PRESETS[req.preset].items():
    cfg[field] = value
  if "preset" in cfg:
    cfg.preset = req.preset
  for key, value in req.overrides.get(row.name, {}).items():
    *parents, leaf = key.split(".")
    node = cfg
    for p in parents:
      node = node[p]
    node[leaf] = value
  return cfg


def check(req: Request) -> None:
  """Flag values, before anything is fetched or written."""
  unknown = [r for r in req.rows if r not in BY_NAME]
  if unknown or not req.rows:
    raise UserError(f"--rows: unknown row {unknown[0]!r} (expected some of "
                    f"{', '.join(BY_NAME)})" if unknown else "--rows: empty")
  validate.choice("--preset", req.preset, tuple(PRESETS))
  if storage.is_remote(req.workdir) or storage.is_remote(req.checkpoints):
    raise UserError("--workdir and --checkpoints must be local or mounted folders")
  validate.workdir("--workdir", req.workdir)
  if not req.download:
    validate.existing("--checkpoints", req.checkpoints, kind="dir")


def plan(req: Request) -> tuple[list[Row], list[dict[str, str]]]:
  """(rows whose dataset root is given and present, skipped rows with what they need)."""
  runnable, skipped = [], []
  for name in req.rows:
    row = BY_NAME[name]
    root = req.roots.get(row.dataset, "")
    if root and os.path.isdir(root):
      runnable.append(row)
    else:
      need = DATASETS[row.dataset] + (f" ({root}: no such folder)" if root else "")
      skipped.append({"row": name, "needs": need})
  return runnable, skipped


def prepare_checkpoints(req: Request, rows: list[Row], skipped: list[dict[str, str]],
                        say: Callable[[str], None]) -> tuple[list[Row], dict[str, dict]]:
  """Fetches (--download), hashes and converts the checkpoints of `rows` (process 0; the
  others wait). Returns (rows whose checkpoint is present, {file: sha256, bytes, model dir})."""
  folder = Path(req.checkpoints)
  names = list(dict.fromkeys(r.checkpoint for r in rows))
  fetched: dict[str, dict] = {}
  if req.download and _primary():
    fetched = download.fetch_checkpoints(names, folder, source=req.download_from, say=say)
  multihost.barrier("rde_jax.reproduce: checkpoints fetched")
  present = [r for r in rows if (folder / r.checkpoint).is_file()]
  for r in rows:
    if r not in present:
      skipped.append({"row": r.name, "needs": f"{folder / r.checkpoint} (--download fetches "
                                              f"it from {download.OFFICIAL_FOLDER})"})
  records: dict[str, dict] = {}
  for name in dict.fromkeys(r.checkpoint for r in present):
    path = folder / name
    digest = download.sha256(path)
    model = Path(req.workdir) / "models" / f"{Path(name).stem}-{digest[:12]}"
    if _primary() and not (model / "model.json").is_file():
      from rde_jax import convert
      convert.convert_file(str(path), str(model), overwrite=True)
      say(f"converted {name} -> {model}")
    records[name] = {"sha256": digest, "bytes": path.stat().st_size, "model": str(model),
                     **({"url": fetched[name]["url"]} if name in fetched else {})}
  multihost.barrier("rde_jax.reproduce: checkpoints converted")
  return present, records


def _percent(summary: dict[str, Any]) -> dict[str, float] | None:
  s = summary.get("scores")
  if not s:
    return None
  return {"J&F": 100 * s["J&F-Mean"], "J": 100 * s["J-Mean"], "F": 100 * s["F-Mean"]}


def _device(summary: dict[str, Any]) -> str:
  env = summary["environment"]
  kinds = sorted(set(env["devices"]))
  hosts = summary.get("processes", 1)
  count = summary.get("global_devices") or env["num_devices"]
  return f"{count}x {'/'.join(kinds)}" + (f" on {hosts} hosts" if hosts > 1 else "")


def run_row(row: Row, req: Request, record: dict, root: str,
            say: Callable[[str], None]) -> dict[str, Any]:
  """One row (resumed, or read back when finished before); returns its table entry."""
  from rde_jax import evaluation
  from rde_jax.evaluation import config as config_lib
  workdir = Path(req.workdir)
  row_dir = workdir / "rows" / row.name
  cfg = row_config(row, Path(record["model"]), root, req, workdir)
  key = {"settings": json.loads(json.dumps(config_lib.settings(cfg))), "preset": req.preset,
         "sha256": record["sha256"]}
  done = _finished(row_dir / "row.json", key)
  if multihost.broadcast_flags([done is not None])[0]:  # process 0's view, on every process
    if done is None:
      raise UserError(f"{row_dir / 'row.json'}: process 0 reads it, this process does not "
                      "(--multihost needs W on a file system every host shares)")
    say(f"{row.name}: finished before ({row_dir / 'row.json'}); not recomputed")
    return done
  summary = evaluation.run(cfg, row_dir)
  ours = _percent(summary)
  result = {
      "row": row.name, "title": row.title, "checkpoint": row.checkpoint,
      "sha256": record["sha256"], "preset": req.preset, "ours": ours,
      "official": dict(row.official),
      "difference": (ours[row.metric] - row.official[row.metric]) if ours else None,
      "seconds": summary["model_seconds"] + summary["compile_seconds"],
      "fps": summary["fps"], "videos": summary["num_videos"], "frames": summary["frames"],
      "device": _device(summary), "workdir": f"rows/{row.name}",
  }
  if not row.scored_here:  # paths relative to the reproduce workdir
    result.update(submission=f"rows/{row.name}/{summary.get('zip', 'submission.zip')}",
                  upload=row.server)
  if _primary():
    atomic.write_json(row_dir / "row.json", {**key, "result": result})
  say(table.row_line(result))
  return result


def _finished(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
  try:
    saved = json.loads(path.read_text())
  except (OSError, ValueError):
    return None
  if any(saved.get(k) != v for k, v in key.items()):
    return None
  return saved.get("result")


def reproduce(req: Request, say: Callable[[str], None] = print) -> dict[str, Any]:
  """Runs the requested rows; returns the table (also written to W/table.md, W/table.json)."""
  check(req)
  workdir = Path(req.workdir)
  rows, skipped = plan(req)
  rows, checkpoints = prepare_checkpoints(req, rows, skipped, say)
  for s in skipped:
    say(f"skipped {s['row']}: needs {s['needs']}")
  results = [run_row(r, req, checkpoints[r.checkpoint], req.roots[r.dataset], say)
             for r in rows]
  order = {name: i for i, name in enumerate(req.rows)}
  out = {"rows": results, "skipped": sorted(skipped, key=lambda s: order[s["row"]]),
         "checkpoints": {k: {f: v[f] for f in ("sha256", "bytes", "url") if f in v}
                         for k, v in checkpoints.items()},
         "preset": req.preset}
  if _primary():
    workdir.mkdir(parents=True, exist_ok=True)
    md, _ = table.write(workdir, out)
    say(f"wrote {md} and {workdir / 'table.json'}")
  multihost.barrier("rde_jax.reproduce: table written")
  return out
