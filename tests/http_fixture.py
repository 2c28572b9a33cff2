"""A local HTTP server on 127.0.0.1 for the download tests: Range requests, a cut-off transfer,
a Google-Drive-like folder listing. Nothing leaves the machine."""

from __future__ import annotations

import contextlib
import http.server
import re
import threading
import urllib.parse
from pathlib import Path
from typing import Iterator


class FileServer:
  """Serves `files` {name: bytes} at /<name> and /download?id=<id>, the folder listing at
  /embeddedfolderview?id=<folder>. `cut[name] = n`: the next plain GET of name sends only n
  bytes, then closes. `ranges`: the Range header of every file request (None: none)."""

  def __init__(self, files: dict[str, bytes], honour_range: bool = True):
    self.files, self.honour_range = files, honour_range
    self.ids = {f"id{i:03d}abcdefghijklmnopq": n for i, n in enumerate(sorted(files))}
    self.cut: dict[str, int] = {}
    self.ranges: list[str | None] = []

  def listing(self) -> str:
    entries = "".join(
        f'<div class="flip-entry" id="entry-{fid}" tabindex="0" role="link">'
        f'<div class="flip-entry-info"><a href="https://drive.google.com/file/d/{fid}/view'
        f'?usp=drive_web" target="_blank"><div class="flip-entry-title">{name}</div></a>'
        f'</div></div>' for fid, name in self.ids.items())
    return f'<html><body><div class="flip-entries">{entries}</div></body></html>'

  def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
    server = self

    class Handler(http.server.BaseHTTPRequestHandler):
      def log_message(self, *args):  # quiet
        pass

      def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/embeddedfolderview":
          return self._send(200, server.listing().encode(), "text/html")
        name = server.ids.get(query.get("id", "")) if url.path == "/download" else (
            urllib.parse.unquote(url.path.lstrip("/")))
        if name not in server.files:
          return self._send(404, b"not found", "text/plain")
        data = server.files[name]
        header = self.headers.get("Range")
        server.ranges.append(header)
        m = re.fullmatch(r"bytes=(\d+)-", header or "")
        if m and server.honour_range and int(m.group(1)) >= len(data):
          self.send_response(416)
          self.send_header("Content-Range", f"bytes */{len(data)}")
          self.send_header("Content-Length", "0")
          return self.end_headers()
        if m and server.honour_range:
          start = int(m.group(1))
          self.send_response(206)
          self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
          body = data[start:]
        else:
          self.send_response(200)
          body = data
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        n = server.cut.pop(name, None)
        self.wfile.write(body if n is None or m else body[:n])
        if n is not None and not m:
          self.wfile.flush()
          self.close_connection = True

      def _send(self, code: int, body: bytes, kind: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def serve(files: dict[str, bytes], **kwargs) -> Iterator[tuple[FileServer, str]]:
  """(server state, base URL 'http://127.0.0.1:PORT') while the block runs."""
  state = FileServer(files, **kwargs)
  httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), state.handler())
  thread = threading.Thread(target=httpd.serve_forever, daemon=True)
  thread.start()
  try:
    yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
  finally:
    httpd.shutdown()
    httpd.server_close()


def files_of(folder: Path) -> dict[str, bytes]:
  return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
