"""Exported artifacts (rde_jax/export): StableHLO and ONNX runtimes reproduce `segment_video`,
the runtime imports no JAX, mismatched inputs and broken artifacts are refused in one line."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import eval_fakes as F
from rde_jax import cli, inference
from rde_jax.export import build, manifest, runtime
from rde_jax.export import __main__ as export_cli
from rde_jax.export.manifest import ArtifactError
from rde_jax.inference.settings import InferenceSettings
from rde_jax.model import architectures
from rde_jax.model.architectures import Arch
from rde_jax.model.network import init_variables

REPO = Path(__file__).resolve().parents[1]
SIZE = (30, 44)  # not multiples of 16: the official padding runs inside the functions
K = 3
TOP_K = 20
BACKENDS = ["onnxruntime", "stablehlo"]
HAVE_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime", "jax2onnx"))
has_onnx = pytest.mark.skipif(not HAVE_ONNX, reason="the onnx extra / jax2onnx not installed")


def video(size=SIZE, k=K, frames=8, seed=0):
  """Moving rectangles over noise: (T,H,W,3) uint8 frames, (H,W) first labels 0..k."""
  rng = np.random.default_rng(seed)
  h, w = size
  x = rng.integers(0, 60, (frames, h, w, 3)).astype(np.uint8)
  labels = np.zeros(size, np.uint8)
  for t in range(frames):
    for i in range(k):
      top, left = 2 + 8 * i + t % 3, 3 + 11 * i + t
      x[t, top:top + 7, left:left + 9] = (200 - 50 * i, 40 * i, 100 + 30 * i)
      if t == 0:
        labels[top:top + 7, left:left + 9] = i + 1
  return x, labels


@pytest.fixture(scope="module")
def tiny():
  arch = Arch.from_config(architectures.tiny())
  return arch, init_variables(arch, 0)


@pytest.fixture(scope="module")
def artifact(tiny, tmp_path_factory):
  """The tiny model exported in both formats (CPU StableHLO only: the tests run there)."""
  arch, variables = tiny
  out = tmp_path_factory.mktemp("export") / "tiny"
  formats = ("stablehlo", "onnx") if HAVE_ONNX else ("stablehlo",)
  build.export_artifact(variables, arch, InferenceSettings(top_k=TOP_K, mem_every=2), out,
                        size=SIZE, num_objects=K, formats=formats, platforms=("cpu",),
                        source="tests")
  return out


def reference(variables, frames, labels, **kw):
  settings = InferenceSettings(top_k=TOP_K, conv_algorithm="direct", **kw)  # 'auto' exports direct
  return inference.segment_video(variables, frames, labels, settings)


@pytest.mark.parametrize("backend", [pytest.param("onnxruntime", marks=has_onnx), "stablehlo"])
def test_runtimes_reproduce_segment_video(tiny, artifact, backend):
  frames, labels = video()
  expected = reference(tiny[1], frames, labels, mem_every=2)
  got = runtime.segment(artifact, frames, labels, backend=backend)
  assert got.shape == expected.shape == (len(frames), K + 1) + SIZE
  assert np.abs(got - expected).max() < 1e-4
  # another schedule at run time (memory every 3 frames, as the official default)
  got3 = runtime.segment(artifact, iter(frames), labels, backend=backend, mem_every=3)
  assert np.abs(got3 - reference(tiny[1], frames, labels, mem_every=3)).max() < 1e-4
  assert np.abs(got3[4:] - got[4:]).max() > 1e-6  # the schedule matters


def test_manifest_describes_the_functions(artifact):
  m = manifest.read(artifact)
  h, w = SIZE
  state = {s["name"]: s for s in m["state"]}
  assert list(state) == ["keys", "values", "filled", "active"]
  assert state["keys"]["shape"] == [1, 3, 2, 3, 16] and state["values"]["shape"][:2] == [K, 3]
  assert state["filled"]["dtype"] == "int32" and state["active"]["dtype"] == "bool"
  init = m["functions"]["init"]
  assert [s["name"] for s in init["inputs"]] == ["frame", "labels"]
  assert init["outputs"][0] == {"name": "probs", "shape": [K + 1, h, w], "dtype": "float32",
                                "doc": init["outputs"][0]["doc"]}
  assert m["preprocessing"]["padding"]["pads"] == [[1, 1], [2, 2]]
  assert (m["frame_size"], m["num_objects"], m["settings"]["top_k"]) == ([h, w], K, TOP_K)
  assert m["settings"]["conv_algorithm"] == "direct" and m["schedule"]["mem_every"] == 2
  assert set(m["files"]) >= {"stablehlo/step.bin", "stablehlo/weights.npz"}


class _Recorder:
  """Stands in for a backend: records the functions called, returns a fixed state."""

  def __init__(self, k):
    self.calls, self.k = [], k

  def run(self, name, frame, *state):
    self.calls.append(name)
    return (np.zeros((self.k + 1,) + frame.shape[:2], np.float32), 0, 0, 0, 0)

  to_host = staticmethod(np.asarray)


@pytest.mark.parametrize("n,mem_every,include_last", [(8, 3, False), (7, 2, False),
                                                      (5, 3, True), (1, 3, False)])
def test_runtime_follows_the_official_schedule(artifact, n, mem_every, include_last):
  art = runtime.load_artifact(artifact, "stablehlo")
  art.runner = rec = _Recorder(K)
  frames, labels = video(frames=n)
  list(art.probs_iter(frames, labels, mem_every=mem_every, include_last=include_last))
  flags = inference.memory_frame_flags(n, mem_every, include_last=include_last)
  assert rec.calls == ["init"] + ["step_and_memorize" if f else "step" for f in flags[1:]]


def test_other_size_or_object_count_is_refused_in_one_line(artifact):
  frames, labels = video()
  other, other_labels = video(size=(32, 44))
  cases = [(other, labels, "frame 0: uint8 \\(32, 44, 3\\) does not match the artifact's"),
           (frames, other_labels, "first mask: uint8 \\(32, 44\\) is not an integer"),
           (frames, np.minimum(labels, 2), "exported for 3; export one with --objects 2"),
           (list(frames[:2]) + [other[0]], labels, "frame 2:")]
  for f, l, message in cases:
    with pytest.raises(ArtifactError, match=message) as e:
      runtime.segment(artifact, f, l, backend="stablehlo")
    assert len(e.value.lines()) <= 2 and "\n" not in e.value.lines()[0]


def test_corrupt_or_foreign_artifacts_are_refused_in_one_line(artifact, tmp_path):
  def broken(name, change):
    d = tmp_path / name
    shutil.copytree(artifact, d)
    change(d)
    return d

  def flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

  def rewrite(d, **fields):
    m = json.loads((d / "manifest.json").read_text())
    m.update(fields)
    (d / "manifest.json").write_text(json.dumps(m))

  cases = [
      (broken("weights", lambda d: flip(d / "stablehlo" / "weights.npz")), "corrupt"),
      (broken("gone", lambda d: (d / "stablehlo" / "step.bin").unlink()), "missing"),
      (broken("foreign", lambda d: rewrite(d, format="someone.else/3")), "is not"),
      (broken("json", lambda d: (d / "manifest.json").write_text("{oops")), "unreadable"),
      (broken("partial", lambda d: rewrite(d, functions={})), "incomplete"),
      (tmp_path, "no manifest.json"),
      (tmp_path / "absent", "no such artifact"),
  ]
  frames, labels = video(frames=2)
  for d, message in cases:
    with pytest.raises(ArtifactError, match=message) as e:
      runtime.segment(d, frames, labels, backend="stablehlo")
    assert len(e.value.lines()[0].splitlines()) == 1
  # a consistent manifest around a foreign function file: deserialisation fails, one line
  d = broken("swapped", lambda d: (d / "stablehlo" / "step.bin").write_bytes(b"\0" * 64))
  rewrite(d, files=manifest.file_table(d))
  with pytest.raises(ArtifactError, match="cannot load the StableHLO functions"):
    runtime.load_artifact(d, "stablehlo")


_FRESH = """
import sys, numpy as np
from rde_jax.export import runtime
assert not {'jax', 'flax', 'orbax'} & {m.split('.')[0] for m in sys.modules}, 'heavy import'
d, backend = sys.argv[1], sys.argv[2]
frames, labels = np.load(d + '/frames.npy'), np.load(d + '/labels.npy')
probs = runtime.segment(d + '/artifact', frames, labels, backend=backend)
if backend == 'onnxruntime':
  assert 'jax' not in sys.modules, 'the onnxruntime backend imported jax'
ids = runtime.load_artifact(d + '/artifact', backend).segment(frames, labels * 7)
np.save(d + '/probs.npy', probs)
np.save(d + '/ids.npy', ids)
"""


def test_artifact_round_trips_through_a_fresh_process_without_jax(tiny, artifact, tmp_path):
  frames, labels = video()
  shutil.copytree(artifact, tmp_path / "artifact")  # moved: nothing depends on its path
  np.save(tmp_path / "frames.npy", frames)
  np.save(tmp_path / "labels.npy", labels)
  expected = reference(tiny[1], frames, labels, mem_every=2)
  env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
  for backend in (["onnxruntime"] if HAVE_ONNX else []) + ["stablehlo"]:
    proc = subprocess.run([sys.executable, "-c", _FRESH, str(tmp_path), backend], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    probs = np.load(tmp_path / "probs.npy")
    assert np.abs(probs - expected).max() < 1e-4
    ids = np.load(tmp_path / "ids.npy")  # segment(): the mask's own ids (7, 14, 21) back
    assert (ids == np.argmax(probs, axis=1) * 7).all() and (ids[0] == labels * 7).mean() > 0.9


def test_export_cli_writes_and_refuses_in_one_line(tmp_path, capsys):
  out = tmp_path / "a"
  base = ["rde-export", f"--checkpoint={F.tiny_checkpoint()}", f"--out={out}", "--height=20",
          "--width=24", "--objects=2", "--format=stablehlo", "--platforms=cpu"]
  assert cli.call(export_cli.main, export_cli.define_flags, base + ["--top_k=5"]) == 0
  m = manifest.read(out)
  assert (m["settings"]["top_k"], m["frame_size"], m["model"]["arch_name"]) == (5, [20, 24],
                                                                                 "tiny")
  assert m["model"]["source"] == str(F.tiny_checkpoint()) and "onnx" not in m["formats"]
  before = (out / "manifest.json").read_bytes()
  for extra, message in [([], "already holds an exported model"),
                         (["--objects=0", "--overwrite"], "--objects must be an integer >= 1"),
                         (["--format=tflite", "--overwrite"], "--format must be one of"),
                         (["--top_k=0", "--overwrite"], "--top_k must be an integer >= 1")]:
    capsys.readouterr()
    assert cli.call(export_cli.main, export_cli.define_flags, base + extra) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("error: ") and message in err[0], err
  assert (out / "manifest.json").read_bytes() == before  # nothing half-written


@pytest.mark.slow
@has_onnx
def test_official_architecture_at_64x64(tmp_path):
  """The released architecture (random weights): both runtimes match `segment_video`."""
  arch = architectures.OFFICIAL
  variables = init_variables(arch, 1)
  frames, labels = video(size=(64, 64), k=2, frames=5)
  build.export_artifact(variables, arch, InferenceSettings(top_k=TOP_K), tmp_path / "o",
                        size=(64, 64), num_objects=2, platforms=("cpu",))
  expected = reference(variables, frames, labels, mem_every=3)
  for backend in BACKENDS:
    got = runtime.segment(tmp_path / "o", frames, labels, backend=backend)
    assert np.abs(got - expected).max() < 1e-4, backend


def test_segment_cli_runs_an_artifact(tiny, artifact, tmp_path, capsys):
  from PIL import Image
  from rde_jax import segment
  from rde_jax.fileio import label_png
  backend = "onnxruntime" if HAVE_ONNX else "stablehlo"
  frames, labels = video(frames=6)
  for t, f in enumerate(frames):
    (tmp_path / "frames").mkdir(exist_ok=True)
    Image.fromarray(f).save(tmp_path / "frames" / f"{t:05d}.png")  # lossless: same frames
  first = np.where(labels == 3, 9, labels).astype(np.uint8)  # the mask's own ids come back
  label_png.write_label_png(tmp_path / "first.png", first)
  base = ["rde-segment", f"--artifact={artifact}", f"--video={tmp_path / 'frames'}",
          f"--mask={tmp_path / 'first.png'}", f"--backend={backend}", "--nooverlay",
          "--noprogress"]
  out = tmp_path / "out"
  assert cli.call(segment.main, segment.define_flags, base + [f"--out={out}"]) == 0
  masks = np.stack([label_png.read_label_image(out / "masks" / f"{t:05d}.png")
                    for t in range(len(frames))])
  probs = runtime.segment(artifact, frames, labels, backend=backend)
  expected = np.array([0, 1, 2, 9], np.uint8)[np.argmax(probs, axis=1)]
  np.testing.assert_array_equal(masks, expected)
  summary = json.loads((out / "summary.json").read_text())
  assert summary["settings"]["top_k"] == TOP_K and summary["checkpoint"] == str(artifact)
  two = tmp_path / "two.png"
  label_png.write_label_png(two, np.minimum(labels, 2))
  for extra, message in [([f"--out={tmp_path / 'o2'}", "--top_k=40"], "exported with top_k 20"),
                         ([f"--out={tmp_path / 'o3'}", "--max_side=16"], "--max_side"),
                         ([f"--out={tmp_path / 'o4'}", f"--mask={two}"], "--objects 2"),
                         ([f"--out={tmp_path / 'o5'}", f"--checkpoint={artifact}"], "not both")]:
    capsys.readouterr()
    assert cli.call(segment.main, segment.define_flags, base + extra) in (1, 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("error: ") and message in err[0], err
  assert not any((tmp_path / f"o{i}").exists() for i in range(2, 6))


@pytest.mark.parametrize("mode", ["stm", pytest.param("gt", marks=pytest.mark.slow)])
def test_other_memory_modes(tiny, tmp_path, mode):
  """stm (a fixed number of memory slots in the artifact) and gt (memory never changes)."""
  arch, variables = tiny
  frames, labels = video()
  build.export_artifact(variables, arch, InferenceSettings(top_k=TOP_K, memory_mode=mode), tmp_path,
                        size=SIZE, num_objects=K, formats=("stablehlo",), platforms=("cpu",),
                        stm_slots=3)
  expected = reference(variables, frames, labels, mem_every=3, memory_mode=mode)
  art = runtime.load_artifact(tmp_path, "stablehlo")
  assert art.manifest["memory_slots"] == 3  # stm: --stm_slots; the RDE modes: [RDE, last, first]
  got = np.stack([p for _, p in art.probs_iter(frames, labels, mem_every=3)])
  assert np.abs(got - expected).max() < 1e-4
  if mode == "stm":  # memory frames 2, 4, 6 and the first frame: one more than the 3 slots
    with pytest.raises(ArtifactError, match="frame 6: the stm artifact holds 3 memory frames"):
      list(art.probs_iter(frames, labels, mem_every=2))
