"""Inference speed benchmark: compile time, per-frame latency, FPS and memory of RDE vs STM.

    python -m rde_jax.benchmark --out bench.json                      # official, 480x864, K=2
    python -m rde_jax.benchmark --config=configs/benchmark.py:long --plot long.png
    python -m rde_jax.benchmark --config.dtype=bfloat16 --config.num_frames=60

Random weights (`init_variables`) and synthetic frames (cost does not depend on content). Each
mode runs through the engine's public loop, `inference.propagate`, as segment and eval.py do
(`RunStats.chunks` records every device call): compilation is timed on its own, and a frame's
latency is its chunk's model time (upload of the uint8 frames, normalisation, the frame step,
argmax and the labels back) / chunk. Modes: `rde` = the official two-frames-compress memory
(constant size) and `stm` (every memory frame appended; its capacity grows by
`MemoryMode.capacity`, one compilation per capacity). Runs unchanged on CPU, GPU and TPU; device
memory is read from `device.memory_stats()` where the backend has it (not on CPU). The
per-stage timings (`stages.py`) carry XLA's FLOP count of each compiled stage, and
`stages.roofline` the float32 / bfloat16 matmul peaks measured in the same run with each stage's
share (`roofline.py`).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import resource
import sys
import time
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import numpy as np

from rde_jax import cpu_settings, inference, runtime
from rde_jax.benchmark import config as config_lib
from rde_jax.benchmark import roofline, stages
from rde_jax.data.synthetic import generate_video
from rde_jax.inference.settings import InferenceSettings
from rde_jax.model import architectures
from rde_jax.model.architectures import Arch
from rde_jax.model.network import init_variables


REFERENCE = {
    "paper_gpu": {
        "fps_davis17": 27.0, "fps_davis16": 35.0,
        "source": "RDE-VOS README/paper: multi-object, AMP, GPU "
                  "not stated. A published figure, not measured by this tool."},
    "official_pytorch_cpu": {
        "s_per_frame": 3.4, "plain_frame_s": 2.8, "rde_update_frame_s": 4.4,
        "decoder_share": 0.55,
        "source": "official PyTorch model measured by the team on the issue-7 dev machine (AMD "
                  "EPYC Zen 5, AVX-512; benchmarks/side_by_side.py measures it anew): torch 2.13 "
                  "CPU, 2 threads, float32, 480x864, 2 objects, mem_every 3. Not measured by "
                  "this tool."},
}


def _peak_rss_bytes() -> int:
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return peak if sys.platform == "darwin" else peak * 1024  # kilobytes on Linux


QUIET_CORES = 0.1  # frames timed while other processes used fewer cores count as quiet


def _busy_cpu_s() -> float | None:
  """CPU seconds the whole machine has been busy (Linux /proc/stat), else None."""
  try:
    with open("/proc/stat") as f:
      v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")
  except (OSError, ValueError, IndexError):
    return None


class LoadMeter:
  """CPU cores used by OTHER processes while timing (machine busy time minus our own)."""

  def __init__(self) -> None:
    self.busy, self.own, self.wall = _busy_cpu_s(), time.process_time(), time.perf_counter()

  def cores(self) -> float | None:
    busy = _busy_cpu_s()
    if busy is None or self.busy is None:
      return None
    wall = time.perf_counter() - self.wall
    other = (busy - self.busy) - (time.process_time() - self.own)
    return round(max(other, 0.0) / max(wall, 1e-9), 3)


def wait_until_quiet(max_wait_s: float, threshold: float = 0.2, probe_s: float = 2.0) -> float:
  """Waits (up to max_wait_s) until other processes use < threshold cores; returns seconds."""
  t0 = time.perf_counter()
  while time.perf_counter() - t0 < max_wait_s:
    meter = LoadMeter()
    time.sleep(probe_s)
    cores = meter.cores()
    if cores is None or cores < threshold:
      break
  return round(time.perf_counter() - t0, 1)


def _device_bytes() -> int | None:
  stats = jax.devices()[0].memory_stats()
  return None if not stats else int(stats.get("bytes_in_use", 0))


def environment(cfg: Any) -> dict[str, Any]:
  """Machine and software versions, recorded with every result."""
  dev = jax.devices()[0]
  return {
      "platform": dev.platform, "device_kind": dev.device_kind, "device_count": jax.device_count(),
      "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
      "load_avg_start": [round(x, 2) for x in os.getloadavg()],
      "python": platform.python_version(), "jax": jax.__version__,
      "jaxlib": importlib.metadata.version("jaxlib"),
      "flax": flax.__version__, "numpy": np.__version__,
      "xla_flags": os.environ.get("XLA_FLAGS", ""), "cpu_settings": cpu_settings.record(),
      "dtype": cfg.dtype,
      "precision": cfg.precision, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
  }


def synthetic_inputs(cfg: Any) -> tuple[list[np.ndarray], np.ndarray]:
  """`distinct_frames` uint8 frames (H,W,3) (cycled over the video) and the first labels."""
  n = max(1, min(cfg.distinct_frames, cfg.num_frames))
  frames, labels = generate_video(cfg.seed, height=cfg.height, width=cfg.width, num_frames=n,
                                  min_objects=cfg.num_objects, max_objects=cfg.num_objects)
  return list(frames), labels[0]


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
  """fn() with wall and process CPU seconds, after block_until_ready."""
  t0, c0 = time.perf_counter(), time.process_time()
  out = jax.block_until_ready(fn())
  return out, time.perf_counter() - t0, time.process_time() - c0


class _Recorder:
  """Per-frame series of one mode."""

  def __init__(self) -> None:
    self.series: dict[str, list] = {k: [] for k in (
        "latency_s", "cpu_s", "memory_frame", "memory_slots", "state_bytes", "rss_bytes",
        "device_bytes", "other_cores")}

  def add(self, latency: float, cpu: float, mem_frame: bool, slots: int, nbytes: int,
          other_cores: float | None = None) -> None:
    s = self.series
    s["other_cores"].append(other_cores)
    s["latency_s"].append(round(latency, 6))
    s["cpu_s"].append(round(cpu, 6))
    s["memory_frame"].append(bool(mem_frame))
    s["memory_slots"].append(int(slots))
    s["state_bytes"].append(int(nbytes))
    s["rss_bytes"].append(runtime.rss_bytes())
    s["device_bytes"].append(_device_bytes())


def bench_memory(cfg: Any, variables: Any, arch: Arch, frames: list[np.ndarray],
                 first_labels: np.ndarray, settings: InferenceSettings) -> dict[str, Any]:
  """One memory mode through `inference.propagate`, chunk by chunk (`RunStats.chunks`).

  A frame's latency is its chunk's model time / chunk; its CPU seconds and the cores other
  processes used are measured from one chunk's outputs to the next's. Frame 0 (the annotated
  one, compiled first) is recorded as 0 s. `stm` runs one frame per call.
  """
  engine = inference.Engine(variables, arch, settings)
  grows = engine.mode.grows
  num_frames = (cfg.stm_max_frames or cfg.num_frames) if grows else cfg.num_frames
  video = (frames[t % len(frames)] for t in range(num_frames))
  stats, rec = inference.RunStats(chunks=[]), _Recorder()
  waited, whole = wait_until_quiet(cfg.quiet_wait_s), LoadMeter()
  meter, cpu0, seen = LoadMeter(), time.process_time(), 0
  for _ in inference.propagate(engine, video, first_labels, output="labels", stats=stats):
    for ch in stats.chunks[seen:]:  # a device call just finished: its frames come out now
      n, cpu, other = len(ch.memory_frames), time.process_time() - cpu0, meter.cores()
      for add in ch.memory_frames:
        first = ch.start == 0
        rec.add(0.0 if first else ch.seconds / n, 0.0 if first else cpu / n, add,
                ch.listed_slots, ch.state_bytes, other)
      meter, cpu0 = LoadMeter(), time.process_time()
    seen = len(stats.chunks)
  init, *steps = stats.chunks
  growth = [{"frame": c.start, "slots": c.capacity, "compile_s": round(c.compile_seconds, 3)}
            for c in steps if c.compile_seconds > 0]
  out = {"memory_mode": settings.memory_mode,
         "compile_s": {"init": round(init.compile_seconds, 3), "step": growth[0]["compile_s"]},
         "chunk": settings.chunk, "other_processes_cores": whole.cores(),
         "waited_for_quiet_s": waited, **_summaries(cfg, rec.series, num_frames),
         "series": rec.series}
  if grows:
    out["compile_s"]["all_capacities"] = round(sum(g["compile_s"] for g in growth), 3)
    out.update(growth_events=growth[1:],
               storage="preallocated slots with a validity mask, grown by "
                       "MemoryMode.capacity (8, 16, ... 64, then 1/8 of the next power of "
                       "two); one compilation per capacity (compile_s.all_capacities), timed "
                       "apart; a growth frame's latency includes the new executable's first "
                       "call")
  return out


def _stats(x: np.ndarray) -> dict[str, float] | None:
  if x.size == 0:
    return None
  p = np.percentile(x, [10, 50, 90])
  return {"median": round(float(p[1]), 5), "mean": round(float(x.mean()), 5),
          "p10": round(float(p[0]), 5), "p90": round(float(p[2]), 5),
          "min": round(float(x.min()), 5), "max": round(float(x.max()), 5), "n": int(x.size)}


def _schedule_mean(plain: np.ndarray, mem: np.ndarray, every: int) -> float | None:
  """Mean time per frame of a long video (one memory frame in `every`) from the medians."""
  if plain.size == 0 or mem.size == 0:
    return None
  return round(float(((every - 1) * np.median(plain) + np.median(mem)) / every), 5)


def _ratio(lat: np.ndarray, sel: np.ndarray, a: int, b: int, w: int) -> float | None:
  """median(lat[b:b+w] where sel) / median(lat[a:a+w] where sel), None if either is empty."""
  x, y = lat[a:a + w][sel[a:a + w]], lat[b:b + w][sel[b:b + w]]
  return round(float(np.median(y) / np.median(x)), 4) if x.size and y.size else None


def _summaries(cfg: Any, s: dict[str, list], num_frames: int | None = None) -> dict[str, Any]:
  """Latency statistics after the warm-up, split by frame kind, and flatness over length."""
  num_frames = num_frames or cfg.num_frames
  lat, cpu = np.asarray(s["latency_s"]), np.asarray(s["cpu_s"])
  mem = np.asarray(s["memory_frame"])
  keep = np.arange(num_frames) > cfg.warmup
  w = cfg.window
  a0 = min(50, max(cfg.warmup + 1, num_frames - 2 * w))
  early, late = lat[a0:a0 + w], lat[num_frames - w:]
  mean_all = float(lat[keep].mean()) if keep.any() else float("nan")
  other = np.asarray([np.inf if o is None else o for o in s["other_cores"]])
  quiet = keep & (other < QUIET_CORES)
  rss = [r for r in s["rss_bytes"] if r is not None]
  dev = [b for b in s["device_bytes"] if b is not None]
  return {
      "frames": num_frames, "latency_s": _stats(lat[keep]), "cpu_s": _stats(cpu[keep]),
      "latency_plain_s": _stats(lat[keep & ~mem]),
      "latency_memory_frame_s": _stats(lat[keep & mem]),
      "fps": round(1.0 / mean_all, 3) if mean_all > 0 else None,
      "quiet": {"definition": f"frames while other processes used < {QUIET_CORES} cores",
                "latency_plain_s": _stats(lat[quiet & ~mem]),
                "latency_memory_frame_s": _stats(lat[quiet & mem]),
                "per_frame_s": _schedule_mean(lat[quiet & ~mem], lat[quiet & mem], cfg.mem_every)},
      "per_frame_s": _schedule_mean(lat[keep & ~mem], lat[keep & mem], cfg.mem_every),
      "flatness": {"early_frames": [a0, a0 + len(early)],
                   "late_frames": [num_frames - w, num_frames],
                   "median_ratio": round(float(np.median(late) / np.median(early)), 4),
                   "mean_ratio": round(float(late.mean() / early.mean()), 4),
                   "quiet_plain_median_ratio": _ratio(lat, quiet & ~mem, a0, num_frames - w, w)},
      "memory": {"slots_first": s["memory_slots"][0], "slots_last": s["memory_slots"][-1],
                 "state_bytes_first": s["state_bytes"][0], "state_bytes_last": s["state_bytes"][-1],
                 "rss_bytes_after_warmup": rss[min(cfg.warmup + 1, len(rss) - 1)] if rss else None,
                 "rss_bytes_last": rss[-1] if rss else None,
                 "device_bytes_last": dev[-1] if dev else None},
  }


def bench_stages(cfg: Any, variables: Any, arch: Arch, frames: list[np.ndarray],
                 first_labels: np.ndarray, settings: InferenceSettings) -> dict[str, Any]:
  """Each stage of the engine's per-frame step jitted and timed on its own (the memory full:
  [RDE, last, first, first]), with its XLA FLOP count and, with `cfg.peak`, the fraction of
  the matmul peak measured in the same run."""
  engine = inference.Engine(variables, arch, settings)
  norm = [jnp.asarray(inference.normalize(f)) for f in frames[:2]]
  onehot = jnp.asarray(np.stack([first_labels == i for i in range(1, cfg.num_objects + 1)]),
                       jnp.float32)
  out: dict[str, Any] = {"waited_for_quiet_s": wait_until_quiet(cfg.quiet_wait_s)}
  meter = LoadMeter()
  for s in stages.compile_stages(engine, variables, norm[0], norm[-1], onehot):
    times = [_timed(s.call)[1] for _ in range(cfg.stage_repeats)]
    out[s.name] = {"compile_s": s.compile_s, "median_s": round(float(np.median(times)), 5),
                   "min_s": round(min(times), 5), "flops": s.flops}
  out["other_processes_cores"] = meter.cores()
  if cfg.peak:
    out["roofline"] = roofline_summary(out, settings.dtype)
  return out


def roofline_summary(timed: dict[str, Any], dtype: str) -> dict[str, Any]:
  """Peak float32 and bfloat16 matmul rates (measured now) and each stage's share of the peak
  of its compute dtype."""
  peaks = {d: roofline.measure_peak(d) for d in ("float32", "bfloat16")}
  ref = peaks[dtype]["gflops"]
  rows = {name: roofline.fraction(t["flops"], t["median_s"], ref)
          for name, t in timed.items() if isinstance(t, dict) and "flops" in t}
  return {"peak": peaks, "reference_dtype": dtype, "stages": rows}


def run(cfg: Any) -> dict[str, Any]:
  """Runs the configured benchmark and returns the report (see the module docstring); `cfg` is
  checked first (`rde_jax.benchmark.config.validate`)."""
  settings = config_lib.validate(cfg)
  modes = config_lib.modes(cfg)
  report: dict[str, Any] = {"environment": environment(cfg), "config": cfg.to_dict(),
                            "settings": settings.to_dict()}
  arch = Arch.from_config(architectures.get(cfg.arch))
  variables = jax.device_put(init_variables(arch, cfg.seed))
  frames, first_labels = synthetic_inputs(cfg)
  with jax.default_matmul_precision(cfg.precision):
    for mode in modes:
      mode_settings = settings.replace(memory_mode=config_lib.MODES[mode])
      if mode_settings.memory_mode == "stm":
        mode_settings = mode_settings.replace(chunk=1)
      report[mode] = bench_memory(cfg, variables, arch, frames, first_labels, mode_settings)
    if cfg.stages:
      report["stages"] = bench_stages(cfg, variables, arch, frames, first_labels, settings)
  report["peak_rss_bytes"] = _peak_rss_bytes()
  report["environment"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
  report["reference"] = REFERENCE
  return report
