"""benchmarks/device_check.py: the installer's decisions and the budget, without a GPU."""

import argparse
import importlib.util
import sys
import types

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module():
  spec = importlib.util.spec_from_file_location("device_check", ROOT / "benchmarks" /
                                                "device_check.py")
  m = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(m)
  return m


def test_missing_packages_and_the_offline_install_command(tmp_path):
  dc = _module()
  assert dc.missing_packages({"numpy": "numpy", "no-such": "no_such_module_xyz"}) == ["no-such"]
  cmd = dc.install_command(str(tmp_path), ["clu", "grain"])
  assert cmd[1:] == ["-m", "pip", "install", "--no-index", "--find-links", str(tmp_path),
                     "clu", "grain"]


def test_ensure_packages_installs_only_when_missing(tmp_path, monkeypatch):
  dc = _module()
  calls = []
  fake_run = lambda cmd, **kw: calls.append(cmd) or types.SimpleNamespace(
      returncode=0, stdout="ok", stderr="")
  monkeypatch.setattr(dc, "missing_packages", lambda: [])
  assert dc.ensure_packages(str(tmp_path), run=fake_run) == {"missing": [], "installed": False}
  assert not calls
  monkeypatch.setattr(dc, "missing_packages", lambda: ["clu"])
  rec = dc.ensure_packages(None, run=fake_run)
  assert "no wheel folder" in rec["error"] and not calls
  (tmp_path / "clu-0.0.1-py3-none-any.whl").write_bytes(b"")
  rec = dc.ensure_packages(str(tmp_path), run=fake_run)
  assert rec["installed"] and calls[0][-1] == "clu" and "--no-index" in calls[0]


def test_sections_that_do_not_fit_the_budget_are_skipped(monkeypatch):
  dc = _module()
  monkeypatch.setattr(dc, "missing_packages", lambda: [])
  args = argparse.Namespace(wheels=None, official=None, budget_s=1.0, remat="all", only="",
                            dry_run=True)
  report = dc.run_all(args)
  assert set(report["sections"]) == set(dc.SECTIONS)
  assert all("budget" in r["skipped"] for r in report["sections"].values())
  assert report["sizes"]["arch"] == "tiny"
  assert dc.section_argv(args) == ["--remat", "all", "--dry_run"]


def test_official_sections_say_why_they_are_skipped():
  dc = _module()
  sz = dc.sizes(True)
  assert "skipped" in dc.official_infer(None, sz) and "skipped" in dc.torch_train_amp(None, sz)
  assert dc.sizes(False)["height"] == 480 and sys.executable
