"""Clips per second per CPU core of the video-stage pipeline (synthetic source), as JSON.

    python -m benchmarks.data_throughput --crop 384 --source-size 480x854 --clips 40

Single thread, one clip at a time (``ds[step]`` with batch size 1): frame sampling, 5 bicubic
crop-resizes + affines + colour jitter, nearest masks, two perturbed masks, normalisation. The
source videos are generated once up front (in memory), so generation time is excluded; decoding
JPEGs from records (about 5 per clip) is extra and reported separately with --decode.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import time

import numpy as np
from PIL import Image

from rde_jax.data import pipeline as P
from rde_jax.data.clips import VideoClipConfig
from rde_jax.data.synthetic import SyntheticConfig, SyntheticVideos


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crop", type=int, default=384)
    ap.add_argument("--source-size", default="480x854", help="HxW of the synthetic source videos")
    ap.add_argument("--frames", type=int, default=40, help="frames per source video")
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--max-skip", type=int, default=10)
    ap.add_argument("--decode", action="store_true", help="also time decoding 5 JPEG frames per clip")
    args = ap.parse_args()
    h, w = (int(x) for x in args.source_size.split("x"))
    src = SyntheticVideos(args.videos, SyntheticConfig(height=h, width=w, num_frames=args.frames), seed=0)
    for i in range(len(src)):
        src[i]  # generate (cached) before timing
    ds = P.video_pipeline([P.SourceSpec(src)], batch_size=1, seed=0, max_skip=args.max_skip,
                          config=VideoClipConfig(crop_size=args.crop), process_index=0, process_count=1)
    ds[0]  # warm-up
    t0 = time.perf_counter()
    for step in range(1, args.clips + 1):
        ds[step]
    elapsed = time.perf_counter() - t0
    result = {
        "clips_per_s_per_core": round(args.clips / elapsed, 2),
        "ms_per_clip": round(1000 * elapsed / args.clips, 1),
        "crop": args.crop, "frames_per_clip": 5, "source_hw": [h, w], "clips": args.clips,
        "threads": 1, "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "python": platform.python_version(), "numpy": np.__version__, "pillow": Image.__version__,
    }
    if args.decode:
        buf = io.BytesIO()
        Image.fromarray(src[0]["frames"][0]).save(buf, format="JPEG", quality=90)
        data = buf.getvalue()
        t0 = time.perf_counter()
        for _ in range(50):
            np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        result["ms_jpeg_decode_per_clip"] = round(5 * 1000 * (time.perf_counter() - t0) / 50, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
