"""The app's request handlers, one per route (server.py lists the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rde_jax.app import session as session_lib
from rde_jax.app import video_input
from rde_jax.errors import UserError
from rde_jax.inference.settings import InferenceSettings

STATIC = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript",
                "app.css": "text/css"}


class HttpError(UserError):
  """A request error with its own HTTP status (404, 411, 413, ...)."""

  def __init__(self, status: int, message: str):
    super().__init__(message)
    self.status = status


def page(h: Any, name: str = "index.html") -> None:
  if name not in STATIC_TYPES:
    raise HttpError(404, f"no such file: /static/{name}")
  h.file(STATIC / name, STATIC_TYPES[name])


def state(h: Any) -> None:
  h.json(h.server.app.state())


def progress(h: Any) -> None:
  s = h.server.app.current()
  with s.lock:
    h.json(dict(s.progress))


def open_upload(h: Any) -> None:
  app = h.server.app
  name = h.query.get("name", "")
  video_input.upload_extension(name)  # before reading the body: a clear error for a bad type

  def make_source(folder: Path) -> Any:
    path = folder / f"upload{video_input.upload_extension(name)}"  # never the user's name
    h.body_to(path)
    return video_input.open_upload(path, name, folder, 4 * app.max_upload_bytes)

  session = app.open(make_source, name)
  h.json({"video": session.info()})


def open_path(h: Any) -> None:
  app = h.server.app
  path = h.body_json().get("path", "")
  session = app.open(lambda folder: video_input.open_server_path(path, app.roots), str(path))
  h.json({"video": session.info()})


def frame(h: Any, t: str) -> None:
  h.file(h.server.app.current().frame_path(t), "image/jpeg")


def ids(h: Any, t: str) -> None:
  h.send(200, session_lib.encode_ids(h.server.app.current().ids(t)),
          "application/octet-stream")


def mask(h: Any, t: str) -> None:
  s = h.server.app.current()
  objects = s.set_annotation(t, session_lib.decode_ids(h.body(), s.size), f"frame {t} mask")
  h.json({"frame": int(t), "objects": objects})


def mask_png(h: Any, t: str) -> None:
  s = h.server.app.current()
  name = h.query.get("name") or "mask.png"
  objects = s.set_annotation_png(t, h.body(), name)
  h.json({"frame": int(t), "objects": objects})


def propagate(h: Any) -> None:
  s = h.server.app.current()
  request = h.body_json()
  fields = request.get("settings") or {}
  if not isinstance(fields, dict):
    raise UserError("settings: expected an object of inference settings")
  settings = InferenceSettings.from_values(**fields)
  s.propagate(settings, request.get("frame", 0))
  h.json({"started": True, "progress": dict(s.progress)})


def cancel(h: Any) -> None:
  h.json({"cancelled": h.server.app.current().cancel()})


def download(h: Any, what: str) -> None:
  s = h.server.app.current()
  if what == "masks.zip":
    h.file(s.masks_zip(), "application/zip", "masks.zip")
  elif what == "overlay":
    path = s.overlay()
    h.file(path, "video/mp4" if path.suffix == ".mp4" else "image/gif", f"overlay{path.suffix}")
  else:
    body = json.dumps(s.settings_record(), indent=2).encode()
    h.send(200, body, "application/json",
            {"Content-Disposition": 'attachment; filename="settings.json"'})


GET_ROUTES = [
    (r"/", page), (r"/static/([\w.]+)", page), (r"/api/state", state),
    (r"/api/progress", progress), (r"/api/frame/(\d+)", frame), (r"/api/ids/(\d+)", ids),
    (r"/api/download/(masks\.zip|overlay|settings\.json)", download),
]
POST_ROUTES = [
    (r"/api/open", open_upload), (r"/api/open_path", open_path), (r"/api/mask/(\d+)", mask),
    (r"/api/mask_png/(\d+)", mask_png), (r"/api/propagate", propagate), (r"/api/cancel", cancel),
]
