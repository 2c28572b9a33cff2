"""Tiny synthetic DAVIS / YouTube-VOS trees and a tiny-model checkpoint shared by the eval and
segment tests (created once per test session; compiled engines are reused through them)."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from rde_jax import checkpoint
from rde_jax.data.synthetic import generate_video
from rde_jax.fileio import label_png
from rde_jax.model import architectures
from rde_jax.model.architectures import Arch
from rde_jax.model.network import init_variables

from configs_helper import load_config


SIZE = (64, 96)  # every fake video has this size and 2 objects: one compilation serves all


def video(seed: int, num_frames: int = 8) -> tuple[np.ndarray, np.ndarray]:
  return generate_video(seed, height=SIZE[0], width=SIZE[1], num_frames=num_frames,
                        min_objects=2, max_objects=2)


def save_jpeg(path: Path, rgb: np.ndarray) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(rgb).save(path, quality=95)


def write_davis(root: Path, names=("alpha", "bravo", "charlie"), num_frames: int = 7,
                split: str = "val") -> dict[str, np.ndarray]:
  """DAVIS layout (480p folders, ImageSets 2016 and 2017); returns {name: labels (T,H,W)}."""
  out = {}
  for i, name in enumerate(names):
    frames, labels = video(i, num_frames)
    for t in range(num_frames):
      save_jpeg(root / "JPEGImages" / "480p" / name / f"{t:05d}.jpg", frames[t])
      if split != "test-dev" or t == 0:
        label_png.write_label_png(root / "Annotations" / "480p" / name / f"{t:05d}.png", labels[t])
    out[name] = labels
  for year in ("2016", "2017"):
    (root / "ImageSets" / year).mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / year / f"{split}.txt").write_text("\n".join(names) + "\n")
  return out


def write_generic(root: Path, lengths=(6, 9, 5)) -> dict[str, np.ndarray]:
  """`JPEGImages/<seq>` + `Annotations/<seq>` with every frame annotated, no ImageSets (the
  generic layout; frame names need not be numbers)."""
  out = {}
  for i, n in enumerate(lengths):
    name = f"clip{i}"
    frames, labels = video(20 + i, n)
    for t in range(n):
      save_jpeg(root / "JPEGImages" / name / f"img_{t:04d}.jpg", frames[t])
      label_png.write_label_png(root / "Annotations" / name / f"img_{t:04d}.png", labels[t])
    out[name] = labels
  return out


def write_youtube(root: Path, num_frames: int = 12) -> dict[str, dict]:
  """YouTube-VOS 2019 valid layout: 'late' gets its 2nd object at frame 5 (first seen there),
  'early' has both objects in frame 0; meta.json asks for every 5th frame of each object."""
  meta = {}
  for i, (name, late) in enumerate((("early", None), ("late", 5))):
    frames, labels = video(10 + i, num_frames)
    stems = [f"{5 * t:05d}" for t in range(num_frames)]  # official names: 00000, 00005, ...
    for t in range(num_frames):
      save_jpeg(root / "valid_all_frames" / "JPEGImages" / name / f"{stems[t]}.jpg", frames[t])
      if t % 5 == 0:
        save_jpeg(root / "valid" / "JPEGImages" / name / f"{stems[t]}.jpg", frames[t])
    first = labels[0].copy()
    if late is None:
      label_png.write_label_png(root / "valid" / "Annotations" / name / f"{stems[0]}.png", first)
      objects = {"1": 0, "2": 0}
    else:
      first[first == 2] = 0
      label_png.write_label_png(root / "valid" / "Annotations" / name / f"{stems[0]}.png", first)
      second = np.where(labels[late] == 2, 2, 0).astype(np.uint8)
      label_png.write_label_png(root / "valid" / "Annotations" / name / f"{stems[late]}.png",
                               second)
      objects = {"1": 0, "2": late}
    meta[name] = {"objects": {k: {"category": "thing",
                                  "frames": [stems[t] for t in range(s, num_frames, 2)]}
                              for k, s in objects.items()}}
  (root / "valid").mkdir(parents=True, exist_ok=True)
  (root / "valid" / "meta.json").write_text(json.dumps({"videos": meta}))
  return meta


@functools.lru_cache(maxsize=None)
def tiny_checkpoint() -> Path:
  """A tiny-architecture model directory (random init), once per session."""
  tmp = Path(tempfile.mkdtemp(prefix="rde_tiny_ckpt_"))
  atexit.register(shutil.rmtree, tmp, True)
  arch = Arch.from_config(architectures.tiny())
  checkpoint.save_model(tmp / "model", init_variables(arch, 0), arch, source="tests")
  return tmp / "model"


def eval_config(name: str, variant: str | None = "runlocal", **fields):
  """configs/<name>.py:<variant> evaluating the tiny checkpoint, with `a__b=value` overrides."""
  fields.setdefault("checkpoint", str(tiny_checkpoint()))
  return load_config(name, variant, **fields)


def tiny_model():
  """The tiny model as eval.py's runner loads it: tests and eval runs share compiled code."""
  from rde_jax.evaluation import runner
  return runner.load_model(str(tiny_checkpoint()), "tiny")
