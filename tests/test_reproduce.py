"""rde-reproduce end to end on tiny generated DAVIS-2016/2017 and YouTube-VOS trees, with
official-format .pth files (random tiny-architecture weights) served by a local HTTP server."""

import collections
import hashlib
import importlib.util
import json
import zipfile
from pathlib import Path

import pytest

from rde_jax import cli, convert
from rde_jax.convert import __main__ as convert_cli
from rde_jax.evaluation import davis as davis_task
from rde_jax.model.architectures import TINY
from rde_jax.model.network import init_variables
from rde_jax.reproduce import __main__ as reproduce_cli
from rde_jax.reproduce import run as reproduce_run
from rde_jax.reproduce.rows import CHECKPOINTS, ROWS

import eval_fakes as F
import http_fixture
import torch_zip_writer

REPO = Path(__file__).resolve().parents[1]
YOUTUBE_64 = {"yv19_valid": {"dataset.short_side": 64}}  # the fake videos' size: no resize


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
  """{'pth': folder of the three official files, 'davis', 'testdev', 'youtube': roots}."""
  root = tmp_path_factory.mktemp("reproduce")
  for seed, name in enumerate(CHECKPOINTS):
    sd = convert.to_torch_state_dict(init_variables(TINY, seed))
    (root / "pth").mkdir(exist_ok=True)
    torch_zip_writer.save(collections.OrderedDict(sd), root / "pth" / name)
  F.write_davis(root / "davis", ("alpha", "bravo", "charlie"))
  F.write_davis(root / "testdev", ("delta", "echo"), split="test-dev")
  F.write_youtube(root / "youtube")
  return {k: root / k for k in ("pth", "davis", "testdev", "youtube")}


def _request(trees, workdir, checkpoints, **kwargs):
  roots = {"davis": str(trees["davis"]), "davis_testdev": str(trees["testdev"]),
           "youtube": str(trees["youtube"])}
  return reproduce_run.Request(workdir=str(workdir), checkpoints=str(checkpoints), roots=roots,
                               overrides=YOUTUBE_64, **kwargs)


def _eval_py_jf(trees, config: str, pth: Path, tmp_path: Path) -> float:
  """J&F (percent) of eval.py on a checkpoint converted by `python -m rde_jax.convert`."""
  model = tmp_path / f"convert_{config}"
  assert cli.call(convert_cli.main, convert_cli.define_flags,
                  ["convert", "--input", str(pth), "--output", str(model)]) == 0
  spec = importlib.util.spec_from_file_location("eval_entry", REPO / "eval.py")
  eval_py = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(eval_py)
  wd = tmp_path / f"eval_{config}"
  argv = ["eval.py", "--config", str(REPO / "configs" / f"{config}.py"), "--workdir", str(wd),
          f"--config.checkpoint={model}", f"--config.dataset.root={trees['davis']}",
          "--config.arch=tiny", "--config.compilation_cache="]
  assert cli.call(eval_py.main, eval_py.define_flags, argv) == 0
  return 100 * json.loads((wd / "summary.json").read_text())["scores"]["J&F-Mean"]


@pytest.mark.slow
def test_whole_table_downloaded_scored_like_eval_py(trees, tmp_path, monkeypatch):
  served = http_fixture.files_of(trees["pth"])
  lines = []
  with http_fixture.serve(served) as (server, base):
    req = _request(trees, tmp_path / "W", tmp_path / "C", download=True, download_from=base)
    table = reproduce_run.reproduce(req, say=lines.append)
  assert sorted(l.split(":")[0] for l in lines if l.startswith("downloaded")) == [
      f"downloaded {n}" for n in sorted(CHECKPOINTS)]
  assert table["checkpoints"] == {n: {"sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b),
                                      "url": f"{base}/{n}"} for n, b in served.items()}
  assert [r["row"] for r in table["rows"]] == [r.name for r in ROWS] and not table["skipped"]
  assert json.loads((tmp_path / "W" / "table.json").read_text()) == json.loads(
      json.dumps(table))
  by = {r["row"]: r for r in table["rows"]}
  for name in ("d17_val", "d17_val_s03", "d16_val"):
    ours = by[name]["ours"]
    assert 0 <= ours["J&F"] <= 100 and ours["J&F"] == pytest.approx((ours["J"] + ours["F"]) / 2)
    assert by[name]["difference"] == pytest.approx(ours["J&F"] - by[name]["official"]["J&F"])
  assert by["d17_val"]["official"] == {"J&F": 86.1, "J": 82.1, "F": 90.0}
  assert by["d17_val_s03"]["ours"] != by["d17_val"]["ours"]  # another checkpoint
  for name, inside in (("d17_testdev", "delta/00006.png"), ("yv19_valid", "Annotations/late/")):
    assert by[name]["ours"] is None and by[name]["upload"].startswith("https://")
    with zipfile.ZipFile(tmp_path / "W" / by[name]["submission"]) as z:
      assert any(n.startswith(inside) for n in z.namelist())
  md = (tmp_path / "W" / "table.md").read_text()
  assert md.startswith("| row | checkpoint | preset | ours | official (README) |")
  assert "| d17_val | model_s012_final.pth | float32 | J&F " in md
  # eval.py on the same rows, from an independently converted file: the same J&F.
  assert by["d17_val"]["ours"]["J&F"] == _eval_py_jf(
      trees, "davis2017_val", trees["pth"] / "model_s012_final.pth", tmp_path)
  assert by["d16_val"]["ours"]["J&F"] == _eval_py_jf(
      trees, "davis2016_val", trees["pth"] / "model_s012_final.pth", tmp_path)
  # A rerun recomputes nothing: no evaluation at all.
  monkeypatch.setattr("rde_jax.evaluation.run", lambda *a: pytest.fail("recomputed a row"))
  again = reproduce_run.reproduce(_request(trees, tmp_path / "W", tmp_path / "C"),
                                  say=lines.append)
  assert again["rows"] == table["rows"]


@pytest.mark.slow
def test_a_killed_run_resumes_without_recomputing(trees, tmp_path, monkeypatch, capsys):
  real, calls, killed = davis_task.DavisTask.run_video, [], []

  def run_video(self, video, engine):
    calls.append((self.workdir.name, video.name))
    if (self.workdir.name, video.name) == ("d16_val", "bravo") and not killed:
      killed.append(True)
      raise KeyboardInterrupt  # the run is killed in the middle of the second row
    return real(self, video, engine)

  monkeypatch.setattr(davis_task.DavisTask, "run_video", run_video)
  req = _request(trees, tmp_path / "W", trees["pth"], rows=("d17_val", "d16_val"))
  with pytest.raises(KeyboardInterrupt):
    reproduce_run.reproduce(req)
  rows = tmp_path / "W" / "rows"
  assert (rows / "d17_val" / "row.json").exists() and not (rows / "d16_val" / "row.json").exists()
  assert (rows / "d16_val" / "videos" / "alpha.json").exists()
  assert not (rows / "d16_val" / "videos" / "bravo.json").exists()
  undone = [("d16_val", v) for v in ("alpha", "bravo", "charlie")
            if not (rows / "d16_val" / "videos" / f"{v}.json").exists()]
  calls.clear()
  table = reproduce_run.reproduce(req)
  assert calls == undone  # nothing done is redone (charlie may have finished before the kill)
  assert [r["row"] for r in table["rows"]] == ["d17_val", "d16_val"]
  # The command line on the finished workdir: nothing recomputed, one line per row.
  calls.clear()
  capsys.readouterr()
  argv = ["rde-reproduce", "--workdir", str(tmp_path / "W"), "--checkpoints",
          str(trees["pth"]), "--davis", str(trees["davis"]), "--rows", "d17_val,d16_val"]
  assert cli.call(reproduce_cli.main, reproduce_cli.define_flags, argv) == 0
  out = capsys.readouterr().out
  assert calls == [] and out.count("finished before") == 2
  assert json.loads((tmp_path / "W" / "table.json").read_text())["rows"] == json.loads(
      json.dumps(table["rows"]))


def test_absent_inputs_are_skipped_with_one_line_and_bad_flags_fail(trees, tmp_path, capsys):
  argv = ["rde-reproduce", "--workdir", str(tmp_path / "W"), "--checkpoints", str(tmp_path),
          "--davis", str(trees["davis"]), "--rows", "d17_val,yv19_valid"]
  assert cli.call(reproduce_cli.main, reproduce_cli.define_flags, argv) == 0
  out = capsys.readouterr().out.splitlines()
  assert any(l.startswith("skipped d17_val: needs ") and "model_s012_final.pth" in l
             and "--download" in l for l in out)
  assert any(l.startswith("skipped yv19_valid: needs --youtube") for l in out)
  saved = json.loads((tmp_path / "W" / "table.json").read_text())
  assert saved["rows"] == [] and [s["row"] for s in saved["skipped"]] == ["d17_val",
                                                                          "yv19_valid"]
  bad = argv[:5] + ["--rows", "d17_val,d18"]
  assert cli.call(reproduce_cli.main, reproduce_cli.define_flags, bad) == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("error: --rows: unknown row 'd18'")
  missing = ["x", "--workdir", str(tmp_path / "W2"), "--checkpoints", str(tmp_path / "none")]
  assert cli.call(reproduce_cli.main, reproduce_cli.define_flags, missing) == 1
  assert "--checkpoints" in capsys.readouterr().err
