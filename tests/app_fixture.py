"""A running rde-app server on a free port with the tiny model, a short clip, and an HTTP client
(shared by tests/test_app_server.py and tests/test_app_browser.py)."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rde_jax import segment
from rde_jax.app import server as server_lib
from rde_jax.fileio import label_png
from rde_jax.inference.settings import InferenceSettings

import eval_fakes as F

NUM_FRAMES = 12


def write_clip(d: Path) -> tuple[np.ndarray, np.ndarray]:
  """d/clip.gif, d/frames/frame<t>.jpg, d/frames.zip, d/first.png: a 12-frame synthetic clip."""
  frames, labels = F.video(7, NUM_FRAMES)
  for t, f in enumerate(frames):
    F.save_jpeg(d / "frames" / f"frame{t}.jpg", f)
  imgs = [Image.fromarray(f) for f in frames]
  imgs[0].save(d / "clip.gif", save_all=True, append_images=imgs[1:], duration=100, loop=0)
  with zipfile.ZipFile(d / "frames.zip", "w") as z:
    for t in reversed(range(NUM_FRAMES)):  # any member order: natural name order is used
      z.write(d / "frames" / f"frame{t}.jpg", f"clip/frame{t}.jpg")
  label_png.write_label_png(d / "first.png", labels[0])
  return frames, labels


class Client:
  """JSON / bytes requests to the app; errors come back as (status, body), never raised."""

  def __init__(self, url: str):
    self.url = url.rstrip("/")

  def request(self, method: str, path: str, body: bytes | None = None,
              obj: Any = None) -> tuple[int, bytes, str]:
    if obj is not None:
      body = json.dumps(obj).encode()
    req = urllib.request.Request(self.url + path, data=body, method=method)
    try:
      with urllib.request.urlopen(req, timeout=120) as r:
        return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
      return e.code, e.read(), e.headers.get("Content-Type", "")

  def json(self, method: str, path: str, body: bytes | None = None, obj: Any = None,
           status: int = 200) -> dict[str, Any]:
    code, data, ctype = self.request(method, path, body, obj)
    assert ctype == "application/json", (code, data[:200])
    reply = json.loads(data)
    assert code == status, (code, reply)
    return reply

  def wait(self, timeout: float = 300) -> dict[str, Any]:
    """Polls the progress until the run is no longer running."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
      p = self.json("GET", "/api/progress")
      if p["status"] != "running":
        return p
      time.sleep(0.05)
    raise AssertionError("the propagation did not finish in time")


def start_server(model: Any, roots: list[str], max_upload_bytes: int = 1 << 20
                 ) -> tuple[server_lib.AppServer, threading.Thread]:
  server = server_lib.make_server(model, port=0, roots=roots, max_upload_bytes=max_upload_bytes)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  return server, thread


def stop_server(server: server_lib.AppServer, thread: threading.Thread) -> None:
  server.shutdown()
  server.server_close()
  thread.join(10)


def zip_masks(data: bytes) -> dict[str, bytes]:
  """masks/<name>.png members of a downloaded zip -> {name: PNG bytes}."""
  with zipfile.ZipFile(io.BytesIO(data)) as z:
    return {Path(n).name: z.read(n) for n in z.namelist()}


def segment_masks(model: Any, video: Path, mask: Path, out: Path,
                  settings: InferenceSettings, start_frame: int = 0) -> dict[str, bytes]:
  """rde-segment's masks for the same inputs: {name.png: PNG bytes}."""
  segment.segment_to_folder(model, video, mask, out, settings, start_frame=start_frame,
                            write_overlay=False)
  return {p.name: p.read_bytes() for p in sorted((out / "masks").iterdir())}
