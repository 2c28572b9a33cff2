"""python -m rde_jax.data.resize_youtube: the official train_480p copy (scripts/resize_youtube.py)."""

import numpy as np
import pytest
from PIL import Image

from rde_jax import cli
from rde_jax.data import resize_youtube
from rde_jax.fileio import label_png, manifest


def _tree(root, sizes=(("land", 960, 540), ("tall", 270, 360))):
  """Two videos of 2 frames: a horizontal gradient (JPEG) and 3 vertical label bands (PNG)."""
  for name, w, h in sizes:
    for t in range(2):
      ramp = np.broadcast_to(np.linspace(0, 255, w)[None, :, None], (h, w, 3))
      (root / "JPEGImages" / name).mkdir(parents=True, exist_ok=True)
      Image.fromarray(ramp.astype(np.uint8)).save(root / "JPEGImages" / name / f"{5 * t:05d}.jpg",
                                                  quality=95)
      labels = np.broadcast_to((np.arange(w) * 3 // w).astype(np.uint8)[None], (h, w))
      label_png.write_label_png(root / "Annotations" / name / f"{5 * t:05d}.png", labels)
  (root / "meta.json").write_text("{}")  # not copied (the official script reads two folders)


def test_sizes_kernels_and_layout(tmp_path):
  _tree(tmp_path / "train")
  counts = resize_youtube.resize_all(tmp_path / "train", tmp_path / "train_480p")
  assert counts == {"videos": 4, "skipped": 0, "folders": 4}
  out = tmp_path / "train_480p"
  assert sorted(p.name for p in out.iterdir()) == ["Annotations", "JPEGImages"]
  # 960x540 -> int(960 * 480/540) = 853 wide; 270x360 is enlarged to 480x640.
  for name, size in (("land", (853, 480)), ("tall", (480, 640))):
    with Image.open(out / "JPEGImages" / name / "00005.jpg") as img:
      assert img.format == "JPEG" and img.size == size
      frame = np.asarray(img, np.float64)
    expected = np.linspace(0, 255, size[0])  # the ramp, resampled: close to itself
    assert np.abs(frame[size[1] // 2, 8:-8, 0] - expected[8:-8]).max() < 6
    with Image.open(out / "Annotations" / name / "00005.png") as ann:
      assert ann.mode == "P" and ann.size == size
      ids = np.asarray(ann)
    # nearest: each column keeps the label of source column floor(x * w_in / w_out)
    w_in = 960 if name == "land" else 270
    src_col = np.floor((np.arange(size[0]) + 0.5) * w_in / size[0]).astype(int)
    np.testing.assert_array_equal(ids[0], src_col * 3 // w_in)


def test_resumes_after_a_kill_and_skips_finished_videos(tmp_path, monkeypatch):
  _tree(tmp_path / "train")
  real, calls = resize_youtube.resize_image, []

  def dying(src, dst, folder):
    calls.append(src)
    if src.parent.name == "tall" and folder == "JPEGImages" and src.name == "00005.jpg":
      raise KeyboardInterrupt  # killed in the middle of a video
    real(src, dst, folder)

  monkeypatch.setattr(resize_youtube, "resize_image", dying)
  with pytest.raises(KeyboardInterrupt):
    resize_youtube.resize_all(tmp_path / "train", tmp_path / "out")
  out = tmp_path / "out"
  land = {p.name for p in (out / "JPEGImages" / "land").iterdir()}
  assert land - {manifest.NAME} == {"00000.jpg", "00005.jpg"}
  assert not (out / "JPEGImages" / "tall").exists()  # no half-written video
  assert not [p for p in (out / "JPEGImages").iterdir() if p.name.startswith(".")]
  calls.clear()
  monkeypatch.setattr(resize_youtube, "resize_image",
                      lambda s, d, f: (calls.append(s), real(s, d, f)))
  counts = resize_youtube.resize_all(tmp_path / "train", out)
  redone = {p.parent.name + "/" + p.parent.parent.name for p in calls}
  assert "tall/JPEGImages" in redone and "land/JPEGImages" not in redone  # land was complete
  assert counts["skipped"] == 4 - len(redone) and counts["videos"] == len(redone)
  tall = {p.name for p in (out / "JPEGImages" / "tall").iterdir()}
  assert tall - {manifest.NAME} == {"00000.jpg", "00005.jpg"}


def test_cli_errors_are_one_line(tmp_path, capsys):
  main, define = resize_youtube.main, resize_youtube.define_flags
  assert cli.call(main, define, ["x", "--input", str(tmp_path / "none"),
                                 "--output", str(tmp_path / "o")]) == 1
  assert "--input" in capsys.readouterr().err
  (tmp_path / "empty").mkdir()
  assert cli.call(main, define, ["x", "--input", str(tmp_path / "empty"),
                                 "--output", str(tmp_path / "o")]) == 1
  assert "JPEGImages: no such folder" in capsys.readouterr().err
  _tree(tmp_path / "train")
  bad = tmp_path / "train" / "JPEGImages" / "land" / "00000.jpg"
  bad.write_bytes(b"not a jpeg")
  assert cli.call(main, define, ["x", "--input", str(tmp_path / "train"),
                                 "--output", str(tmp_path / "o")]) == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "00000.jpg: not a readable image" in err[0]
