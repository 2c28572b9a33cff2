"""The generic-folder evaluation on long videos: 3 generated videos of 2,000 frames each.

    python benchmarks/long_generic.py --workdir /tmp/rde_long [--frames 2000] [--videos 3]

Writes a DAVIS-layout folder (JPEGImages/<seq>, Annotations/<seq>, every frame annotated) of
procedural videos, a tiny random-weight model, then runs `configs/generic.py:runlocal` through
`rde_jax.evaluation.run` twice (the second run must resume with nothing to do) and prints, per
video, frames written, seconds per frame, FPS and the process RSS before/after: with the
constant-size memory the RSS does not grow with the video.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import sys
import time

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from rde_jax import checkpoint, evaluation  # noqa: E402
from rde_jax.data.synthetic import generate_video  # noqa: E402
from rde_jax.fileio import label_png  # noqa: E402
from rde_jax.model import architectures  # noqa: E402
from rde_jax.model.network import init_variables  # noqa: E402


def write_dataset(root: str, videos: int, frames: int, size: tuple[int, int]) -> None:
  for v in range(videos):
    name = f"long{v}"
    jpeg, ann = os.path.join(root, "JPEGImages", name), os.path.join(root, "Annotations", name)
    os.makedirs(jpeg, exist_ok=True)
    os.makedirs(ann, exist_ok=True)
    clip, labels = generate_video(v, height=size[0], width=size[1], num_frames=50,
                                  min_objects=2, max_objects=2)
    for t in range(frames):  # the 50 generated frames played forward and back
      i = t % 98
      i = i if i < 50 else 98 - i
      buf = io.BytesIO()
      Image.fromarray(clip[i]).save(buf, format="JPEG", quality=90)
      with open(os.path.join(jpeg, f"{t:05d}.jpg"), "wb") as f:
        f.write(buf.getvalue())
      label_png.write_label_png(os.path.join(ann, f"{t:05d}.png"), labels[i])


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--frames", type=int, default=2000)
  p.add_argument("--videos", type=int, default=3)
  p.add_argument("--size", default="64x96")
  args = p.parse_args()
  size = tuple(int(x) for x in args.size.split("x"))
  data, model = os.path.join(args.workdir, "data"), os.path.join(args.workdir, "model")
  t0 = time.perf_counter()
  if not os.path.isdir(data):
    write_dataset(data, args.videos, args.frames, size)
  if not os.path.isdir(model):
    arch = architectures.TINY
    checkpoint.save_model(model, init_variables(arch, 0), arch)
  print(f"data ready in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
  spec = importlib.util.spec_from_file_location("generic", os.path.join(ROOT, "configs",
                                                                      "generic.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  cfg = module.get_config("runlocal")
  cfg.checkpoint, cfg.dataset.root = model, data
  wd = os.path.join(args.workdir, "eval")
  t0 = time.perf_counter()
  summary = evaluation.run(cfg, wd)
  first = time.perf_counter() - t0
  again = evaluation.run(cfg, wd)
  rows = []
  for name in sorted(summary["videos"]):
    with open(os.path.join(wd, "videos", f"{name}.json")) as f:
      r = json.load(f)
    pngs = len(os.listdir(os.path.join(wd, "results", name)))
    m = r["memory"]
    rows.append({"video": name, "frames": r["frames"], "pngs": pngs,
                 "seconds_per_frame": round(r["seconds_per_frame"], 5), "fps": round(r["fps"], 1),
                 "rss_start_mb": round(m["rss_bytes_start"] / 2**20, 1),
                 "rss_end_mb": round(m["rss_bytes_end"] / 2**20, 1),
                 "rss_growth_mb": round(m["rss_growth_bytes"] / 2**20, 1)})
  print(json.dumps({"rows": rows, "first_run_s": round(first, 1),
                    "second_run_computed": again["computed_this_run"],
                    "J&F": summary["scores"]["J&F-Mean"] if summary["scores"] else None,
                    "load_avg": os.getloadavg()}, indent=1))


if __name__ == "__main__":
  main()
