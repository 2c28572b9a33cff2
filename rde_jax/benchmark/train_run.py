"""Training mode of `python -m rde_jax.benchmark` (`--config.mode=train`): one Trainer step.

    python -m rde_jax.benchmark --config=configs/benchmark_train.py                 # stage 2, 384²
    python -m rde_jax.benchmark --config=configs/benchmark_train.py:official8 \\
        --config.compile_only=true                                  # memory estimate, 8 clips

The step is `Trainer.step` as train.py runs it (random weights, synthetic uint8 frames and masks:
cost does not depend on content). Reported: compile time, XLA's FLOP count
(`compiled.cost_analysis()`) and memory estimate (`compiled.memory_analysis()`: arguments +
outputs - aliased + temporaries), and, unless `compile_only`, the step time (median of
`train_steps` after one warm-up step), clips/s, achieved GFLOP/s, the fraction of the matmul
peak measured in the same process, and the peak RSS.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from rde_jax.benchmark import roofline
from rde_jax.train.config import base_config

GIB = 2.0 ** 30


def train_config(cfg: Any) -> ml_collections.ConfigDict:
  """The training config a benchmark config describes (stage, batch, crop, dtype, remat, conv)."""
  c = base_config()
  c.stage = int(cfg.train_stage)
  c.arch = cfg.arch
  c.batch_size = int(cfg.batch_size)
  c.dtype = cfg.dtype
  c.remat = cfg.remat
  c.conv_algorithm = cfg.train_conv_algorithm
  c.data.crop_size = int(cfg.height)
  c.data.num_frames = 3 if c.stage == 0 else 5
  c.compilation_cache = ""
  return c


def batch_shapes(tcfg: Any) -> dict[str, jax.ShapeDtypeStruct]:
  """ShapeDtypeStructs of one global batch (uint8 frames; the layout of rde_jax.data.pipeline)."""
  b, t, s = tcfg.batch_size, tcfg.data.num_frames, tcfg.data.crop_size
  f32 = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float32)
  shapes = {"rgb": jax.ShapeDtypeStruct((b, t, s, s, 3), jnp.uint8), "gt": f32(b, t, s, s),
            "cls_gt": jax.ShapeDtypeStruct((b, t, s, s), jnp.int32), "pgt": f32(b, s, s)}
  if tcfg.stage != 0:
    shapes.update(sec_gt=f32(b, t, s, s), sec_pgt=f32(b, s, s), selector=f32(b, 2))
  return shapes


def synthetic_batch(tcfg: Any, seed: int = 0) -> dict[str, np.ndarray]:
  """Random frames and blob masks of the shapes of `batch_shapes`."""
  rng = np.random.default_rng(seed)
  out = {}
  for k, sd in batch_shapes(tcfg).items():
    if k == "rgb":
      out[k] = rng.integers(0, 256, sd.shape, dtype=np.uint8)
    elif k == "selector":
      out[k] = np.ones(sd.shape, np.float32)
    else:
      out[k] = (rng.random(sd.shape) > 0.7).astype(np.float32)
  cls = out["gt"] + (2 * out["sec_gt"] if "sec_gt" in out else 0)
  out["cls_gt"] = np.minimum(cls, 2).astype(np.int32)
  return out


# Random SAM weights blow the RDE recurrence up (the twin and ours both give NaN from the second
# compression on, official arch at 64-384 px); scaled by this, the step stays finite. Cost does
# not depend on the values, except that NaN/inf steps are not representative.
SAM_WEIGHT_SCALE = 0.25


def benchmark_variables(arch: Any, seed: int = 0) -> dict:
  """`init_variables` with the SAM (mem_compress) parameters scaled by SAM_WEIGHT_SCALE."""
  from rde_jax.model.network import init_variables
  v = init_variables(arch, seed)
  if "mem_compress" in v["params"]:
    v["params"]["mem_compress"] = jax.tree_util.tree_map(lambda x: x * SAM_WEIGHT_SCALE,
                                                         v["params"]["mem_compress"])
  return v


def memory_estimate(compiled: Any) -> dict[str, Any]:
  """XLA's memory analysis of a compiled step, in bytes and GiB (None where unavailable)."""
  try:
    m = compiled.memory_analysis()
  except Exception:  # pragma: no cover - backends without memory analysis
    m = None
  if m is None:
    return {"estimate_bytes": None}
  fields = {f: int(getattr(m, f"{f}_size_in_bytes", 0) or 0)
            for f in ("argument", "output", "alias", "temp", "generated_code")}
  total = fields["argument"] + fields["output"] - fields["alias"] + fields["temp"]
  return dict(fields, estimate_bytes=total, estimate_gib=round(total / GIB, 3))


def compile_step(tcfg: Any) -> tuple[Any, Any, dict[str, Any]]:
  """(trainer, compiled step, report) from abstract arguments only (no data, no weights)."""
  from rde_jax.model.network import abstract_variables
  from rde_jax.train.trainer import Trainer
  tr = Trainer(tcfg)
  variables = abstract_variables(tr.arch, (64, 64))
  state = jax.eval_shape(tr.init_state, variables["params"])
  t0 = time.perf_counter()
  lowered = tr.lower(state, variables["batch_stats"], batch_shapes(tcfg))
  compiled = lowered.compile()
  report = {"compile_s": round(time.perf_counter() - t0, 2), "flops": roofline.flops_of(compiled),
            "memory": memory_estimate(compiled)}
  return tr, compiled, report


def run(cfg: Any) -> dict[str, Any]:
  """The training benchmark report of a validated benchmark config (mode 'train'), with the
  environment and the load of the machine before and after."""
  import os
  from rde_jax.benchmark import config as config_lib
  from rde_jax.benchmark import run as bench_run
  config_lib.validate(cfg)
  env = bench_run.environment(cfg)
  with jax.default_matmul_precision(cfg.precision):
    report = run_train(cfg, bench_run._peak_rss_bytes)
  env["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
  return dict(report, environment=env, config=cfg.to_dict())


def table(report: dict[str, Any]) -> str:
  """A few readable lines of a training report."""
  t = report["train_config"]
  mem = report["memory"].get("estimate_gib")
  lines = [f"train step: stage {t['stage']}, {t['batch_size']} clip(s) of {t['num_frames']} "
           f"frames at {t['crop_size']}², {t['dtype']}, remat {t['remat']}, {t['conv_algorithm']}",
           f"  compile {report['compile_s']} s, XLA GFLOP {_g(report['flops'])}, "
           f"memory estimate {mem} GiB, peak RSS {report['peak_rss_bytes'] / GIB:.2f} GiB"]
  if "step_s" in report:
    lines.append(f"  step {report['step_s']['median']} s (median), {report['clips_per_s']} clips/s")
  if "roofline" in report:
    r = report["roofline"]
    lines.append(f"  {r['gflops']} GFLOP/s = {r['of_peak']} of the measured matmul peak "
                 f"({r['peak']['gflops']} GFLOP/s)")
  return "\n".join(lines)


def _g(flops: float | None) -> str:
  return "n/a" if flops is None else f"{flops / 1e9:.1f}"


def run_train(cfg: Any, peak_rss: Any) -> dict[str, Any]:
  """Compile (and unless `compile_only`, time) the step; `peak_rss()` -> bytes."""
  tcfg = train_config(cfg)
  tr, _, report = compile_step(tcfg)
  report["train_config"] = {k: tcfg[k] for k in ("stage", "arch", "batch_size", "dtype",
                                                  "remat")}
  report["train_config"].update(crop_size=tcfg.data.crop_size, num_frames=tcfg.data.num_frames,
                                conv_algorithm=tr.conv_algorithm)  # 'auto' resolved
  if cfg.compile_only:
    report["peak_rss_bytes"] = peak_rss()
    return report
  v = benchmark_variables(tr.arch, cfg.seed)
  state = tr.init_state(v["params"])
  batch = synthetic_batch(tcfg, cfg.seed)
  times = []
  for i in range(cfg.train_steps + 1):  # the first call is the warm-up (buffers, page faults)
    t0 = time.perf_counter()
    state, metrics = tr.step(state, v["batch_stats"], batch, 0)
    jax.block_until_ready(metrics["total_loss"])
    if i:
      times.append(time.perf_counter() - t0)
  med = float(np.median(times))
  report.update(step_s={"median": round(med, 4), "min": round(min(times), 4),
                        "all": [round(t, 4) for t in times]},
                clips_per_s=round(tcfg.batch_size / med, 4),
                first_loss=float(metrics["total_loss"]), peak_rss_bytes=peak_rss())
  if cfg.peak:
    peak = roofline.measure_peak("bfloat16" if cfg.dtype == "bfloat16" else "float32")
    report["roofline"] = dict(roofline.fraction(report["flops"], med, peak["gflops"]),
                              peak=peak)
  return report
