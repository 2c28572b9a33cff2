"""rde_jax.reproduce.download against a local HTTP server: resume with Range, cut transfers,
servers without ranges, size checks, the Drive folder listing, offline errors."""

import hashlib
import socket

import numpy as np
import pytest

from rde_jax.reproduce import download

import http_fixture


PAYLOAD = np.random.default_rng(0).integers(0, 256, 3 * download.BLOCK + 12345,
                                            dtype=np.uint8).tobytes()


def test_cut_transfer_resumes_with_a_range_request(tmp_path):
  with http_fixture.serve({"model.pth": PAYLOAD}) as (server, base):
    server.cut["model.pth"] = 1_500_000
    with pytest.raises(download.DownloadError, match=r"got 1,500,000 of 3,158,073 bytes; rerun"):
      download.fetch(f"{base}/model.pth", tmp_path / "model.pth")
    assert not (tmp_path / "model.pth").exists()  # only the .part file
    assert (tmp_path / ".model.pth.part").stat().st_size == 1_500_000
    info = download.fetch(f"{base}/model.pth", tmp_path / "model.pth", size=len(PAYLOAD))
  assert server.ranges == [None, "bytes=1500000-"]
  assert info["resumed_at"] == 1_500_000 and info["bytes"] == len(PAYLOAD)
  assert (tmp_path / "model.pth").read_bytes() == PAYLOAD
  assert not (tmp_path / ".model.pth.part").exists()
  assert download.sha256(tmp_path / "model.pth") == hashlib.sha256(PAYLOAD).hexdigest()


def test_a_part_file_killed_before_its_rename_is_taken_as_is(tmp_path):
  (tmp_path / ".model.pth.part").write_bytes(PAYLOAD)
  with http_fixture.serve({"model.pth": PAYLOAD}) as (server, base):
    info = download.fetch(f"{base}/model.pth", tmp_path / "model.pth")
    assert info["bytes"] == len(PAYLOAD) and (tmp_path / "model.pth").read_bytes() == PAYLOAD
    (tmp_path / ".x.pth.part").write_bytes(PAYLOAD + b"extra")
    with pytest.raises(download.DownloadError, match="does not match"):
      download.fetch(f"{base}/model.pth", tmp_path / "x.pth")
  assert server.ranges == [f"bytes={len(PAYLOAD)}-", f"bytes={len(PAYLOAD) + 5}-"]


def test_a_server_without_ranges_sends_the_whole_file_again(tmp_path):
  (tmp_path / ".model.pth.part").write_bytes(PAYLOAD[:1000])
  with http_fixture.serve({"model.pth": PAYLOAD}, honour_range=False) as (server, base):
    info = download.fetch(f"{base}/model.pth", tmp_path / "model.pth")
  assert server.ranges == ["bytes=1000-"] and info["resumed_at"] == 0
  assert (tmp_path / "model.pth").read_bytes() == PAYLOAD


def test_size_checks_and_missing_files_are_one_line_errors(tmp_path):
  with http_fixture.serve({"model.pth": PAYLOAD}) as (_, base):
    with pytest.raises(download.DownloadError, match="offers 3,158,073 bytes, expected 10"):
      download.fetch(f"{base}/model.pth", tmp_path / "model.pth", size=10)
    with pytest.raises(download.DownloadError, match="HTTP 404"):
      download.fetch(f"{base}/other.pth", tmp_path / "other.pth")
  with socket.socket() as s:  # a port nobody listens on: "offline"
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  with pytest.raises(download.DownloadError) as e:
    download.fetch(f"http://127.0.0.1:{port}/model.pth", tmp_path / "model.pth")
  assert len(e.value.lines()) == 1 and f"cannot reach 127.0.0.1:{port}" in str(e.value)
  assert "offline?" in str(e.value) and download.OFFICIAL_FOLDER in str(e.value)


def test_official_folder_listing_and_one_line_per_file(tmp_path, monkeypatch):
  files = {"model_s012_final.pth": PAYLOAD[:5000], "model_s03_final.pth": PAYLOAD[5000:9000]}
  with http_fixture.serve(files) as (server, base):
    monkeypatch.setattr(download, "DRIVE_LISTING", base + "/embeddedfolderview?id={folder}")
    monkeypatch.setattr(download, "DRIVE_FILE", base + "/download?id={id}&confirm=t")
    assert download.drive_file_ids() == {n: i for i, n in server.ids.items()}
    (tmp_path / "model_s03_final.pth").write_bytes(b"present: not fetched again")
    lines = []
    got = download.fetch_checkpoints(list(files), tmp_path, say=lines.append)
    assert list(got) == ["model_s012_final.pth"] and len(lines) == 1
    assert lines[0].startswith("downloaded model_s012_final.pth: 0.0 MB in ")
    assert (tmp_path / "model_s012_final.pth").read_bytes() == files["model_s012_final.pth"]
    with pytest.raises(download.DownloadError, match="no model_x.pth in the folder listing"):
      download.fetch_checkpoints(["model_x.pth"], tmp_path)
