"""Runs an exported artifact without JAX: the official schedule in numpy around its functions.

    from rde_jax.export import runtime
    probs = runtime.segment("artifacts/rde", frames, first_mask)        # (T,K+1,H,W) float32
    model = runtime.load_artifact("artifacts/rde", backend="stablehlo")  # or rde_jax.load_artifact
    for t, ids in model.segment_iter(frame_iterator, first_mask): ...  # (H,W) uint8, mask's ids

Backends: 'onnxruntime' (the ONNX graphs; needs only numpy and onnxruntime: `pip install
'rde-jax[onnx]'`) and 'stablehlo' (the `jax.export` serialisations through
`jax.export.deserialize`: needs JAX, not our model code). Importing this module imports neither.

The schedule is the official DAVIS one (`inference_core.py`, as `rde_jax.inference.propagate`):
frame 0 opens the memory (`init`); frame t > 0 is a memory frame (`step_and_memorize`) when
t % mem_every == 0 (every frame with include_last) unless it is the last frame, else `step`.
Frames are pulled one at a time with one look-ahead (to know the last), so any iterable works.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from rde_jax.export import manifest as manifest_lib
from rde_jax.export.manifest import ArtifactError
from rde_jax.fileio import label_png

DEFAULT_BACKEND = "onnxruntime"


class OnnxRunner:
  """The ONNX functions of an artifact in onnxruntime sessions: run(name, *inputs)."""

  def __init__(self, directory: Path, m: dict[str, Any], providers: list[str] | None = None,
               threads: int = 0):
    try:
      import onnxruntime as ort
    except ImportError as e:
      raise ArtifactError("the onnxruntime backend needs onnxruntime",
                          hint="pip install 'rde-jax[onnx]' (or use backend 'stablehlo')") from e
    options = ort.SessionOptions()
    options.log_severity_level = 3  # no warnings about unused initializers
    options.intra_op_num_threads = threads
    self.sessions, self.inputs = {}, {}
    for name, entry in m["formats"]["onnx"]["functions"].items():
      path = directory / entry["file"]
      try:
        session = ort.InferenceSession(os.fspath(path), options,
                                       providers=providers or ["CPUExecutionProvider"])
      except Exception as e:  # onnxruntime raises its own exception types for bad graphs
        raise ArtifactError(f"{path}: onnxruntime cannot load it "
                            f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from e
      self.sessions[name] = session
      self.inputs[name] = [i.name for i in session.get_inputs()]

  def run(self, name: str, *inputs: Any) -> tuple[Any, ...]:
    return tuple(self.sessions[name].run(None, dict(zip(self.inputs[name], inputs))))

  @staticmethod
  def to_host(x: Any) -> np.ndarray:
    return x


class Artifact:
  """A loaded artifact: its manifest and one backend running its functions."""

  def __init__(self, directory: str | os.PathLike, backend: str = DEFAULT_BACKEND, *,
               verify: bool = True, providers: list[str] | None = None):
    self.directory = Path(directory)
    m = manifest_lib.read(self.directory, verify=False)
    fmt = manifest_lib.backend_format(self.directory, m, backend)
    if verify:
      manifest_lib.check_files(self.directory, m, formats=(fmt,))
    self.manifest, self.backend = m, backend
    self.source = os.fspath(self.directory)
    self.settings: dict[str, Any] = dict(m["settings"])  # top_k, memory_mode, dtype, ...
    self.size = (int(m["frame_size"][0]), int(m["frame_size"][1]))
    self.num_objects = int(m["num_objects"])
    self.mem_every = int(m["schedule"]["mem_every"])
    self.include_last = bool(m["schedule"]["include_last"])
    self.memory_slots = int(m["memory_slots"])
    self.grows = m["settings"]["memory_mode"] == "stm"
    if backend == "stablehlo":
      from rde_jax.export import stablehlo  # imports JAX
      self.runner: Any = stablehlo.Runner(self.directory, m)
    else:
      self.runner = OnnxRunner(self.directory, m, providers)

  def __repr__(self) -> str:
    h, w = self.size
    return (f"Artifact({os.fspath(self.directory)!r}, {self.backend}, {h}x{w}, "
            f"K={self.num_objects})")

  # -- checks ------------------------------------------------------------------------------
  def check_frame(self, frame: Any, t: int) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.shape != self.size + (3,):
      raise ArtifactError(
          f"frame {t}: {frame.dtype} {frame.shape} does not match the artifact's uint8 "
          f"{self.size + (3,)} ({self.directory}); export one for this size with "
          f"--height {frame.shape[0] if frame.ndim else '?'} "
          f"--width {frame.shape[1] if frame.ndim > 1 else '?'}")
    return frame

  def check_labels(self, labels: Any) -> np.ndarray:
    """(H,W) ids 0..K with K = the exported object count (as `segment_video`: K = max id)."""
    labels = np.asarray(labels)
    if labels.shape != self.size or not np.issubdtype(labels.dtype, np.integer):
      raise ArtifactError(f"first mask: {labels.dtype} {labels.shape} is not an integer "
                          f"{self.size} label map (the artifact's frame size)")
    k = int(labels.max())
    if k != self.num_objects or int(labels.min()) < 0:
      raise ArtifactError(
          f"first mask: {k} objects (highest id), but the artifact {self.directory} was "
          f"exported for {self.num_objects}; export one with --objects {k}")
    return labels.astype(np.uint8)

  # -- running -----------------------------------------------------------------------------
  def probs_iter(self, frames: Iterable[Any], first_labels: Any, *, mem_every: int | None = None,
                 include_last: bool | None = None,
                 stats: Any = None) -> Iterator[tuple[int, np.ndarray]]:
    """(t, probs (K+1,H,W) float32) for every frame; first_labels (H,W) ids 0..K of frame 0.

    stats: optional object whose `frames`, `model_seconds`, `read_seconds` are added to.
    """
    mem_every = self.mem_every if mem_every is None else int(mem_every)
    include_last = self.include_last if include_last is None else bool(include_last)
    if mem_every < 1:
      raise ArtifactError(f"mem_every must be an integer >= 1, got {mem_every}")
    labels = self.check_labels(first_labels)
    it, run, to_host = iter(frames), self.runner.run, self.runner.to_host
    clock = _Clock(stats)
    frame = clock.fetch(it)
    if frame is None:
      raise ArtifactError("the video has no frames")
    probs, *state = clock.call(run, "init", self.check_frame(frame, 0), labels)
    yield 0, clock.done(to_host(probs))
    t, stored, nxt = 0, 1, clock.fetch(it)
    while nxt is not None:
      t += 1
      frame, nxt = self.check_frame(nxt, t), clock.fetch(it)
      memorize = (t % mem_every == 0 or include_last) and nxt is not None
      if memorize and self.grows:
        stored += 1
        if stored > self.memory_slots:
          raise ArtifactError(f"frame {t}: the stm artifact holds {self.memory_slots} memory "
                              "frames; re-export with a larger --stm_slots or a higher "
                              "mem_every")
      name = "step_and_memorize" if memorize else "step"
      probs, *state = clock.call(run, name, frame, *state)
      yield t, clock.done(to_host(probs))

  def segment_iter(self, frames: Iterable[Any], first_mask: Any, *,
                   mem_every: int | None = None, include_last: bool | None = None,
                   stats: Any = None) -> Iterator[tuple[int, np.ndarray]]:
    """(t, (H,W) uint8 ids) per frame, with the mask's own ids (any ids 1..255, K of them)."""
    mask = np.asarray(first_mask)
    if mask.ndim != 2 or not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool) \
        or (mask.size and (int(mask.max()) > 255 or int(mask.min()) < 0)):
      raise ArtifactError(f"first mask: expected an (H,W) label map of ids 0..255, got "
                          f"{mask.dtype} {mask.shape}")
    compact, lut = label_png.compact_ids(mask.astype(np.uint8))
    for t, probs in self.probs_iter(frames, compact, mem_every=mem_every,
                                    include_last=include_last, stats=stats):
      yield t, lut[np.argmax(probs, axis=0).astype(np.uint8)]

  def segment(self, frames: Iterable[Any], first_mask: Any, **kwargs: Any) -> np.ndarray:
    """All frames at once: (T,H,W) uint8 ids (see `segment_iter`)."""
    return np.stack([ids for _, ids in self.segment_iter(frames, first_mask, **kwargs)])


class _Clock:
  """Model time (function calls and fetching their outputs) apart from reading frames."""

  def __init__(self, stats: Any):
    self.stats = stats
    self.t0 = 0.0

  def fetch(self, it: Iterator[Any]) -> Any:
    start = time.perf_counter()
    x = next(it, None)
    if self.stats is not None:
      self.stats.read_seconds += time.perf_counter() - start
    return x

  def call(self, run: Any, *args: Any) -> tuple[Any, ...]:
    self.t0 = time.perf_counter()
    return run(*args)

  def done(self, probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs)
    if self.stats is not None:
      self.stats.model_seconds += time.perf_counter() - self.t0
      self.stats.frames += 1
    return probs


def load_artifact(directory: str | os.PathLike, backend: str = DEFAULT_BACKEND,
                  **kwargs: Any) -> Artifact:
  """Loads an artifact directory (`python -m rde_jax.export`); ArtifactError if it is not one."""
  return Artifact(directory, backend, **kwargs)


def segment(artifact_dir: str | os.PathLike, frames: Iterable[Any], first_mask: Any,
            backend: str = DEFAULT_BACKEND, **kwargs: Any) -> np.ndarray:
  """Per-frame probabilities (T,K+1,H,W) float32 of a video (as `inference.segment_video`):
  frames uint8 (H,W,3), first_mask (H,W) ids 0..K with K the exported object count."""
  artifact = load_artifact(artifact_dir, backend)
  return np.stack([p for _, p in artifact.probs_iter(frames, first_mask, **kwargs)])
