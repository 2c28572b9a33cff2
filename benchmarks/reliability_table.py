r"""Runs the bad-input table (tests/reliability_cases.py) as real subprocesses against a checkout.

  python benchmarks/reliability_table.py --repo . --out /tmp/after.json [--only 'segment|api']
  python benchmarks/reliability_table.py --markdown "before=/tmp/b.json" "after=/tmp/a.json"

Every case gets a fresh folder (with its earlier outputs, if any) and a snapshot of it and of the
shared inputs before and after the run; the verdict says 'ok' or what went wrong (exit 0,
traceback, several or unclear error lines, files left behind, earlier outputs changed). The
fixtures are written with this checkout's code; `--repo` is the code under test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "tests"))
sys.path.insert(0, str(HERE))

import reliability_cases as R  # noqa: E402


def run_case(case: R.Case, env: R.Env, repo: Path, scratch: Path) -> dict:
  work = scratch / case.id.replace(" ", "_").replace("/", "_")
  work.mkdir(parents=True)
  if case.setup:
    case.setup(env, work)
  before = R.snapshot(work, env.root)
  argv = [sys.executable, *R.COMMANDS[case.command], *case.args(env, work)]
  penv = dict(os.environ, PYTHONPATH=str(repo))
  start = time.perf_counter()
  try:
    proc = subprocess.run(argv, cwd=repo, env=penv, capture_output=True, text=True, timeout=600)
    rc, stderr = proc.returncode, proc.stderr
  except subprocess.TimeoutExpired:
    rc, stderr = -1, "timeout"
  seconds = time.perf_counter() - start
  after = R.snapshot(work, env.root)
  lines = [l for l in stderr.splitlines() if l.strip()]
  errors = [l for l in lines if l.startswith(("error: ", "FATAL Flags parsing error: "))]
  if case.expect == "success":  # the note (or the last line) is the message
    errors = [l for l in lines if re.search(case.match, l)] if case.match else []
  return {"verdict": R.judge(case, rc, stderr, before, after, env, work), "rc": rc,
          "stderr_lines": len(lines), "message": (errors or lines or [""])[-1][:400],
          "seconds": round(seconds, 1)}


def _cell(r: dict) -> str:
  short = lambda t: re.sub(r"/tmp/rde_reliability_\w+/(cases/[^/\s]+/?|env/)", "", t)
  if not r:
    return "-"
  if r.get("verdict") != "ok":
    return short(r.get("verdict", "-")).replace("|", "\\|")
  text = short(r["message"])
  text = text.split(": ", 1)[1] if text.startswith(("error: ", "FATAL")) else text
  text = re.sub(r"^[IWEF]\d{4} [\d:.]+ +\d+ \S+\] ", "", text)  # an absl log prefix
  return f"ok: `{text[:110]}`".replace("|", "\\|")


def markdown(columns: list[tuple[str, dict]], only: str = "") -> str:
  """One row per case (those whose id matches `only`), one column per (title, results) pair;
  then the ok counts."""
  rows = ["| case | " + " | ".join(t for t, _ in columns) + " |",
          "|---|" + "---|" * len(columns)]
  cases = [c for c in R.CASES if re.search(only, c.id)]
  for case in cases:
    cells = [_cell(res.get(case.id, {})) for _, res in columns]
    rows.append(f"| {case.command}: {case.id.split(' ', 1)[1]} | " + " | ".join(cells) + " |")
  counts = [f"{sum(res.get(c.id, {}).get('verdict') == 'ok' for c in cases)}/"
            f"{sum(c.id in res for c in cases)} ok ({t})" for t, res in columns]
  rows.append("\n" + ", ".join(counts) + f"; {len(cases)} cases.")
  return "\n".join(rows)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--repo", type=Path, default=HERE)
  p.add_argument("--out", type=Path)
  p.add_argument("--only", default="",
                 help="regex: run (or, with --markdown, show) only the matching case ids "
                      "(runs are merged into an existing --out)")
  p.add_argument("--markdown", nargs="+", metavar="TITLE=RESULTS.json",
                 help="print the table of these runs, one column each")
  args = p.parse_args()
  if args.markdown:
    print(markdown([(t, json.loads(Path(f).read_text()))
                    for t, f in (a.split("=", 1) for a in args.markdown)], args.only))
    return
  scratch = Path(tempfile.mkdtemp(prefix="rde_reliability_"))
  env = R.make_env(scratch / "env")
  results = json.loads(args.out.read_text()) if args.only and args.out and args.out.exists() else {}
  for case in R.CASES:
    if re.search(args.only, case.id):
      results[case.id] = run_case(case, env, args.repo.resolve(), scratch / "cases")
      print(f"{case.id}: {results[case.id]['verdict']} ({results[case.id]['seconds']} s)",
            flush=True)
      if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
  main()
