"""Workdirs on cloud storage: eval.py's outputs, records, CSVs, zip, overlays and metrics.jsonl
through `gs://` paths, served by an in-memory fsspec filesystem (no network): epath's own gs://
code path (its fsspec backend) with a fake bucket behind it."""

import json
import zipfile

import pytest

from rde_jax import evaluation, segment
from rde_jax.fileio import atomic, label_png, storage

import eval_fakes as F
from test_eval import load_config

fsspec = pytest.importorskip("fsspec")


@pytest.fixture
def bucket():
  """`gs://` served from memory for this test (epath's fsspec backend, a fresh store)."""
  from etils.epath import backend
  from fsspec.implementations.memory import MemoryFileSystem

  class FakeGCS(MemoryFileSystem):
    protocol = ("gs", "gcs")
    store: dict = {}
    pseudo_dirs = [""]

    @classmethod
    def _strip_protocol(cls, path):
      path = str(path)
      for prefix in ("gs://", "gcs://"):
        if path.startswith(prefix):
          path = path[len(prefix):]
      return path.rstrip("/")

  previous = {p: fsspec.registry.get(p) for p in ("gs", "gcs")}
  for p in ("gs", "gcs"):
    fsspec.register_implementation(p, FakeGCS, clobber=True)
  backend.fsspec_backend._get_filesystem.cache_clear()
  FakeGCS.clear_instance_cache()
  yield FakeGCS.store
  from fsspec.registry import _registry  # the writable mapping behind fsspec.registry
  for p, cls in previous.items():
    if cls is None:
      _registry.pop(p, None)
    else:
      _registry[p] = cls
  backend.fsspec_backend._get_filesystem.cache_clear()


def test_paths_and_atomic_writes(bucket, tmp_path):
  assert storage.is_remote("gs://b/x") and not storage.is_remote(tmp_path)
  assert storage.canonical("gs://b/run") == "gs://b/run"
  assert storage.canonical("~/x").startswith("/")
  atomic.write_json("gs://b/run/videos/a.json", {"z": 1, "a": [1, 2]})
  assert json.loads(bucket["b/run/videos/a.json"].getvalue()) == {"z": 1, "a": [1, 2]}
  assert [p.name for p in storage.files_under("gs://b/run")] == ["a.json"]
  log = storage.AppendLog("gs://b/run/metrics.jsonl", flush_seconds=1e9)
  log.write('{"step": 1}\n')
  log.write('{"step": 2}\n')
  log.close()
  again = storage.AppendLog("gs://b/run/metrics.jsonl")  # a restarted run appends
  again.write('{"step": 3}\n')
  again.close()
  assert bucket["b/run/metrics.jsonl"].getvalue().decode().splitlines() == [
      '{"step": 1}', '{"step": 2}', '{"step": 3}']


def test_eval_workdir_in_a_bucket_matches_local(bucket, tmp_path):
  root = tmp_path / "davis"
  F.write_davis(root, ("alpha", "bravo"), num_frames=5)
  cfg = load_config("davis2017_val", dataset__root=str(root), zip=True, vis=True,
                    compilation_cache="workdir")
  local = evaluation.run(cfg, tmp_path / "wd")
  remote = evaluation.run(cfg, "gs://bucket/wd")
  assert remote["scores"] == local["scores"] and remote["computed_this_run"] == ["alpha", "bravo"]
  results = tmp_path / "wd" / "results"
  for p in sorted(results.rglob("*")):
    if p.is_file():  # PNGs and both CSVs, byte for byte
      assert bucket["bucket/wd/results/" + p.relative_to(results).as_posix()].getvalue() == \
          p.read_bytes(), p
  assert not [k for k in bucket if "/." in k or k.endswith(".tmp")]  # no temporary objects
  assert {f"bucket/wd/vis/{n}.gif" for n in ("alpha", "bravo")} <= set(bucket) or \
      {f"bucket/wd/vis/{n}.mp4" for n in ("alpha", "bravo")} <= set(bucket)
  with zipfile.ZipFile(bucket["bucket/wd/submission.zip"]) as z, \
      zipfile.ZipFile(tmp_path / "wd" / "submission.zip") as zl:
    assert sorted(z.namelist()) == sorted(zl.namelist())
    assert all(z.read(n) == zl.read(n) for n in zl.namelist())
  summary = json.loads(bucket["bucket/wd/summary.json"].getvalue())
  assert summary["processes"] == 1 and summary["hosts"][0]["frames"] == 10
  # Resume from the bucket: nothing redone; a video without its record is redone alone.
  assert evaluation.run(cfg, "gs://bucket/wd")["computed_this_run"] == []
  del bucket["bucket/wd/videos/bravo.json"]
  assert evaluation.run(cfg, "gs://bucket/wd")["computed_this_run"] == ["bravo"]


def test_segment_into_a_bucket_matches_local(bucket, tmp_path):
  frames, labels = F.video(7, 6)
  for t, f in enumerate(frames):
    F.save_jpeg(tmp_path / "frames" / f"{t:03d}.jpg", f)
  label_png.write_label_png(tmp_path / "first.png", labels[0])
  model = F.tiny_model()
  run = lambda out: segment.segment_to_folder(model, tmp_path / "frames", tmp_path / "first.png",
                                              out, top_k=20)
  run(tmp_path / "local")
  atomic.write_bytes("gs://bucket/seg/masks/stale.png", b"an earlier run's")
  summary = run("gs://bucket/seg")
  assert summary["out"] == "gs://bucket/seg"
  local = {p.relative_to(tmp_path / "local").as_posix(): p.read_bytes()
           for p in (tmp_path / "local").rglob("*") if p.is_file() and p.name != "summary.json"}
  remote = {k[len("bucket/seg/"):]: v.getvalue() for k, v in bucket.items()
            if k.startswith("bucket/seg/") and not k.endswith("summary.json")}
  assert remote == local and len(local) >= 6  # every mask and the overlay; the stale mask gone
  assert json.loads(bucket["bucket/seg/summary.json"].getvalue())["out"] == "gs://bucket/seg"
