"""Workdirs on cloud storage: eval.py's outputs, records, CSVs, zip, overlays and metrics.jsonl
through `gs://` paths, served by an in-memory fsspec filesystem (no network): epath's own gs://
code path (its fsspec backend) with a fake bucket behind it."""

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from rde_jax import evaluation, segment
from rde_jax.data import stage_sources, training_folders, vos_layouts
from rde_jax.errors import DataError
from rde_jax.fileio import atomic, label_png, storage, video_reader
from rde_jax.inference.settings import InferenceSettings

import data_fakes
import eval_fakes as F

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


def _to_bucket(local, uri: str) -> str:
  """Copies the local tree `local` to `uri` (one upload per file); returns `uri`."""
  storage.upload_folder(local, uri)
  return uri


def _tree(folder) -> dict[str, bytes]:
  return {p.relative_to(folder).as_posix(): p.read_bytes()
          for p in sorted(folder.rglob("*")) if p.is_file()}


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
  cfg = F.eval_config("davis2017_val", dataset__root=str(root), zip=True, vis=True,
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
                                              out, InferenceSettings(top_k=20))
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
  # Frames and mask read from the bucket: the same masks.
  frames_uri = _to_bucket(tmp_path / "frames", "gs://data/clip")
  storage.upload(tmp_path / "first.png", "gs://data/first.png")
  segment.segment_to_folder(model, frames_uri, "gs://data/first.png", tmp_path / "from_bucket",
                            InferenceSettings(top_k=20))
  assert _tree(tmp_path / "from_bucket" / "masks") == _tree(tmp_path / "local" / "masks")


def test_video_sources_from_a_bucket(bucket, tmp_path):
  frames, _ = F.video(3, 5)
  for t, f in enumerate(frames):
    F.save_jpeg(tmp_path / "frames" / f"frame{t + 8}.jpg", f)  # natural order: 8, 9, 10, ...
  imgs = [Image.fromarray(f) for f in frames]
  imgs[0].save(tmp_path / "clip.gif", save_all=True, append_images=imgs[1:], duration=100)
  _to_bucket(tmp_path / "frames", "gs://data/frames")
  storage.upload(tmp_path / "clip.gif", "gs://data/clip.gif")
  for local, uri in ((tmp_path / "frames", "gs://data/frames"),
                     (tmp_path / "clip.gif", "gs://data/clip.gif")):
    a, b = video_reader.open_video(local), video_reader.open_video(uri)
    assert (a.size, a.num_frames, a.names) == (b.size, b.num_frames, b.names)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
  with pytest.raises(DataError, match="gs://data/none.mp4: no such file"):
    video_reader.open_video("gs://data/none.mp4")
  storage.download("gs://data/clip.gif", tmp_path / "copy.gif")  # what a video file goes through
  assert (tmp_path / "copy.gif").read_bytes() == (tmp_path / "clip.gif").read_bytes()


def test_eval_dataset_and_workdir_in_a_bucket_match_local(bucket, tmp_path):
  root = tmp_path / "davis"
  F.write_davis(root, ("alpha", "bravo"), num_frames=5)
  remote_root = _to_bucket(root, "gs://data/DAVIS")
  local = evaluation.run(F.eval_config("davis2017_val", dataset__root=str(root), zip=True),
                         tmp_path / "wd")
  cfg = F.eval_config("davis2017_val", dataset__root=remote_root, zip=True)
  remote = evaluation.run(cfg, "gs://bucket/wd")
  assert remote["scores"] == local["scores"] and remote["computed_this_run"] == ["alpha", "bravo"]
  local_files = _tree(tmp_path / "wd" / "results")
  remote_files = {k[len("bucket/wd/results/"):]: v.getvalue() for k, v in bucket.items()
                  if k.startswith("bucket/wd/results/")}
  assert remote_files == local_files and len(local_files) >= 12  # PNGs and both CSVs
  with zipfile.ZipFile(bucket["bucket/wd/submission.zip"]) as z, \
      zipfile.ZipFile(tmp_path / "wd" / "submission.zip") as zl:
    assert {n: z.read(n) for n in z.namelist()} == {n: zl.read(n) for n in zl.namelist()}
  # The generic layout (JPEGImages/<seq>, Annotations/<seq>, no ImageSets) from the bucket.
  gen = tmp_path / "generic"
  F.write_generic(gen, lengths=(4, 5))
  runs = [evaluation.run(F.eval_config("generic", dataset__root=r), tmp_path / w)
          for r, w in ((str(gen), "g_local"), (_to_bucket(gen, "gs://data/generic"), "g_remote"))]
  assert runs[0]["scores"] == runs[1]["scores"] and runs[1]["num_videos"] == 2
  assert _tree(tmp_path / "g_local" / "results") == _tree(tmp_path / "g_remote" / "results")


def test_youtube_dataset_in_a_bucket_matches_local(bucket, tmp_path):
  """meta.json, valid_all_frames and objects appearing later, read from the bucket."""
  yt = tmp_path / "yt"
  F.write_youtube(yt)
  for r, w in ((str(yt), "y_local"), (_to_bucket(yt, "gs://data/yt"), "y_remote")):
    evaluation.run(F.eval_config("youtube2019_valid", dataset__root=r), tmp_path / w)
  assert _tree(tmp_path / "y_local" / "results") == _tree(tmp_path / "y_remote" / "results")
  assert len(_tree(tmp_path / "y_local" / "results")) == 16


def test_missing_dataset_root_in_a_bucket_is_named(bucket):
  from rde_jax.errors import UserError
  from rde_jax.evaluation import config as eval_config
  cfg = F.eval_config("davis2017_val", dataset__root="gs://data/nowhere")
  with pytest.raises(UserError, match="config.dataset.root: gs://data/nowhere: no such file"):
    eval_config.validate(cfg)
  with pytest.raises(DataError, match="gs://data/nowhere/ImageSets/2017/val.txt: split list"):
    vos_layouts.davis_videos("gs://data/nowhere", split="val")


def _items(source) -> list:
  """Every item of a pipeline source, arrays decoded."""
  out = []
  for i in range(len(source)):
    item = source[i]
    out.append({k: np.asarray(v) if not isinstance(v, str) else v for k, v in item.items()})
  return out


def test_stage_sources_from_a_bucket_match_local(bucket, tmp_path):
  import ml_collections
  local = {"davis": data_fakes.make_davis(tmp_path / "DAVIS"),
           "youtube": data_fakes.make_youtube(tmp_path / "YouTube"),
           "bl30k": data_fakes.make_bl30k(tmp_path / "BL30K")}
  make = lambda roots: ml_collections.ConfigDict(dict(  # noqa: E731
      official_subsets=False, tfds_dir="", static_root="",
      **{f"{n}_root": str(r) for n, r in roots.items()}))
  remote = {n: _to_bucket(r, f"gs://data/{n}") for n, r in local.items()}
  for name in local:
    a = stage_sources.video_source(name, make(local))
    b = stage_sources.video_source(name, make(remote))
    assert a.names() == b.names() and len(a) >= 2, name
    got, want = _items(b), _items(a)
    for x, y in zip(got, want):
      assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x), name
  valid = [vos_layouts.youtube_vos_videos(r, split="valid") for r in (local["youtube"],
                                                                  remote["youtube"])]
  assert [(v.name, [p.name for p in v.frames], v.annotated) for v in valid[0]] == \
      [(v.name, [p.name for p in v.frames], v.annotated) for v in valid[1]]
  static = data_fakes.make_static(tmp_path / "static" / "fss", nested=True)
  pairs = vos_layouts.static_pairs(_to_bucket(static, "gs://data/static/fss"), nested=True)
  assert [n for n, _, _ in pairs] == [n for n, _, _ in vos_layouts.static_pairs(static, nested=True)]
  a = training_folders.StaticFolder(vos_layouts.static_pairs(static, nested=True))
  b = training_folders.StaticFolder(pairs)
  assert all(np.array_equal(x[k], y[k]) for x, y in zip(_items(a), _items(b)) for k in x)


def test_orbax_is_handed_gs_paths_unchanged(bucket, monkeypatch):
  """Orbax writes arrays through TensorStore, whose gs:// driver needs the real service, so here
  only the paths handed to orbax are checked: the URIs as given, not made into local paths."""
  import os
  import jax
  import ml_collections
  import orbax.checkpoint as ocp
  from rde_jax import checkpoint, validate
  from rde_jax.model import architectures
  from rde_jax.model.architectures import Arch
  from rde_jax.train import loop
  seen = []

  class Recorder:  # ocp.StandardCheckpointer without TensorStore
    def __init__(self, *args, **kwargs):
      pass

    def __enter__(self):
      return self

    def __exit__(self, *exc):
      return False

    def save(self, directory, tree, force=False):
      seen.append(("save", os.fspath(directory)))

    def wait_until_finished(self):
      pass

    def restore(self, directory, target):
      seen.append(("restore", os.fspath(directory)))
      return target

  monkeypatch.setattr(ocp, "StandardCheckpointer", Recorder)
  monkeypatch.setattr(ocp, "CheckpointManager",
                      lambda directory, options: seen.append(("manager", os.fspath(directory))))
  arch = Arch.from_config(architectures.tiny())
  zeros = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), checkpoint.abstract_variables(arch))
  checkpoint.save_model("gs://bucket/models/m", zeros, arch, source="test")
  assert json.loads(bucket["bucket/models/m/model.json"].getvalue())["source"] == "test"
  assert checkpoint.load_model("gs://bucket/models/m")[0] == arch
  workdir = storage.as_path(validate.workdir("--workdir", "gs://bucket/run"))  # as train.py
  loop._manager(workdir, ml_collections.ConfigDict({"keep_checkpoints": 2}))
  assert seen == [("save", "gs://bucket/models/m/variables"),
                  ("restore", "gs://bucket/models/m/variables"),
                  ("manager", "gs://bucket/run/checkpoints")]


def test_an_upload_deletes_only_the_earlier_upload_s_own_files(bucket, tmp_path):
  from rde_jax.fileio import manifest
  first, second = tmp_path / "first", tmp_path / "second"
  for folder, pngs in ((first, ("0.png", "1.png")), (second, ("0.png",))):
    (folder / "masks").mkdir(parents=True)
    for name in pngs:
      (folder / "masks" / name).write_bytes(b"png")
    manifest.write(folder)
  storage.upload_folder(first, "gs://bucket/out", replace=("masks",))
  storage.write_remote("gs://bucket/out/masks/mine.txt", b"the user's")
  storage.upload_folder(second, "gs://bucket/out", replace=("masks",))
  left = {p.name for p in storage.files_under("gs://bucket/out/masks")}
  assert left == {"0.png", "mine.txt"}  # the stale 1.png goes, the user's file stays


def test_a_workdir_lock_on_an_object_store(bucket):
  from rde_jax.train import workdir_lock
  first = workdir_lock.WorkdirLock("gs://bucket/run")
  first.acquire()
  with pytest.raises(workdir_lock.WorkdirLockedError, match="in use by another training run"):
    workdir_lock.WorkdirLock("gs://bucket/run").acquire()
  first.release()
  assert not storage.as_path("gs://bucket/run/train.lock").exists()
  again = workdir_lock.WorkdirLock("gs://bucket/run")
  again.acquire()  # free again
  again.release()
