"""Streaming propagation: flat memory with video length, one compilation per shape, shape
buckets, on-device resize/argmax, PyTorch-compatible resampling, per-object banks."""

import resource

import jax
import numpy as np
import pytest

from rde_jax import api, inference
from rde_jax.inference import frame_schedule, resize
from rde_jax.model import memory_read

import eval_fakes as F


@pytest.fixture(scope="module")
def engine():
  """An engine of this module's own: the compilations counted here are its tests' only (a shared
  one also holds those of other tests, e.g. the eval runs' at their config's precision)."""
  shared = F.tiny_model()
  return api.VOSModel(shared.arch, shared.variables).engine(inference.InferenceSettings(top_k=20))


def _cycled(frames, n):
  """A generator of n frames (no array of the whole video is ever built)."""
  for t in range(n):
    yield frames[t % len(frames)]


def test_memory_and_compilations_do_not_grow_with_video_length(engine):
  frames, labels = F.video(0, 30)
  shapes = []
  orig = engine.call

  def spy(name, *args, **kw):
    out = orig(name, *args, **kw)
    if name in ("interact", "run_chunk"):  # the carried state after every chunk
      shapes.append(jax.tree_util.tree_map(lambda x: (x.shape, x.dtype), out[0]))
    return out

  engine.call = spy
  try:
    for _ in inference.propagate(engine, _cycled(frames, 30), labels[0], output="labels"):
      pass
    compiles = dict(engine.compiles)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    n = 0
    for t, lab in inference.propagate(engine, _cycled(frames, 300), labels[0], output="labels"):
      assert lab.shape == F.SIZE and lab.dtype == np.uint8
      n += 1
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
  finally:
    del engine.call
  assert n == 300
  assert dict(engine.compiles) == compiles  # 10x longer video: nothing new compiled
  chunk_shape = ((8,) + F.SIZE + (3,), np.dtype(np.float32))
  # (B,S,h,w,Ck) keys and (K,S,h,w,Cv) values: the compiled step depends on the object count
  # (and on shared vs per-object banks, which other tests compile on the same engine).
  keys, values = shapes[0].keys, shapes[0].values
  assert sum(k[0] == "run_chunk" and chunk_shape in k[-1] and values in k[-1] and keys in k[-1]
             for k in engine._executables) == 1
  assert len(set(map(str, shapes))) == 1 and len(shapes) == 1 + 4 + 1 + 38  # state never grows
  assert grown < 30 * 1024, f"peak RSS grew by {grown} KiB on a 10x longer video"


def test_labels_output_is_the_argmax_of_the_probabilities(engine):
  frames, labels = F.video(1, 9)
  probs = np.stack([p for _, p in inference.propagate(engine, frames, labels[0])])
  labs = np.stack([x for _, x in inference.propagate(engine, list(frames), labels[0],
                                                     output="labels")])
  np.testing.assert_array_equal(labs, probs.argmax(1))


@pytest.mark.slow
def test_shape_bucket_padding(engine):
  assert inference.pad_amounts(57, target=80) == (3, 20)  # official 'before', the rest after
  assert inference.pad_amounts(64, target=64) == (0, 0)
  with pytest.raises(ValueError, match="multiple of 16"):
    inference.pad_amounts(57, target=70)
  with pytest.raises(ValueError, match=">= 64"):
    inference.pad_amounts(57, target=48)
  frames, labels = F.video(2, 5)
  official = np.stack([p for _, p in inference.propagate(engine, frames, labels[0])])
  bucket = np.stack([p for _, p in inference.propagate(engine, frames, labels[0],
                                                       padded_size=(80, 112))])
  assert bucket.shape == official.shape  # outputs are cropped back to the frame size
  np.testing.assert_array_equal(bucket[0], official[0])  # the given first frame
  same = np.stack([p for _, p in inference.propagate(engine, frames, labels[0],
                                                     padded_size=F.SIZE)])
  np.testing.assert_array_equal(same, official)  # a bucket of the official size changes nothing
  assert np.all(np.isfinite(bucket)) and not np.allclose(bucket, official)  # larger: numerics move


@pytest.mark.slow
def test_work_size_resizes_in_and_out(engine):
  frames, labels = F.video(3, 5)
  out = np.stack([x for _, x in inference.propagate(engine, frames, labels[0], output="labels",
                                                    work_size=(32, 48))])
  assert out.shape == (5,) + F.SIZE
  assert np.mean(out[0] == labels[0]) > 0.97  # frame 0 = the given mask, via nearest + bilinear


def test_resize_matrices_match_pytorch():
  # F.interpolate(x, mode=..., align_corners=False) of x = [0,1,4,9,16,25]/7 (torch 2.13).
  x = (np.arange(6, dtype=np.float32) ** 2 / 7.0)
  expected = {
      ("bicubic", 4): [0.0172991082, 0.4040178955, 1.5424107313, 3.3152902126],
      ("bicubic", 9): [-0.0124007976, 0.03125, 0.204365015, 0.4503968656, 0.875, 1.4689151049,
                       2.0429897308, 3.0223214626, 3.6830353737],
      ("bilinear", 4): [0.0357142873, 0.4642857611, 1.5357142687, 3.25],
      ("bilinear", 9): [0.0, 0.0714285746, 0.2142857611, 0.5, 0.9285714626, 1.4523810148,
                        2.1190478802, 2.9285714626, 3.5714285374],
  }
  for (mode, n), want in expected.items():
    m = getattr(resize, f"{mode}_matrix")(6, n)
    np.testing.assert_allclose(m @ x, want, atol=2e-6)
    np.testing.assert_allclose(m.sum(1), 1.0, atol=1e-6)
  assert resize.short_side_size(720, 1280, 480) == (480, 853)
  assert resize.short_side_size(1280, 720, 480) == (853, 480)


@pytest.mark.slow
def test_per_object_banks_equal_one_memory_when_all_objects_start_together(engine):
  mb = engine
  frames, labels = F.video(0, 11)
  ref = np.stack([p for _, p in inference.propagate(engine, frames, labels[0])])
  got = dict(inference.propagate_banks(mb, frames, {0: labels[0]}, 2, required=set(range(11)),
                                       output="probs"))
  np.testing.assert_allclose(np.stack([got[t] for t in range(11)]), ref, atol=1e-5)
  # An object annotated later: its frame is the annotation, later frames are propagated.
  first = np.where(labels[0] == 2, 0, labels[0]).astype(np.uint8)
  late = np.where(labels[4] == 2, 2, 0).astype(np.uint8)
  out = dict(inference.propagate_banks(mb, frames, {0: first, 4: late}, 2,
                                       required={0, 2, 4, 6, 10}))
  assert sorted(out) == [0, 2, 4, 6, 10]
  assert not (out[0] == 2).any() and not (out[2] == 2).any()
  np.testing.assert_array_equal(out[4] == 2, late == 2)


def test_youtube_schedule_matches_the_official_rules():
  segs = inference.schedule(12, [0, 5], required={0, 2, 5, 7, 9, 11}, mem_every=4)
  assert segs[0] == frame_schedule.Segment(0, 5, ((2, False), (4, True), (5, False)))
  # After the annotation at 5 the next memory frame is 9; 11 is the last frame (never added).
  assert segs[1] == frame_schedule.Segment(5, 11, ((7, False), (9, True), (11, False)))


def _torch_nearest_by_derivation(size_in: int, size_out: int) -> list[int]:
  """PyTorch's nearest source index derived independently: scale = in/out rounded to float32,
  i * scale rounded to float32 (exact rationals, then round-to-nearest-even), floor, clamp."""
  import fractions
  import struct

  def f32(x: fractions.Fraction) -> fractions.Fraction:
    return fractions.Fraction(struct.unpack("f", struct.pack("f", float(x)))[0])

  scale = f32(fractions.Fraction(size_in, size_out))
  return [min(int(f32(i * scale) // 1), size_in - 1) for i in range(size_out)]


@pytest.mark.parametrize("size_in,size_out", [(720, 480), (360, 480), (1280, 853), (7, 3),
                                              (3, 7), (481, 480), (5, 10), (853, 1280)])
def test_nearest_indices_follow_pytorch_not_pil(size_in, size_out):
  got = resize.nearest_indices(size_in, size_out)
  assert got.tolist() == _torch_nearest_by_derivation(size_in, size_out)
  if (size_in, size_out) == (720, 480):
    # PIL samples pixel centres (floor((i + 0.5) * scale)): every odd row differs.
    pil = np.floor((np.arange(480) + 0.5) * 1.5).astype(int)
    assert np.mean(got != pil) == pytest.approx(0.5)


def test_nearest_labels_match_torch_interpolate_when_available():
  torch = pytest.importorskip("torch")
  labels = np.random.default_rng(0).integers(0, 5, (37, 53), dtype=np.uint8)
  for size in ((24, 35), (50, 80), (37, 106)):
    want = torch.nn.functional.interpolate(torch.from_numpy(labels)[None, None].float(),
                                           size=size, mode="nearest")[0, 0].numpy()
    np.testing.assert_array_equal(resize.nearest_labels(labels, size), want.astype(np.uint8))


@pytest.mark.slow
def test_youtube_empty_annotation_is_an_interaction(engine):
  """An empty annotation file re-aggregates the propagated frame and starts a new segment
  (official `gt_obj[f]` holds an empty label list; eval_youtube.py interacts there)."""
  mb = engine
  frames, labels = F.video(0, 8)
  every = set(range(8))
  plain = dict(inference.propagate_banks(mb, frames, {0: labels[0]}, 2, required=every,
                                         output="probs"))
  empty = np.zeros_like(labels[0])
  got = dict(inference.propagate_banks(mb, frames, {0: labels[0], 5: empty}, 2,
                                       required=every, output="probs"))
  for t in range(5):
    np.testing.assert_allclose(got[t], plain[t], atol=1e-6)
  # Frame 5 was propagated as before (frame 3 the only memory frame), then re-aggregated.
  _, again = memory_read.soft_aggregate(plain[5][1:], axis=0)
  np.testing.assert_allclose(got[5], np.asarray(again), atol=1e-5)
  # Frame 5 became a memory frame (and reset the schedule): frame 6 reads another memory.
  assert np.abs(got[6] - plain[6]).max() > 1e-4


@pytest.mark.slow
def test_youtube_new_object_judged_at_the_file_size(engine):
  """A one-pixel object vanishes at the working size, yet it is new at that frame (official:
  np.unique of the full-size annotation): its bank opens and it gets probability later."""
  mb = engine
  frames, labels = F.video(0, 6)
  first = np.where(labels[0] == 2, 0, labels[0]).astype(np.uint8)
  dot = np.zeros_like(first)
  dot[1, 1] = 2  # odd row and column: the 2x downscale samples even ones only
  out = dict(inference.propagate_banks(mb, frames, {0: first, 2: dot}, 2, required=set(range(6)),
                                       work_size=(F.SIZE[0] // 2, F.SIZE[1] // 2),
                                       output="probs"))
  assert np.all(out[1][2] == 0.0)  # not annotated yet: masked out exactly
  assert np.all(out[4][2] > 0.0)  # active from frame 2 on
