"""The inference benchmark on the tiny model at a small size (in-process, a few seconds)."""

import json

import numpy as np
import pytest

from rde_jax.benchmark import run as benchmark
from rde_jax.benchmark import tables

from configs_helper import config_module, load_config

pytestmark = pytest.mark.slow  # the benchmark runs once for the module


@pytest.fixture(scope="module")
def report():
  return benchmark.run(load_config("benchmark"))


def test_report_fields(report):
  env = report["environment"]
  for key in ("platform", "device_kind", "cpu_count", "jax", "jaxlib", "flax", "dtype",
              "precision", "load_avg_start", "load_avg_end"):
    assert key in env, key
  assert report["peak_rss_bytes"] > 0
  for mode in ("rde", "stm"):
    r = report[mode]
    assert r["compile_s"]["init"] > 0 and r["compile_s"]["step"] > 0
    assert r["latency_s"]["median"] > 0 and r["fps"] > 0
    assert r["latency_plain_s"]["n"] > 0 and r["latency_memory_frame_s"]["n"] > 0
    assert len(r["series"]["latency_s"]) == r["frames"] == report["config"]["num_frames"]
    assert r["flatness"]["median_ratio"] > 0 and r["per_frame_s"] > 0
    assert len(r["series"]["other_cores"]) == r["frames"] and "quiet" in r
  assert {"encode_key", "read", "decode", "aggregate", "value", "sam"} <= set(report["stages"])
  assert report["stages"]["decode"]["flops"] > report["stages"]["aggregate"]["flops"] > 0
  assert "family" in env["cpu_settings"]
  # Published and earlier-measured figures travel beside the measurements, never mixed in.
  ref = report["reference"]
  assert ref == benchmark.REFERENCE
  assert (ref["paper_gpu"]["fps_davis17"], ref["paper_gpu"]["fps_davis16"]) == (27.0, 35.0)
  torch_cpu = ref["official_pytorch_cpu"]
  # mem_every 3: two plain frames and one RDE update per period.
  period = (2 * torch_cpu["plain_frame_s"] + torch_cpu["rde_update_frame_s"]) / 3
  assert abs(period - torch_cpu["s_per_frame"]) <= 0.1, period
  json.dumps(report)  # serialisable


def test_rde_memory_is_constant_and_stm_grows(report):
  rde, stm = report["rde"]["series"], report["stm"]["series"]
  assert len(set(rde["state_bytes"])) == 1
  assert max(rde["memory_slots"]) == 4
  slots = np.asarray(stm["memory_slots"])
  assert np.all(np.diff(slots) >= 0) and slots[-1] == 1 + sum(stm["memory_frame"][1:])
  assert slots[-1] > slots[0]
  assert stm["state_bytes"][-1] > stm["state_bytes"][0]
  assert report["stm"]["growth_events"]  # the bank was reallocated (and recompiled)


def test_table_and_plot(report, tmp_path):
  text = tables.table(report)
  # Each mode's row shows its measured median latency (ms) and FPS from the report.
  for mode in ("rde", "stm"):
    r = report[mode]
    row = next(line for line in text.splitlines() if line.startswith(mode))
    assert f"{1e3 * r['latency_s']['median']:.1f}" in row and f"{r['fps']:6.2f}" in row
  path = tmp_path / "plot.png"
  tables.plot_report(report, str(path))
  from PIL import Image
  with Image.open(path) as img:
    assert img.size[0] > 100 and img.size[1] > 100


@pytest.mark.parametrize("args,match", [
    (["--config.num_frames=0"], r"config\.num_frames must be an integer >= 2"),
    (["--config.num_objects=-1"], r"config\.num_objects must be an integer >= 1"),
    (["--config.height=50"], r"config\.height must be a multiple of 16"),
    (["--config.dtype=float64"], r"config\.dtype must be one of"),
    (["--config.modes=rde,fast"], r"config\.modes must be a comma list"),
    (["--config.conv_algorithm=fft"], r"config\.conv_algorithm must be one of"),
    (["--config.top_k=0"], r"config\.top_k must be an integer >= 1"),
    (["--config.typo=1"], r"--config\.typo: no such field"),
    (["--config=/nope/bench.py"], r"--config: /nope/bench\.py: no such file"),
])
def test_bad_values_end_in_one_error_line_before_any_work(args, match, capsys, monkeypatch):
  from rde_jax import cli
  from rde_jax.benchmark import __main__ as bench_main
  monkeypatch.setattr(benchmark, "run", lambda cfg: pytest.fail("work started"))
  rc = cli.call(bench_main.main, bench_main.define_flags, ["rde-benchmark", *args])
  err = capsys.readouterr().err
  lines = [line for line in err.splitlines() if line.startswith("error:")]
  assert rc != 0 and len(lines) == 1 and "Traceback" not in err, err
  assert __import__("re").search(match, lines[0]), lines[0]


def test_out_may_not_be_a_folder(tmp_path, capsys, monkeypatch):
  from rde_jax import cli
  from rde_jax.benchmark import __main__ as bench_main
  monkeypatch.setattr(benchmark, "run", lambda cfg: pytest.fail("work started"))
  rc = cli.call(bench_main.main, bench_main.define_flags,
                ["rde-benchmark", f"--out={tmp_path}"])
  err = capsys.readouterr().err
  assert rc == 1 and err.startswith("error: config.out:") and "is a folder" in err, err
  assert tmp_path.is_dir()  # nothing touched


def test_default_config_lives_in_the_package():
  """An installed wheel has no configs/ folder: the default --config is inside rde_jax."""
  import os
  from rde_jax.benchmark import __main__ as bench_main
  from rde_jax.benchmark import config as config_lib
  import rde_jax
  assert os.path.dirname(bench_main.CONFIG) == os.path.dirname(config_lib.__file__)
  assert bench_main.CONFIG.startswith(os.path.dirname(rde_jax.__file__))
  assert config_module("benchmark").get_config("runlocal").to_dict() == \
      config_lib.get_config("runlocal").to_dict()
  config_lib.validate(config_lib.get_config())  # the defaults pass their own checks
