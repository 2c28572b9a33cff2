"""DAVIS 2016/2017 (val, test-dev): segment every sequence from its first annotation, write
indexed PNGs `results/<seq>/<frame>.png`, and score J&F with the official-toolkit semantics
(`rde_jax.metrics.davis_scores`) when every frame has ground truth.

Inference follows the official eval_davis.py: all objects of a sequence in one memory, frames at
native 480p, official 16-px padding (unless shape buckets are configured). Object ids are the ids
present in the first annotation (mapped to 1..K for the network and back for the PNGs); 255
(void) is background. DAVIS-2016 merges all objects into one and writes it as the official
`eval_davis_2016.py` does: 8-bit grayscale PNGs, 0 background, 255 object.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from absl import logging

from rde_jax import inference
from rde_jax.data import vos_layouts
from rde_jax.errors import DataError
from rde_jax.fileio.imageio import check_same_size
from rde_jax.evaluation import runner
from rde_jax.fileio import label_png, storage, video_reader
from rde_jax.metrics import davis_scores


VOID = 255


class DavisTask(runner.Task):
  """DAVIS semi-supervised: per-sequence propagation and J&F."""

  def __init__(self, cfg: Any, workdir: Path):
    super().__init__(cfg, workdir)
    d = cfg.dataset
    self.root = storage.native(d.root)  # a local folder or a URI (gs://...) read through epath
    self.year, self.split = int(d.year), d.split
    self.name = f"davis{self.year}-{self.split}"

  def videos(self) -> list[vos_layouts.VideoFiles]:
    return vos_layouts.davis_videos(self.root, year=str(self.year), split=self.split,
                                resolution=self.cfg.dataset.resolution)

  def has_gt(self, video: vos_layouts.VideoFiles) -> bool:
    return len(video.annotations) == len(video.frames)

  def first_labels(self, video: vos_layouts.VideoFiles, size: tuple[int, int]) -> np.ndarray:
    """Validated (H,W) ids of the first frame (void removed, 2016: merged)."""
    if not video.annotated or video.annotated[0] != 0:
      expected = (self.root / "Annotations" / self.cfg.dataset.resolution / video.name
                  / f"{video.frames[0].stem}.png")
      raise DataError(f"{expected}: missing first-frame annotation of sequence {video.name!r}")
    path = video.annotations[0]
    labels = label_png.read_label_image(path, require_palette=True)
    check_same_size(labels, size, mask_name=str(path), frame_name=str(video.frames[0]))
    if (labels == VOID).any():
      logging.warning("%s: void pixels (255) are treated as background", path)
      labels = np.where(labels == VOID, 0, labels).astype(np.uint8)
    if self.year == 2016:
      labels = (labels > 0).astype(np.uint8)
    if not labels.any():
      raise DataError(f"{path}: the first-frame annotation holds no object")
    return labels

  def run_video(self, video: vos_layouts.VideoFiles, engine: inference.Engine) -> dict[str, Any]:
    frames = video_reader.FrameFiles(video.frames)
    labels = self.first_labels(video, frames.size)
    compact, lut = label_png.compact_ids(labels)
    stats = inference.RunStats()
    padded = self.bucket(frames.size)
    outputs = self.outputs(video.name, fps=24, binary=self.year == 2016)
    keep = collections.deque() if outputs.wants_frames else None
    with outputs:
      for t, lab in inference.propagate(engine, runner.tee(frames, keep), compact, self.settings,
                                        padded_size=padded, output="labels", stats=stats):
        outputs.write(frames.names[t], lut[lab], keep.popleft() if keep is not None else None)
    overlay_path = self.relative(outputs.overlay_path)
    written = outputs.written
    record = {
        "name": video.name, "frames": stats.frames, "written": written,
        "objects": [int(i) for i in lut[1:] if i],
        "size": list(frames.size), "padded_size": list(padded) if padded else None,
        "model_seconds": stats.model_seconds, "compile_seconds": stats.compile_seconds,
        "read_seconds": stats.read_seconds, "fps": stats.fps, "overlay": overlay_path,
        "J&F": None,
    }
    if self.cfg.evaluate and self.has_gt(video):
      result = davis_scores.evaluate_folder_sequence(self.root, self.results, video.name,
                                                     self.year, self.cfg.dataset.resolution)
      record["metrics"] = _jsonable(result)
      record["J&F"] = float((np.mean(result["J"]["mean"]) + np.mean(result["F"]["mean"])) / 2)
    return record

  def finalize(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"results": self.results.relative_to(self.workdir).as_posix()}
    if self.cfg.zip:
      label_png.zip_folder(self.results, self.workdir / "submission.zip",
                          names={r["name"] for r in records})
      out["zip"] = "submission.zip"
    if not all(r.get("metrics") for r in records):
      out["scores"] = None
      out["note"] = ("no J&F: the split has no ground truth for every frame (e.g. test-dev; "
                     "submit submission.zip to the server)" if self.cfg.evaluate else
                     "no J&F: config.evaluate is False")
      return out
    results = [_arrays(r["metrics"]) for r in records]
    scores = davis_scores.global_scores(results, self.year)
    rows = davis_scores.per_object_rows(results)
    paths = davis_scores.write_csvs(self.results, self.split, scores, rows)
    logging.info("\n%s", davis_scores.format_tables(self.split, scores, rows))
    out.update(scores=scores, csv=[p.relative_to(self.workdir).as_posix() for p in paths])
    return out


def _jsonable(result: dict[str, Any]) -> dict[str, Any]:
  """evaluate_sequence output -> JSON (per-frame values dropped; per-object statistics kept)."""
  return {"name": result["name"], "objects": list(result["objects"]),
          **{m: {s: [float(x) for x in result[m][s]] for s in ("mean", "recall", "decay")}
             for m in ("J", "F")}}


def _arrays(metrics: dict[str, Any]) -> dict[str, Any]:
  return {"name": metrics["name"], "objects": metrics["objects"],
          **{m: {s: np.asarray(metrics[m][s], np.float64) for s in ("mean", "recall", "decay")}
             for m in ("J", "F")}}
