"""Training mode of `python -m rde_jax.benchmark` on the tiny model at 32x32."""

import json

import numpy as np
import pytest

from rde_jax.benchmark import config as config_lib
from rde_jax.errors import UserError

from configs_helper import load_config


@pytest.mark.slow  # compiles the tiny training step (~1 min on 2 cores)
def test_training_mode_reports_time_flops_and_memory():
  from rde_jax.benchmark import train_run
  report = train_run.run(load_config("benchmark_train", "runlocal"))
  assert report["step_s"]["median"] > 0 and report["clips_per_s"] > 0
  assert report["flops"] > 0 and report["memory"]["estimate_bytes"] > 0
  assert report["peak_rss_bytes"] > 0 and np.isfinite(report["first_loss"])
  assert report["train_config"]["stage"] == 2 and "load_avg_end" in report["environment"]
  assert "clips/s" in train_run.table(report)
  json.dumps(report)


def test_training_mode_fields_are_checked():
  for field, bad in (("mode", "serve"), ("train_stage", 1), ("remat", "x"),
                     ("train_conv_algorithm", "fft"), ("batch_size", 0)):
    cfg = load_config("benchmark_train", "runlocal")
    cfg[field] = bad
    with pytest.raises(UserError, match=f"config.{field}"):
      config_lib.validate(cfg)


def test_presets_load():
  assert load_config("benchmark_train", None).train_stage == 2
  assert load_config("benchmark_train", "stage0").batch_size == 2
  c = load_config("benchmark_train", "official8")
  assert c.batch_size == 8 and c.compile_only and c.remat == "all"
  assert c.train_conv_algorithm == "auto"  # under remat: 'winograd_forward' on the CPU
  assert c.cpu_flags.split() == ["auto", "--xla_cpu_scheduler_type=CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"]
  config_lib.validate(c)
