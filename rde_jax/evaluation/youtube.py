"""YouTube-VOS 2019 valid: per-object memory banks, objects appearing later, server layout.

Reads `root/<split>/meta.json` and `root/<split>/Annotations/<vid>/*.png` (the frame where each
object first appears), frames from `root/<frames_split>/JPEGImages/<vid>` (valid_all_frames:
every frame, as the official eval). Frames are resized so the short side is
`dataset.short_side` (480; PyTorch bicubic on the normalised frames, annotations nearest) and the
probabilities are brought back bilinearly before the argmax. Writes the frames meta.json lists
(every frame with `config.output_all`, the official --output_all), from the first annotated
frame on, to `results/Annotations/<vid>/<frame>.png` (original ids and
size) and, with `config.zip`, `submission.zip` holding `Annotations/...` for the server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from absl import logging

from rde_jax.data import vos_layouts
from rde_jax.errors import DataError
from rde_jax.fileio.imageio import check_same_size, read_bytes
from rde_jax import inference
from rde_jax.evaluation import runner
from rde_jax.fileio import label_png, storage, video_reader
from rde_jax.inference import resize


class YouTubeTask(runner.Task):
  """YouTube-VOS 2019 semi-supervised inference (no local scores: the server computes them)."""

  def __init__(self, cfg: Any, workdir: Path):
    super().__init__(cfg, workdir)
    d = cfg.dataset
    self.root, self.split = storage.native(d.root), d.split  # local, or a URI read through epath
    self.frames_split = d.frames_split or None
    self.name = f"youtube2019-{self.split}"
    self.meta: dict[str, Any] = {}

  def videos(self) -> list[vos_layouts.VideoFiles]:
    meta_path = self.root / self.split / "meta.json"
    try:
      self.meta = json.loads(read_bytes(meta_path))["videos"]
    except (ValueError, KeyError, TypeError) as e:
      raise DataError(f"{meta_path}: not a YouTube-VOS meta.json ({e})") from e
    if self.frames_split and not (self.root / self.frames_split / "JPEGImages").is_dir():
      raise DataError(f"{self.root / self.frames_split / 'JPEGImages'}: folder not found (the "
                      "official protocol reads every frame from valid_all_frames; "
                      "--config.dataset.frames_split='' uses <split>/JPEGImages instead)")
    return vos_layouts.youtube_vos_videos(self.root, split=self.split,
                                          frames_split=self.frames_split)

  def required(self, video: vos_layouts.VideoFiles) -> set[int]:
    """Positions of the frames meta.json asks for; every frame with `config.output_all` (the
    official eval_youtube.py --output_all: outputs from the first annotation on)."""
    if self.cfg.output_all:
      return set(range(len(video.frames)))
    objects = self.meta.get(video.name, {}).get("objects", {})
    names = {f for o in objects.values() for f in o.get("frames", [])}
    if not names:
      raise DataError(f"{self.root / self.split / 'meta.json'}: no frames listed for video "
                      f"{video.name!r}")
    return {t for t, p in enumerate(video.frames) if p.stem in names}

  def annotations(self, video: vos_layouts.VideoFiles,
                  size: tuple[int, int]) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """{position: (H,W) ids 1..N} of the annotated frames and the lut back to the file ids."""
    raw = {}
    for pos, path in zip(video.annotated, video.annotations):
      labels = label_png.read_label_image(path, require_palette=True)
      check_same_size(labels, size, mask_name=str(path), frame_name=str(video.frames[pos]))
      raw[pos] = labels
    ids = np.unique(np.concatenate([np.unique(x) for x in raw.values()]))
    ids = ids[ids != 0]
    if not len(ids):
      raise DataError(f"{video.annotations[0].parent}: no object in any annotation of "
                      f"video {video.name!r}")
    forward = np.zeros(256, np.uint8)
    forward[ids] = np.arange(1, len(ids) + 1)
    lut = np.zeros(256, np.uint8)
    lut[1:len(ids) + 1] = ids
    # Empty annotation files stay: the official test set lists them in `gt_obj` (no objects),
    # so they are interactions too, and outputs start at the first annotation file.
    return {pos: forward[x] for pos, x in sorted(raw.items())}, lut

  def run_video(self, video: vos_layouts.VideoFiles, engine: inference.Engine) -> dict[str, Any]:
    frames = video_reader.FrameFiles(video.frames)
    anns, lut = self.annotations(video, frames.size)
    required = self.required(video)
    short = int(self.cfg.dataset.short_side)
    work = resize.short_side_size(*frames.size, short) if short else None
    padded = self.bucket(work or frames.size)
    stats = inference.RunStats()
    num_objects = int(np.count_nonzero(lut))
    outputs = self.outputs(video.name, fps=6)
    with outputs:
      for t, lab in inference.propagate_banks(
          engine, frames, anns, num_objects, self.settings, required=required, work_size=work,
          padded_size=padded, stats=stats):
        outputs.write(frames.names[t], lut[lab], frames[t] if outputs.wants_frames else None)
    overlay_path = self.relative(outputs.overlay_path)
    written = outputs.written
    if not written:
      logging.warning("%s: meta.json lists no frame from the first annotation on", video.name)
    return {
        "name": video.name, "frames": stats.frames, "written": written,
        "objects": [int(i) for i in lut[1:] if i],
        "annotated_frames": [frames.names[t] for t in anns], "size": list(frames.size),
        "work_size": list(work) if work else None, "padded_size": list(padded) if padded else None,
        "model_seconds": stats.model_seconds, "compile_seconds": stats.compile_seconds,
        "read_seconds": stats.read_seconds, "fps": stats.fps, "overlay": overlay_path,
    }

  def output_dir(self, name: str) -> Path:
    return self.results / "Annotations" / name

  def finalize(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"results": "results/Annotations", "scores": None,
                           "note": "YouTube-VOS scores come from the evaluation server"}
    if self.cfg.zip:
      label_png.zip_folder(self.results / "Annotations", self.workdir / "submission.zip",
                          arc_prefix="Annotations", names={r["name"] for r in records})
      out["zip"] = "submission.zip"
    return out
