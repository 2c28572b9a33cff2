"""Inference: the per-frame engine, its memory state and modes, and whole-video propagation.

    probs = inference.segment_video(variables, frames, first_labels, mem_every=3, top_k=40,
                                    memory_mode="two-frames-compress", include_last=False)
    engine = inference.Engine(variables, top_k=40, memory_mode="stm")
    for t, labels in inference.propagate(engine, frames, first_labels, output="labels"): ...

Modules: `engine` (the one per-frame step), `memory` / `state` / `modes` (the memory, apart from
the model), `propagate` (the chunked loop over a video), `frame_schedule` (memory frames),
`geometry` / `resize` (sizes, padding, PyTorch resampling), `timing`.
"""

from rde_jax.inference.engine import DTYPES, Engine
from rde_jax.inference.geometry import Geometry, pad_amounts
from rde_jax.inference.modes import MemoryMode, MODES
from rde_jax.inference.propagate import propagate, propagate_banks, segment_video
from rde_jax.inference.frame_schedule import memory_frame_flags, schedule
from rde_jax.inference.state import MemoryState
from rde_jax.inference.timing import RunStats
from rde_jax.model.imagenet import normalize


__all__ = ["DTYPES", "Engine", "Geometry", "MODES", "MemoryMode", "MemoryState", "RunStats",
           "memory_frame_flags", "normalize", "pad_amounts", "propagate", "propagate_banks",
           "schedule", "segment_video"]
