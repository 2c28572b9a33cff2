"""Any folder of videos, long ones included: every sequence folder under `root/JPEGImages/`
with its first annotation under `root/Annotations/` (no ImageSets list needed).

The official `eval_generic.py` (for the long-video benchmark in DAVIS layout) no longer runs
(it imports a class that does not exist); this is its protocol with the DAVIS inference: frames
at native size, all objects in one memory, DAVIS palette PNGs `results/<seq>/<frame>.png`, J&F
(DAVIS-2017 rules) for sequences whose every frame has ground truth. Each video's record also
holds its memory (process RSS before and after, the memory state's size) and time per frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rde_jax import inference, runtime
from rde_jax.data import vos_layouts
from rde_jax.evaluation.davis import DavisTask


class GenericTask(DavisTask):
  """DAVIS-style propagation over every sequence folder of the dataset root."""

  def __init__(self, cfg: Any, workdir: Path):
    super().__init__(cfg, workdir)
    self.year, self.split, self.name = 2017, "generic", "generic"

  def videos(self) -> list[vos_layouts.VideoFiles]:
    return vos_layouts.sequence_folder_videos(self.root)

  def run_video(self, video: vos_layouts.VideoFiles, engine: inference.Engine) -> dict[str, Any]:
    rss0 = runtime.rss_bytes()
    record = super().run_video(video, engine)
    rss1 = runtime.rss_bytes()
    frames = max(record["frames"], 1)
    record.update(
        seconds_per_frame=record["model_seconds"] / frames,
        memory={"rss_bytes_start": rss0, "rss_bytes_end": rss1,
                "rss_growth_bytes": None if rss0 is None or rss1 is None else rss1 - rss0,
                "memory_mode": engine.mode.name,
                "state_slots_constant": not engine.mode.grows})
    return record
