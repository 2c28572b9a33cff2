"""W/table.md and W/table.json: ours beside the official README's figures (scores in percent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from rde_jax.fileio import atomic
from rde_jax.reproduce.rows import BY_NAME


def _scores(scores: dict[str, float] | None, metric: str) -> str:
  if not scores:
    return "–"
  rest = ", ".join(f"{k} {v:.1f}" for k, v in scores.items() if k != metric)
  return f"{metric} {scores[metric]:.1f}" + (f" ({rest})" if rest else "")


def row_line(r: dict[str, Any]) -> str:
  """One markdown table line of a row result."""
  row = BY_NAME[r["row"]]
  if r["ours"] is None:
    ours = f"server: upload `{r['submission']}` at {r['upload']}"
    diff = "–"
  else:
    ours = _scores(r["ours"], row.metric)
    diff = f"{r['difference']:+.1f}"
  return (f"| {r['row']} | {r['checkpoint']} | {r['preset']} | {ours} | "
          f"{_scores(r['official'], row.metric)} | {diff} | {r['seconds']:.0f} s | "
          f"{r['device']} |")


def markdown(rows: Sequence[dict[str, Any]], skipped: Sequence[dict[str, str]],
             checkpoints: dict[str, dict[str, Any]]) -> str:
  lines = ["| row | checkpoint | preset | ours | official (README) | difference | time | device |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
  lines += [row_line(r) for r in rows]
  if skipped:
    lines += [""] + [f"skipped {s['row']}: needs {s['needs']}" for s in skipped]
  if checkpoints:
    lines += [""] + [f"{name}: sha256 {c['sha256']}, {c['bytes']:,} bytes"
                     for name, c in sorted(checkpoints.items())]
  lines += ["", "Scores in percent (the official README's convention); time = model and "
            "compilation seconds summed over the videos (reading and writing excluded)."]
  return "\n".join(lines) + "\n"


def write(workdir: Path, table: dict[str, Any]) -> tuple[Path, Path]:
  """Writes table.json (the `table` dict) and table.md atomically; returns their paths."""
  md = markdown(table["rows"], table["skipped"], table["checkpoints"])
  atomic.write_json(workdir / "table.json", table)
  atomic.write_bytes(workdir / "table.md", md.encode("utf-8"))
  return workdir / "table.md", workdir / "table.json"
