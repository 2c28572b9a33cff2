"""Inference: the per-frame engine, its memory state and modes, and whole-video propagation.

    settings = inference.InferenceSettings(top_k=20, memory_mode="stm")   # validated, hashable
    engine = inference.Engine(variables, arch, settings)
    for t, labels in inference.propagate(engine, frames, first_labels, output="labels"): ...
    probs = inference.segment_video(variables, frames, first_labels, settings)

Modules: `settings` (InferenceSettings: every knob, its defaults and checks, once), `engine`
(the one per-frame step), `memory` / `state` / `modes` (the memory, apart from the model),
`propagate` (the chunked loop over a video), `frame_schedule` (memory frames), `geometry` /
`resize` (sizes, padding, PyTorch resampling), `timing`.
"""

from rde_jax.inference.engine import Engine
from rde_jax.inference.frame_schedule import memory_frame_flags, schedule
from rde_jax.inference.geometry import Geometry, pad_amounts
from rde_jax.inference.modes import MemoryMode, MODES
from rde_jax.inference.propagate import propagate, propagate_banks, segment_video
from rde_jax.inference.settings import DTYPES, InferenceSettings
from rde_jax.inference.state import MemoryState
from rde_jax.inference.timing import ChunkRecord, RunStats
from rde_jax.model.imagenet import normalize


__all__ = ["ChunkRecord", "DTYPES", "Engine", "Geometry", "InferenceSettings", "MODES",
           "MemoryMode", "MemoryState", "RunStats", "memory_frame_flags", "normalize",
           "pad_amounts", "propagate", "propagate_banks", "schedule", "segment_video"]
