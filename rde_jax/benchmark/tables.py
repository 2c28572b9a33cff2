"""Presentation of a benchmark report: the printed table and a PNG of latency and memory
against frame index for RDE and the growing STM baseline (drawn with Pillow, no matplotlib).

    print(table(report)); plot_report(report, "latency.png")
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw


COLORS = {"rde": (31, 119, 180), "stm": (214, 39, 40)}
QUIET_CORES = 0.1  # as rde_jax.benchmark: frames during which other processes used less
SIZE = (900, 300)  # one panel
MARGIN = (70, 20, 30, 40)  # left, right, top, bottom


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
  """Round tick positions covering [lo, hi]."""
  if hi <= lo:
    hi = lo + 1.0
  step = 10 ** math.floor(math.log10((hi - lo) / n))
  for m in (1, 2, 5, 10):
    if (hi - lo) / (m * step) <= n:
      step *= m
      break
  start = math.floor(lo / step) * step
  return [start + i * step for i in range(int(math.ceil((hi - start) / step)) + 1)]


def _fmt(v: float) -> str:
  return f"{v:.0f}" if abs(v) >= 10 or v == 0 else f"{v:.2g}"


def draw_panel(draw: ImageDraw.ImageDraw, origin: tuple[int, int], title: str, ylabel: str,
               lines: dict[str, tuple[Sequence[float], Sequence[float]]]) -> None:
  """One chart at `origin` (top-left): lines name -> (x, y); log-free linear axes from 0."""
  ox, oy = origin
  left, right, top, bottom = MARGIN
  w, h = SIZE[0] - left - right, SIZE[1] - top - bottom
  xs = [x for xv, _ in lines.values() for x in xv]
  ys = [y for _, yv in lines.values() for y in yv if np.isfinite(y)]
  if not xs or not ys:
    return
  xt, yt = _nice_ticks(0, max(xs)), _nice_ticks(0, max(ys) * 1.05)
  x1, y1 = xt[-1], yt[-1]
  px = lambda x: ox + left + w * x / x1
  py = lambda y: oy + top + h * (1 - y / y1)
  draw.rectangle([ox + left, oy + top, ox + left + w, oy + top + h], outline=(0, 0, 0))
  for t in xt:
    draw.line([px(t), oy + top + h, px(t), oy + top + h + 4], fill=(0, 0, 0))
    draw.text((px(t) - 10, oy + top + h + 6), _fmt(t), fill=(0, 0, 0))
  for t in yt:
    draw.line([ox + left - 4, py(t), ox + left, py(t)], fill=(0, 0, 0))
    draw.line([ox + left, py(t), ox + left + w, py(t)], fill=(225, 225, 225))
    draw.text((ox + 5, py(t) - 6), _fmt(t), fill=(0, 0, 0))
  draw.text((ox + left, oy + 4), f"{title}   [{ylabel} vs frame index]", fill=(0, 0, 0))
  for i, (name, (xv, yv)) in enumerate(lines.items()):
    color = COLORS.get(name.split()[0], (0, 0, 0))
    pts = [(px(x), py(y)) for x, y in zip(xv, yv) if np.isfinite(y)]
    if len(pts) > 1:
      draw.line(pts, fill=color, width=2)
    draw.line([ox + left + 10, oy + top + 12 + 14 * i, ox + left + 30, oy + top + 12 + 14 * i],
              fill=color, width=3)
    draw.text((ox + left + 36, oy + top + 6 + 14 * i), name, fill=(0, 0, 0))


def _smooth(y: np.ndarray, k: int) -> np.ndarray:
  """Running median over k frames (keeps the level, drops single-frame jitter)."""
  if k <= 1 or y.size < k:
    return y
  pad = np.pad(y, (k // 2, k - 1 - k // 2), mode="edge")
  return np.median(np.lib.stride_tricks.sliding_window_view(pad, k), axis=-1)


def plot_report(report: dict[str, Any], path: str, max_points: int = 800) -> None:
  """Saves a PNG: latency (running median) and memory (MB) against frame index."""
  lat, mem = {}, {}
  for mode in ("rde", "stm"):
    if mode not in report:
      continue
    s = report[mode]["series"]
    first = report["config"]["warmup"] + 1  # frame 0 is the annotated frame, then warm-up
    y = np.asarray(s["latency_s"], np.float64)[first:] * 1e3
    x = np.arange(first, first + y.size)
    k = max(3, report["config"]["mem_every"] * 3)
    label = f"{mode} (running median of {k}"
    other = np.asarray([np.inf if o is None else o for o in s.get("other_cores", [])[first:]])
    quiet = other < QUIET_CORES
    if quiet.size == y.size and quiet.mean() >= 0.2:  # drop frames slowed by other processes
      x, y, label = x[quiet], y[quiet], label + f", {quiet.mean():.0%} quiet frames"
    step = max(1, y.size // max_points)
    lat[label + ")"] = (x[::step], _smooth(y, k)[::step])
    mb = np.asarray(s["state_bytes"], np.float64)[first:] / 2**20
    x, step = np.arange(first, first + mb.size), max(1, mb.size // max_points)
    mem[f"{mode} memory bank"] = (x[::step], mb[::step])
  cfg = report["config"]
  title = f"{cfg['arch']} {cfg['height']}x{cfg['width']} K={cfg['num_objects']} {cfg['dtype']}"
  img = Image.new("RGB", (SIZE[0], 2 * SIZE[1]), "white")
  draw = ImageDraw.Draw(img)
  draw_panel(draw, (0, 0), f"per-frame latency, {title}", "ms", lat)
  draw_panel(draw, (0, SIZE[1]), "memory held by the propagation state", "MB", mem)
  img.save(path)


def table(report: dict[str, Any]) -> str:
  """Human-readable summary; reference figures are labelled as such."""
  env, cfg = report["environment"], report["config"]
  ms = lambda s: "-" if s is None else f"{1e3 * s['median']:.1f}"
  lines = [f"{cfg['arch']} {cfg['height']}x{cfg['width']} K={cfg['num_objects']} {cfg['dtype']} "
           f"precision={cfg['precision']} on {env['device_kind']} ({env['cpu_count']} CPUs, "
           f"load {env['load_avg_start']} -> {env['load_avg_end']}), jax {env['jax']}",
           f"{'mode':5s} {'frames':>6s} {'compile s':>9s} {'median ms':>9s} {'p10-p90 ms':>13s} "
           f"{'plain ms':>8s} {'memfr ms':>8s} {'FPS':>6s} {'flat':>6s} {'slots':>9s} "
           f"{'state MB':>13s}"]
  for mode in ("rde", "stm"):
    if mode not in report:
      continue
    r = report[mode]
    lat, m = r["latency_s"], r["memory"]
    lines.append(
        f"{mode:5s} {r['frames']:6d} {r['compile_s']['step']:9.2f} {ms(lat):>9s} "
        f"{1e3 * lat['p10']:6.1f}-{1e3 * lat['p90']:<6.1f} {ms(r['latency_plain_s']):>8s} "
        f"{ms(r['latency_memory_frame_s']):>8s} {r['fps']:6.2f} "
        f"{r['flatness']['median_ratio']:6.3f} "
        f"{m['slots_first']:>4d}->{m['slots_last']:<4d} "
        f"{m['state_bytes_first'] / 2**20:6.3g}->{m['state_bytes_last'] / 2**20:<6.3g}")
  for mode in ("rde", "stm"):
    if mode in report:
      q, per = report[mode]["quiet"], report[mode]["per_frame_s"]
      lines.append(f"{mode}: mean per frame at mem_every {cfg['mem_every']} (from the medians): "
                   f"{per} s; quiet frames only ({q['definition']}): "
                   f"plain {ms(q['latency_plain_s'])} ms, "
                   f"memory frame {ms(q['latency_memory_frame_s'])} ms, mean {q['per_frame_s']} s")
  if "stages" in report:
    lines.append("stages (separately jitted, ms): " + ", ".join(
        f"{k} {1e3 * v['median_s']:.1f}" for k, v in report["stages"].items()
        if isinstance(v, dict) and "median_s" in v))
    roof = report["stages"].get("roofline")
    if roof:
      lines.append("matmul peak (GFLOP/s, this run): " + ", ".join(
          f"{d} {p['gflops']}" for d, p in roof["peak"].items()) + f"; stages GFLOP/s "
          f"(share of the {roof['reference_dtype']} peak): " + ", ".join(
              f"{k} {r['gflops']} ({r['of_peak']})" for k, r in roof["stages"].items()
              if r["gflops"] is not None))
  lines.append("other processes used (cores, while timing): " + ", ".join(
      f"{m} {report[m]['other_processes_cores']}" for m in ("rde", "stm", "stages") if m in report))
  lines.append(f"peak host RSS {report['peak_rss_bytes'] / 2**20:.0f} MB; device memory: "
               + ("n/a on this backend" if report.get("rde", report.get("stm", {})).get(
                   "memory", {}).get("device_bytes_last") is None else "see JSON"))
  ref = report["reference"]
  lines.append(f"REFERENCE (not measured here): paper, GPU: {ref['paper_gpu']['fps_davis17']} FPS "
               f"DAVIS-17, {ref['paper_gpu']['fps_davis16']} FPS DAVIS-16; official PyTorch on "
               f"this CPU: {ref['official_pytorch_cpu']['s_per_frame']} s/frame (plain "
               f"{ref['official_pytorch_cpu']['plain_frame_s']}, update "
               f"{ref['official_pytorch_cpu']['rde_update_frame_s']})")
  return "\n".join(lines)
