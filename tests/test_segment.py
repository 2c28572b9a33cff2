"""Segment your own video: the Python API, the CLI's folder writer, inputs and their errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import rde_jax
from rde_jax import segment
from rde_jax.checkpoint import CheckpointMismatchError
from rde_jax.errors import DataError
from rde_jax.fileio import label_png, video_reader
from rde_jax.inference.settings import InferenceSettings

import eval_fakes as F


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
  """A 12-frame synthetic video as a frame folder and as a GIF, and its first mask."""
  d = tmp_path_factory.mktemp("clip")
  frames, labels = F.video(7, 12)
  for t, f in enumerate(frames):
    F.save_jpeg(d / "frames" / f"frame{t}.jpg", f)  # natural order: frame2 before frame10
  imgs = [Image.fromarray(f) for f in frames]
  imgs[0].save(d / "clip.gif", save_all=True, append_images=imgs[1:], duration=100, loop=0)
  label_png.write_label_png(d / "first.png", labels[0])
  return d, frames, labels


def _segment(model, clip_dir, out, **kw):
  return segment.segment_to_folder(model, kw.pop("video", clip_dir / "frames"),
                                   kw.pop("mask", clip_dir / "first.png"), out,
                                   InferenceSettings(top_k=20), **kw)


@pytest.mark.slow
def test_python_api_arrays_lists_and_iterators(clip):
  _, frames, labels = clip
  model = F.tiny_model()
  first = np.where(labels[0] == 2, 7, labels[0]).astype(np.uint8)  # ids need not be 1..K
  masks = model.segment(frames, first, top_k=20)
  assert masks.shape == frames.shape[:3] and masks.dtype == np.uint8
  assert set(np.unique(masks).tolist()) <= {0, 1, 7}
  np.testing.assert_array_equal(masks[0], first)
  np.testing.assert_array_equal(model.segment(list(frames), first, top_k=20), masks)
  np.testing.assert_array_equal(model.segment(iter(frames), first, top_k=20), masks)
  small = model.segment(frames, first, top_k=20, max_side=48)  # runs at 32x48, returns 64x96
  assert small.shape == masks.shape and np.mean(small[0] == first) > 0.97
  assert "'jax'" not in subprocess.run(
      [sys.executable, "-c", "import sys, rde_jax; print(sorted(sys.modules))"],
      capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO))).stdout


def test_folder_and_gif_outputs(clip, tmp_path):
  d, frames, labels = clip
  model = F.tiny_model()
  s1 = _segment(model, d, tmp_path / "a")
  names = sorted(p.name for p in (tmp_path / "a" / "masks").iterdir())
  assert names == sorted(f"frame{t}.png" for t in range(12))
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a" / "masks" / "frame0.png")),
                                labels[0])  # natural order: frame10 comes after frame9
  with Image.open(tmp_path / "a" / "masks" / "frame3.png") as img:
    assert img.mode == "P" and img.size == (F.SIZE[1], F.SIZE[0])
  overlay = tmp_path / "a" / s1["overlay"]
  decoded = list(video_reader.open_video(overlay))
  assert len(decoded) == 12 and decoded[0].shape[:2] == F.SIZE
  summary = json.loads((tmp_path / "a" / "summary.json").read_text())
  assert summary["frames"] == 12 and summary["objects"] == [1, 2] and summary["fps"] > 0
  assert summary["settings"]["top_k"] == 20 and summary["environment"]["platform"]
  assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
      ".rde_jax_written.json", "masks", overlay.name, "summary.json"]  # + what we wrote
  # The GIF gives the same frames (lossy palette, so masks are close), named 00000.png...
  _segment(model, d, tmp_path / "b", video=d / "clip.gif", write_overlay=False)
  gif_mask = np.asarray(Image.open(tmp_path / "b" / "masks" / "00009.png"))
  folder_mask = np.asarray(Image.open(tmp_path / "a" / "masks" / "frame9.png"))
  assert gif_mask.shape == folder_mask.shape
  # Frame 0 is the given mask either way; later frames drift apart a little (GIF colours are
  # quantised and the random tiny model is unsure), but stay mostly the same.
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "b" / "masks" / "00000.png")),
                                labels[0])
  assert np.mean(gif_mask == folder_mask) > 0.7


def test_start_frame_and_gif_overlay_fallback(clip, tmp_path, monkeypatch):
  d, _, labels = clip
  label_png.write_label_png(tmp_path / "m3.png", labels[3])
  monkeypatch.setattr("rde_jax.fileio.overlay.mp4_available", lambda: False)
  s = _segment(F.tiny_model(), d, tmp_path / "o", mask=tmp_path / "m3.png", start_frame=3)
  assert s["overlay"] == "overlay.gif" and s["segmented_frames"] == 9 and s["frames"] == 12
  assert not np.asarray(Image.open(tmp_path / "o" / "masks" / "frame2.png")).any()
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o" / "masks" / "frame3.png")),
                                labels[3])
  with Image.open(tmp_path / "o" / "overlay.gif") as gif:
    assert gif.n_frames == 12


def _i16(path, value):
  ids = np.zeros(F.SIZE, np.uint16)
  ids[5:20, 5:20] = value
  Image.fromarray(ids).save(path)


@pytest.mark.parametrize("case", ["missing_video", "missing_mask", "size", "empty_mask",
                                  "id_300", "corrupt_frame", "rgb_mask", "no_frames",
                                  "no_ffmpeg"])
def test_bad_inputs_write_nothing(clip, tmp_path, case, monkeypatch):
  d, frames, labels = clip
  kw, match = {}, None
  if case == "missing_video":
    kw["video"], match = tmp_path / "nope.mp4", r"nope\.mp4: no such file or folder"
  elif case == "missing_mask":
    kw["mask"], match = tmp_path / "nope.png", r"nope\.png: cannot read file"
  elif case == "size":
    label_png.write_label_png(tmp_path / "m.png", labels[0][:32, :48])
    kw["mask"], match = tmp_path / "m.png", r"m\.png: mask size 48x32 differs .*--resize_mask"
  elif case == "empty_mask":
    label_png.write_label_png(tmp_path / "m.png", np.zeros(F.SIZE, np.uint8))
    kw["mask"], match = tmp_path / "m.png", r"m\.png: the mask holds no object"
  elif case == "id_300":
    _i16(tmp_path / "m.png", 300)
    kw["mask"], match = tmp_path / "m.png", r"m\.png: object id 300 above 255"
  elif case == "rgb_mask":
    Image.fromarray(frames[0]).save(tmp_path / "m.png")
    kw["mask"], match = tmp_path / "m.png", r"m\.png: label image must be a palette or grayscale"
  elif case == "corrupt_frame":  # found mid-video: the staged outputs are removed
    (tmp_path / "f").mkdir()
    for t in range(12):
      (tmp_path / "f" / f"{t}.jpg").write_bytes((d / "frames" / f"frame{t}.jpg").read_bytes())
    data = (tmp_path / "f" / "7.jpg").read_bytes()
    (tmp_path / "f" / "7.jpg").write_bytes(data[:len(data) // 3])
    kw["video"], match = tmp_path / "f", r"7\.jpg: unreadable or corrupt image"
  elif case == "no_frames":
    (tmp_path / "f").mkdir()
    kw["video"], match = tmp_path / "f", r"no \.jpg/\.jpeg/\.png frames .*empty video"
  elif case == "no_ffmpeg":
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    monkeypatch.setitem(sys.modules, "av", None)
    (tmp_path / "v.mp4").write_bytes(b"\0" * 64)
    kw["video"], match = tmp_path / "v.mp4", r"pip install imageio-ffmpeg"
  with pytest.raises(DataError, match=match):
    _segment(F.tiny_model(), d, tmp_path / "out", **kw)
  assert not (tmp_path / "out").exists()  # nothing written, not even the folder


@pytest.mark.slow
def test_resize_mask_and_grey_masks(clip, tmp_path):
  d, _, labels = clip
  small = np.asarray(Image.fromarray(labels[0]).resize((48, 32), Image.Resampling.NEAREST))
  label_png.write_label_png(tmp_path / "m.png", small)
  s = _segment(F.tiny_model(), d, tmp_path / "o", mask=tmp_path / "m.png", resize_mask=True,
               write_overlay=False)
  assert s["objects"] == [1, 2]
  Image.fromarray(((labels[0] > 0) * 255).astype(np.uint8)).save(tmp_path / "g.png")  # 0/255
  s = _segment(F.tiny_model(), d, tmp_path / "g", mask=tmp_path / "g.png", write_overlay=False)
  assert s["objects"] == [1]


@pytest.mark.system
def test_cli_errors_and_checkpoint_mismatch(clip, tmp_path):
  d, _, _ = clip
  with pytest.raises(CheckpointMismatchError, match="does not match"):
    rde_jax.load(F.tiny_checkpoint(), arch="official")
  base = [sys.executable, "-m", "rde_jax.segment", f"--checkpoint={F.tiny_checkpoint()}",
          f"--video={d / 'frames'}", f"--out={tmp_path / 'o'}"]
  env = dict(os.environ, PYTHONPATH=str(REPO))
  _i16(tmp_path / "m.png", 300)
  proc = subprocess.run(base + [f"--mask={tmp_path / 'm.png'}"], env=env, capture_output=True,
                        text=True, timeout=120)
  assert proc.returncode == 1 and "object id 300 above 255" in proc.stderr
  proc = subprocess.run(base + [f"--mask={d / 'first.png'}", "--arch=official"], env=env,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 1 and "does not match the requested" in proc.stderr
  assert not (tmp_path / "o").exists()


def test_preset_and_flags_make_one_settings_object():
  """--preset applies first; flags given explicitly win over it; the rest keep the defaults."""
  from absl import flags
  from rde_jax.errors import UserError

  def settings(*argv):
    fv = flags.FlagValues()
    segment.define_flags(fv)
    fv(["segment", *argv])
    return segment.settings_from_flags(fv)

  assert settings() == InferenceSettings()
  s = settings("--preset=official", "--top_k=20")
  assert (s.dtype, s.conv_algorithm, s.top_k, s.mem_every) == ("float16", "direct", 20, 3)
  assert settings("--preset=official", "--dtype=float32").dtype == "float32"
  assert settings("--max_side=0").max_side is None and settings("--max_side=480").max_side == 480
  with pytest.raises(UserError, match="--preset must be one of"):
    settings("--preset=turbo")
  with pytest.raises(UserError, match="--max_side must be 0"):
    settings("--max_side=8")
