"""The app's HTTP server (standard library only): the static page and a small JSON API.

    server = make_server(model, host="127.0.0.1", port=8080, roots=["/data"])
    server.serve_forever()          # server.url: http://127.0.0.1:8080/

API (errors: JSON {"error": "..."} with 400 bad input, 404, 409 busy, 413 too large):
  GET  /api/state                      video info, progress, setting defaults and choices
  POST /api/open?name=clip.gif         body: the file (GIF / MP4 / AVI / ... or a zip of frames)
  POST /api/open_path                  {"path": "..."} a frame folder or video under a --root
  GET  /api/frame/<t>                  frame t as JPEG
  GET  /api/ids/<t>                    frame t's mask: raw (H*W) uint8 ids
  POST /api/mask/<t>                   body: raw (H*W) uint8 ids painted on frame t
  POST /api/mask_png/<t>?name=m.png    body: a label PNG for frame t
  POST /api/propagate                  {"frame": t, "settings": {InferenceSettings fields}}
  POST /api/cancel;  GET /api/progress
  GET  /api/download/masks.zip | overlay | settings.json
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Sequence

from absl import logging

from rde_jax import api
from rde_jax.app import session as session_lib
from rde_jax.app.routes import GET_ROUTES, POST_ROUTES, HttpError
from rde_jax.errors import UserError
from rde_jax.inference import settings as settings_lib
from rde_jax.inference.settings import InferenceSettings

_DRAIN_LIMIT = 1 << 30  # an oversize body up to this is read and dropped, so the 413 arrives


class App:
  """What the handlers share: the model, the allowed --root folders, limits, the open video."""

  def __init__(self, model: api.VOSModel, roots: Sequence[str] = (),
               max_upload_bytes: int = 512 << 20, workdir: str | None = None):
    self.model, self.roots = model, [str(r) for r in roots]
    self.max_upload_bytes = int(max_upload_bytes)
    self.workdir = Path(tempfile.mkdtemp(prefix="rde_app_", dir=workdir))
    self.session: session_lib.Session | None = None
    self._open_lock = threading.Lock()

  def current(self) -> session_lib.Session:
    if self.session is None:
      raise UserError("no video is open: upload one or give a path on the server")
    return self.session

  def open(self, make_source: Callable[[Path], Any], title: str) -> session_lib.Session:
    """Opens a video in a new session folder; the earlier session stays until this succeeds."""
    with self._open_lock:
      if self.session is not None and self.session.running:
        raise session_lib.Busy("a propagation is running; cancel it before opening a video")
      folder = Path(tempfile.mkdtemp(prefix="video_", dir=self.workdir))
      try:
        session = session_lib.Session(folder, make_source(folder), title, self.model)
      except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
      old, self.session = self.session, session
    if old is not None:
      old.close()
    return session

  def state(self) -> dict[str, Any]:
    s = self.session
    defaults = InferenceSettings().to_dict()
    defaults.pop("preset")
    defaults["max_side"] = defaults["max_side"] or 0
    out = {"video": None, "progress": {"status": "idle"}, "defaults": defaults,
           "choices": {"memory_mode": list(settings_lib.MEMORY_MODES),
                       "dtype": list(settings_lib.DTYPES),
                       "conv_algorithm": list(settings_lib.CONV_ALGORITHMS)},
           "roots": self.roots, "max_upload_mb": self.max_upload_bytes / 2**20,
           "checkpoint": self.model.source}
    if s is not None:
      with s.lock:
        out.update(progress=dict(s.progress), annotated=sorted(s.annotations),
                   results=len(s.results), version=s.version)
      out["video"] = s.info()
    return out

  def close(self) -> None:
    if self.session is not None:
      self.session.close()
    shutil.rmtree(self.workdir, ignore_errors=True)


class Handler(BaseHTTPRequestHandler):
  """Routes one request; every failure is a JSON error, tracebacks stay in the server log."""

  server: "AppServer"
  protocol_version = "HTTP/1.1"

  def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
    logging.vlog(1, "%s " + format, self.address_string(), *args)

  def do_GET(self) -> None:  # noqa: N802 (http.server's name)
    self._dispatch("GET")

  def do_POST(self) -> None:  # noqa: N802
    self._dispatch("POST")

  def _dispatch(self, method: str) -> None:
    url = urllib.parse.urlsplit(self.path)
    self.query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
    try:
      routes = GET_ROUTES if method == "GET" else POST_ROUTES
      for pattern, fn in routes:
        m = re.fullmatch(pattern, url.path)
        if m:
          fn(self, *m.groups())
          return
      raise HttpError(404, f"no such page: {method} {url.path}")
    except HttpError as e:
      self._error(e.status, str(e))
    except session_lib.Busy as e:
      self._error(409, str(e))
    except UserError as e:
      self._error(400, " ".join(e.lines()).removeprefix("error: "))
    except (BrokenPipeError, ConnectionResetError):
      self.close_connection = True
    except Exception as e:  # a bug: logged with its traceback, one line to the page
      logging.error("%s %s failed:\n%s", method, url.path, traceback.format_exc())
      self._error(500, f"internal error ({type(e).__name__}); see the server log")

  # -- replies ---------------------------------------------------------------------------------
  def send(self, status: int, body: bytes, content_type: str,
            headers: dict[str, str] | None = None) -> None:
    self.send_response(status)
    self.send_header("Content-Type", content_type)
    self.send_header("Content-Length", str(len(body)))
    self.send_header("Cache-Control", "no-store")
    for k, v in (headers or {}).items():
      self.send_header(k, v)
    self.end_headers()
    self.wfile.write(body)

  def json(self, obj: Any, status: int = 200) -> None:
    self.send(status, json.dumps(obj).encode(), "application/json")

  def _send_json_closing(self, obj: Any, status: int) -> None:
    self.send(status, json.dumps(obj).encode(), "application/json", {"Connection": "close"})

  def _error(self, status: int, message: str) -> None:
    """The JSON error; the connection is closed after it (a request body may be left unread)."""
    self.close_connection = True
    try:
      self._send_json_closing({"error": message}, status)
    except (BrokenPipeError, ConnectionResetError):
      self.close_connection = True

  def file(self, path: Path, content_type: str, download_name: str | None = None) -> None:
    """Streams a file (downloads of long videos are not read into memory)."""
    headers = ({"Content-Disposition": f'attachment; filename="{download_name}"'}
               if download_name else {})
    with open(path, "rb") as f:
      self.send_response(200)
      self.send_header("Content-Type", content_type)
      self.send_header("Content-Length", str(os.fstat(f.fileno()).st_size))
      self.send_header("Cache-Control", "no-store")
      for k, v in headers.items():
        self.send_header(k, v)
      self.end_headers()
      shutil.copyfileobj(f, self.wfile, 1 << 20)

  # -- request bodies --------------------------------------------------------------------------
  def _length(self) -> int:
    try:
      length = int(self.headers.get("Content-Length", ""))
    except ValueError:
      raise HttpError(411, "the request needs a Content-Length") from None
    limit = self.server.app.max_upload_bytes
    if length > limit:
      self.close_connection = True
      remaining = length if length <= _DRAIN_LIMIT else 0
      while remaining > 0:  # read it away, so that the client reads our answer
        chunk = self.rfile.read(min(remaining, 1 << 20))
        if not chunk:
          break
        remaining -= len(chunk)
      raise HttpError(413, f"the upload is {int(self.headers['Content-Length']) / 2**20:.1f} "
                      f"MB; this server takes up to {limit / 2**20:.0f} MB (rde-app "
                      "--max_upload_mb)")
    return length

  def body(self) -> bytes:
    length = self._length()
    data = self.rfile.read(length)
    if len(data) != length:
      raise HttpError(400, "the upload was cut short")
    return data

  def body_to(self, path: Path) -> None:
    """Streams the body into `path` (uploads are never held whole in memory)."""
    length = self._length()
    with open(path, "wb") as f:
      while length > 0:
        chunk = self.rfile.read(min(length, 1 << 20))
        if not chunk:
          raise HttpError(400, "the upload was cut short")
        f.write(chunk)
        length -= len(chunk)

  def body_json(self) -> dict[str, Any]:
    try:
      obj = json.loads(self.body() or b"{}")
    except ValueError:
      raise HttpError(400, "the request body is not JSON") from None
    if not isinstance(obj, dict):
      raise HttpError(400, "the request body must be a JSON object")
    return obj


class AppServer(ThreadingHTTPServer):
  daemon_threads = True

  def __init__(self, address: tuple[str, int], app: App):
    self.app = app
    super().__init__(address, Handler)

  @property
  def url(self) -> str:
    host, port = self.server_address[:2]
    return f"http://{'localhost' if host in ('127.0.0.1', '::1') else host}:{port}/"

  def server_close(self) -> None:
    super().server_close()
    self.app.close()


def make_server(model: api.VOSModel, *, host: str = "127.0.0.1", port: int = 8080,
                roots: Sequence[str] = (), max_upload_bytes: int = 512 << 20) -> AppServer:
  """A server for `model` (port 0: any free port; `server.url` says which)."""
  return AppServer((host, port), App(model, roots, max_upload_bytes))
