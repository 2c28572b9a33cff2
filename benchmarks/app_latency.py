r"""rde-app latency: seconds from "Propagate" to the last frame, through the server's HTTP API.

    python benchmarks/app_latency.py                                  # the demo model and video
    python benchmarks/app_latency.py --checkpoint /tmp/rde_demo --video V/input.gif \
        --mask V/00000.png [--repeats 3] [--out latency.json]

Starts the app's server in this process on a free port (as `rde-app` does), uploads the video
and the first mask over HTTP, then times POST /api/propagate until GET /api/progress says done,
polling every 10 ms: the first run ("cold": includes compiling the engine for these settings)
and `--repeats` more ("warm": the engine is cached, as for a second Propagate in the page);
then a correction: frame 5's mask sent back and propagated from, twice (the first may compile
the shorter last chunk).
Default video: the first held-out video the demo wrote (<checkpoint>/eval/*/input.gif).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _demo_video(checkpoint: str) -> tuple[str, str]:
  for folder in sorted(glob.glob(os.path.join(checkpoint, "eval", "*", ""))):
    video, mask = os.path.join(folder, "input.gif"), os.path.join(folder, "00000.png")
    if os.path.exists(video) and os.path.exists(mask):
      return video, mask
  sys.exit(f"error: no <checkpoint>/eval/*/input.gif under {checkpoint}; pass --video and --mask")


def _propagate(c: "Client", frame: int) -> dict:
  """Seconds from POST /api/propagate to the progress saying done (polled every 10 ms)."""
  start = time.perf_counter()
  c.json("POST", "/api/propagate", obj={"frame": frame, "settings": {}})
  while (progress := c.json("GET", "/api/progress"))["status"] == "running":
    time.sleep(0.01)
  seconds = time.perf_counter() - start
  assert progress["status"] == "done", progress
  return {"seconds": seconds, "frames": progress["total"],
          "compile_seconds": progress.get("compile_seconds"),
          "model_fps": progress.get("model_fps")}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--checkpoint", default="/tmp/rde_demo")
  p.add_argument("--video", default=None)
  p.add_argument("--mask", default=None)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--out", default=None)
  args = p.parse_args()
  video, mask = (args.video, args.mask) if args.video else _demo_video(args.checkpoint)

  from rde_jax import api, cpu_settings, runtime
  cpu_settings.apply()
  runtime.configure(compilation_cache=None)  # a cold run compiles, as in a fresh server
  import threading
  sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
  from app_fixture import Client  # the same HTTP client the tests use
  from rde_jax.app import server as server_lib

  model = api.load(args.checkpoint)
  server = server_lib.make_server(model, port=0)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  c = Client(server.url)
  try:
    with open(video, "rb") as f:
      info = c.json("POST", f"/api/open?name={os.path.basename(video)}", f.read())["video"]
    with open(mask, "rb") as f:
      c.json("POST", "/api/mask_png/0?name=mask.png", f.read())
    runs = [_propagate(c, 0) for _ in range(1 + args.repeats)]
    # A correction: frame 5's mask (as propagated) sent back, propagation from it, twice.
    fix = min(5, info["frames"] - 2)
    c.json("POST", f"/api/mask/{fix}", c.request("GET", f"/api/ids/{fix}")[1])
    corrections = [_propagate(c, fix) for _ in range(2)]
  finally:
    server.shutdown()
    server.server_close()
  warm = [r["seconds"] for r in runs[1:]]
  result = {
      "checkpoint": args.checkpoint, "video": video, "frames": info["frames"],
      "size_hw": [info["height"], info["width"]], "settings": "defaults (InferenceSettings())",
      "cold_seconds": runs[0]["seconds"], "cold_compile_seconds": runs[0]["compile_seconds"],
      "warm_seconds_median": statistics.median(warm) if warm else None,
      "warm_frames_per_second": info["frames"] / statistics.median(warm) if warm else None,
      "correction_frame": fix, "correction_first_seconds": corrections[0]["seconds"],
      "correction_warm_seconds": corrections[1]["seconds"],
      "runs": runs, "corrections": corrections, "cpus": os.cpu_count(),
      "load_average": os.getloadavg(),
  }
  text = json.dumps(result, indent=2)
  print(text)
  if args.out:
    with open(args.out, "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  main()
