"""rde-app's JSON API without a browser: open, annotate, propagate, correct, download, and every
bad input answered with a 4xx JSON error that leaves the earlier results."""

from __future__ import annotations

import io
import json
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from rde_jax import cli
from rde_jax.app import __main__ as app_main
from rde_jax.fileio import label_png
from rde_jax.inference.settings import InferenceSettings

import app_fixture as A
import eval_fakes as F

SETTINGS = {"top_k": 20}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
  d = tmp_path_factory.mktemp("app_clip")
  frames, labels = A.write_clip(d)
  (d / "frames" / "escape").symlink_to(d)  # inside the --root folder, pointing out of it
  return d, frames, labels


@pytest.fixture(scope="module")
def model():
  return F.tiny_model()


@pytest.fixture(scope="module")
def app(clip, model):
  server, thread = A.start_server(model, roots=[str(clip[0] / "frames")])
  yield server, A.Client(server.url)
  A.stop_server(server, thread)


def _open_gif_and_mask(c: A.Client, d) -> dict:
  video = c.json("POST", "/api/open?name=my%20clip.GIF", (d / "clip.gif").read_bytes())["video"]
  reply = c.json("POST", "/api/mask_png/0?name=first.png", (d / "first.png").read_bytes())
  assert reply["objects"] == [1, 2]
  return video


def _propagate(c: A.Client, frame: int = 0) -> dict:
  c.json("POST", "/api/propagate", obj={"frame": frame, "settings": SETTINGS})
  p = c.wait()
  assert p["status"] == "done", p
  return p


def test_upload_propagate_download_matches_segment(app, clip, model, tmp_path):
  _, c = app
  d, _, labels = clip
  video = _open_gif_and_mask(c, d)
  assert video["frames"] == A.NUM_FRAMES and (video["height"], video["width"]) == F.SIZE
  p = _propagate(c)
  assert p["done"] == p["total"] == A.NUM_FRAMES and p["seconds"] > 0 and p["fps"] > 0
  code, data, ctype = c.request("GET", "/api/download/masks.zip")
  assert code == 200 and ctype == "application/zip"
  got = A.zip_masks(data)
  want = A.segment_masks(model, d / "clip.gif", d / "first.png", tmp_path / "seg",
                         InferenceSettings(**SETTINGS))
  assert sorted(got) == sorted(want) == [f"{t:05d}.png" for t in range(A.NUM_FRAMES)]
  for name in want:
    assert got[name] == want[name], name  # byte for byte
  ids = np.frombuffer(c.request("GET", "/api/ids/0")[1], np.uint8).reshape(F.SIZE)
  np.testing.assert_array_equal(ids, labels[0])
  code, jpeg, ctype = c.request("GET", "/api/frame/3")
  assert code == 200 and ctype == "image/jpeg" and Image.open(io.BytesIO(jpeg)).size == (96, 64)
  record = json.loads(c.request("GET", "/api/download/settings.json")[1])
  assert record["runs"][0]["settings"]["top_k"] == 20 and record["runs"][0]["start_frame"] == 0
  code, gif, ctype = c.request("GET", "/api/download/overlay")
  assert code == 200 and ctype in ("image/gif", "video/mp4") and len(gif) > 1000


def test_correct_a_frame_and_propagate_from_it(app, clip, model, tmp_path):
  _, c = app
  d, _, _ = clip
  _open_gif_and_mask(c, d)
  _propagate(c)
  before = A.zip_masks(c.request("GET", "/api/download/masks.zip")[1])
  painted = np.frombuffer(c.request("GET", "/api/ids/5")[1], np.uint8).reshape(F.SIZE).copy()
  painted[:, :20] = 0
  painted[40:60, 30:50] = 3  # a new object on the corrected frame
  assert c.json("POST", "/api/mask/5", painted.tobytes())["objects"] == sorted(
      int(i) for i in np.unique(painted) if i)
  _propagate(c, frame=5)
  after = A.zip_masks(c.request("GET", "/api/download/masks.zip")[1])
  for t in range(5):
    assert after[f"{t:05d}.png"] == before[f"{t:05d}.png"]  # kept
  np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(after["00005.png"]))), painted)
  label_png.write_label_png(tmp_path / "m5.png", painted)
  want = A.segment_masks(model, d / "clip.gif", tmp_path / "m5.png", tmp_path / "seg",
                         InferenceSettings(**SETTINGS), start_frame=5)
  for t in range(5, A.NUM_FRAMES):
    assert after[f"{t:05d}.png"] == want[f"{t:05d}.png"], t
  assert after["00011.png"] != before["00011.png"]  # the correction changed later frames
  assert c.json("GET", "/api/state")["annotated"] == [0, 5]


def test_zip_of_frames_and_server_folder_match_segment(app, clip, model, tmp_path):
  _, c = app
  d, _, _ = clip
  want = A.segment_masks(model, d / "frames", d / "first.png", tmp_path / "seg",
                         InferenceSettings(**SETTINGS))
  assert sorted(want) == sorted(f"frame{t}.png" for t in range(A.NUM_FRAMES))
  for how in ("zip", "path"):
    if how == "zip":
      c.json("POST", "/api/open?name=frames.zip", (d / "frames.zip").read_bytes())
    else:
      c.json("POST", "/api/open_path", obj={"path": str(d / "frames")})
    c.json("POST", "/api/mask_png/0?name=first.png", (d / "first.png").read_bytes())
    _propagate(c)
    got = A.zip_masks(c.request("GET", "/api/download/masks.zip")[1])
    assert got == want, how  # frame names and bytes


def _zip_with(name: str) -> bytes:
  buf = io.BytesIO()
  with zipfile.ZipFile(buf, "w") as z:
    z.writestr(name, b"not really a jpeg")
  return buf.getvalue()


@pytest.mark.parametrize("case, status, match", [
    ("outside_root", 400, "outside the folders"),
    ("symlink_escape", 400, "outside the folders"),
    ("oversize", 413, "takes up to 1 MB"),
    ("zip_dotdot", 400, "'..' path"),
    ("corrupt_gif", 400, "cannot read the GIF|corrupt"),
    ("bad_type", 400, "unsupported file type"),
    ("bad_setting", 400, "top_k"),
    ("unknown_setting", 400, "not an inference setting"),
    ("empty_mask", 400, "holds no object"),
    ("mask_size", 400, "expected 96x64"),
    ("frame_range", 400, "outside the video"),
    ("no_route", 404, "no such page"),
])
def test_bad_inputs_are_4xx_json_and_keep_results(app, clip, case, status, match):
  _, c = app
  d, _, _ = clip
  state = c.json("GET", "/api/state")  # the cases share one run: none of them may change it
  if not (state["video"] and state["video"]["title"] == "my clip.GIF"
          and state["progress"]["status"] == "done" and state["annotated"] == [0]):
    _open_gif_and_mask(c, d)
    _propagate(c)
  before = c.request("GET", "/api/download/masks.zip")[1]
  zeros = np.zeros(F.SIZE, np.uint8).tobytes()
  request = {
      "outside_root": ("POST", "/api/open_path", None, {"path": str(d / "clip.gif")}),
      "symlink_escape": ("POST", "/api/open_path", None,
                         {"path": str(d / "frames" / "escape" / "clip.gif")}),
      "oversize": ("POST", "/api/open?name=big.gif", b"x" * (3 << 20), None),
      "zip_dotdot": ("POST", "/api/open?name=f.zip", _zip_with("../evil.jpg"), None),
      "corrupt_gif": ("POST", "/api/open?name=c.gif", b"GIF89a garbage", None),
      "bad_type": ("POST", "/api/open?name=notes.txt", b"hello", None),
      "bad_setting": ("POST", "/api/propagate", None, {"frame": 0, "settings": {"top_k": 0}}),
      "unknown_setting": ("POST", "/api/propagate", None, {"settings": {"topk": 3}}),
      "empty_mask": ("POST", "/api/mask/0", zeros, None),
      "mask_size": ("POST", "/api/mask/0", b"\x01" * 10, None),
      "frame_range": ("GET", "/api/frame/99", None, None),
      "no_route": ("GET", "/etc/passwd", None, None),
  }[case]
  reply = c.json(*request[:2], body=request[2], obj=request[3], status=status)
  assert set(reply) == {"error"} and "Traceback" not in reply["error"]
  assert __import__("re").search(match, reply["error"]), reply
  state = c.json("GET", "/api/state")
  assert state["video"]["title"] == "my clip.GIF" and state["progress"]["status"] == "done"
  assert c.request("GET", "/api/download/masks.zip")[1] == before  # nothing lost


def test_cancel_keeps_earlier_results(app, clip):
  server, c = app
  d, _, _ = clip
  _open_gif_and_mask(c, d)
  _propagate(c)
  before = c.request("GET", "/api/download/masks.zip")[1]
  session = server.app.session
  real, reached, release = session.model, threading.Event(), threading.Event()

  class Blocking:  # the real model, stopping after frame 3 until the test says go
    source = real.source

    def segment_iter(self, *args, **kwargs):
      for t, labels in real.segment_iter(*args, **kwargs):
        yield t, labels
        if t == 3:
          reached.set()
          release.wait(60)

  session.model = Blocking()
  try:
    c.json("POST", "/api/propagate", obj={"frame": 0, "settings": SETTINGS})
    assert reached.wait(120)
    assert c.json("POST", "/api/propagate", obj={"frame": 0}, status=409)["error"]
    assert c.json("POST", "/api/cancel")["cancelled"]
    release.set()
    assert c.wait()["status"] == "cancelled"
  finally:
    release.set()
    session.model = real
  assert c.request("GET", "/api/download/masks.zip")[1] == before


def test_entry_point_errors_are_one_line(tmp_path, capsys):
  assert cli.call(app_main.main, app_main.define_flags, ["rde-app"]) == 2
  assert cli.call(app_main.main, app_main.define_flags,
                  ["rde-app", "--checkpoint", str(tmp_path / "nope")]) == 1
  assert cli.call(app_main.main, app_main.define_flags,
                  ["rde-app", "--checkpoint", str(F.tiny_checkpoint()),
                   "--root", str(tmp_path / "missing")]) == 1
  err = capsys.readouterr().err
  assert "error: missing --checkpoint" in err and "nope" in err and "missing" in err
  assert "Traceback" not in err


def test_error_closes_the_connection_so_an_unread_body_is_never_parsed(app):
  import http.client
  import urllib.parse
  server, _ = app
  url = urllib.parse.urlsplit(server.url)
  conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
  smuggled = b"POST /api/cancel HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
  conn.request("POST", "/api/open?name=notes.txt", body=smuggled)  # refused before reading it
  reply = conn.getresponse()
  assert reply.status == 400 and reply.getheader("Connection") == "close"
  assert "unsupported file type" in json.loads(reply.read())["error"]
  conn.request("GET", "/api/state")  # a fresh connection: answered as itself
  assert conn.getresponse().status == 200
  conn.close()
