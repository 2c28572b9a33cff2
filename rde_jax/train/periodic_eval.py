"""J&F of the current model on validation videos during and after training.

With several processes the videos are shared out (`multihost.assign`: longest first, balanced
by frames), each process segments and scores its own, and the per-video results are gathered
on every process (`multihost.allgather_json`, bit-exact), so the scores equal one process's.
"""

from __future__ import annotations

import contextlib
import io
import time
from typing import Any

import jax
import ml_collections
import numpy as np

from rde_jax import inference, multihost
from rde_jax.fileio import atomic_dir, storage
from rde_jax.metrics import davis_scores
from rde_jax.model.architectures import Arch


# What WORKDIR/eval holds (one folder per video; see `write_outputs`).
EVAL_LAYOUT = ("*/", "*/*.png", "*/input.gif", "*/overlay.gif")


def evaluate_videos(variables: Any, arch: Arch, videos: list[dict],
                    cfg: ml_collections.ConfigDict,
                    out_dir: Any = None) -> dict[str, Any]:
  """Segments each video from its first-frame labels; DAVIS-2017 J&F over all objects.

  With `out_dir`, writes palette PNG masks and an overlay GIF per video there. A local `out_dir`
  of a one-process run is replaced as a whole (`atomic_dir`: a killed run leaves the previous
  one); processes of a multi-host run each write their share into it directly.
  """
  settings = inference.InferenceSettings.from_config(cfg.eval, prefix="config.eval.")
  engine = inference.Engine(variables, arch, settings)
  share = multihost.assign([len(v["frames"]) for v in videos], jax.process_count())
  results, frames_done, seconds = {}, 0, 0.0
  whole = out_dir is not None and not multihost.is_multihost() and not storage.is_remote(out_dir)
  target_dir = (atomic_dir.replacing(out_dir, EVAL_LAYOUT) if whole
                else contextlib.nullcontext(out_dir))
  with target_dir as target:
    for i in share[jax.process_index()]:
      video = videos[i]
      frames, gt = np.asarray(video["frames"]), np.asarray(video["labels"])
      t0 = time.time()
      pred = np.stack([p.argmax(0).astype(np.uint8) for _, p in
                       inference.propagate(engine, frames, gt[0], settings)])
      seconds += time.time() - t0
      frames_done += len(frames)
      results[i] = davis_scores.evaluate_sequence(gt, pred, name=str(video["name"]))
      if target is not None:
        write_outputs(target / str(video["name"]), frames, pred)
  if multihost.is_multihost():
    gathered = multihost.allgather_json({"results": {str(i): r for i, r in results.items()},
                                         "frames": frames_done, "seconds": seconds})
    results = {int(i): r for g in gathered for i, r in g["results"].items()}
    frames_done = sum(g["frames"] for g in gathered)
    seconds = max(g["seconds"] for g in gathered)
  results = [results[i] for i in range(len(videos))]
  scores = davis_scores.global_scores(results)
  per_video = {r["name"]: float((np.mean(r["J"]["mean"]) + np.mean(r["F"]["mean"])) / 2)
               for r in results}
  return {"scores": scores, "per_video": per_video, "fps": frames_done / max(seconds, 1e-9)}


def write_outputs(folder: Any, frames: np.ndarray, labels: np.ndarray) -> None:
  """Palette PNGs (DAVIS palette) per frame, an overlay GIF of the masks on the frames, and the
  input frames as `input.gif` (to try `python -m rde_jax.segment` on right after the demo)."""
  from PIL import Image

  from rde_jax.fileio import atomic
  from rde_jax.fileio.video_outputs import VideoOutputs
  folder.mkdir(parents=True, exist_ok=True)
  gif = [Image.fromarray(f) for f in frames]
  buf = io.BytesIO()
  gif[0].save(buf, format="GIF", save_all=True, append_images=gif[1:], duration=125, loop=0)
  atomic.write_bytes(folder / "input.gif", buf.getvalue())
  with VideoOutputs(folder, overlay_stem=folder / "overlay", fps=8.0,
                    overlay_format="gif") as out:
    for t, (frame, lab) in enumerate(zip(frames, labels)):
      out.write(f"{t:05d}", lab, frame)
