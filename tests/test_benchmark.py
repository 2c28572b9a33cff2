"""The inference benchmark on the tiny model at a small size (in-process, a few seconds)."""

import json

import numpy as np
import pytest

from rde_jax.benchmark import run as benchmark
from rde_jax.benchmark import tables

from configs_helper import load_config

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
    assert len(r["series"]["latency_s"]) == r["frames"] == 14
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
