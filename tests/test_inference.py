"""Propagation logic on the tiny model: schedule, streaming, padding, constant-size state."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rde_jax import inference
from rde_jax.model import architectures
from rde_jax.model.architectures import Arch
from rde_jax.model.network import init_variables


TOP20 = inference.InferenceSettings(top_k=20)


def _annotate(engine, variables, frame, onehot):
  """The annotated first frame (Hp,Wp,3) with its one-hot (K,Hp,Wp): (state, probs)."""
  k = onehot.shape[0]
  return engine.call("interact", variables, engine.empty_state(k, frame.shape[:2]), frame,
                     jnp.zeros_like(onehot), onehot, jnp.ones((k,), bool))


@pytest.fixture(scope="module")
def tiny():
  return init_variables(Arch.from_config(architectures.tiny()), jax.random.key(0))


def _video(t=7, h=40, w=56, k=2, seed=0):
  rng = np.random.default_rng(seed)
  frames = rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)
  labels = np.zeros((h, w), np.uint8)
  for i in range(1, k + 1):
    labels[4 * i:4 * i + 10, 5 * i:5 * i + 12] = i
  return frames, labels


def test_memory_schedule_matches_official():
  # 11 frames, mem_every 3: updates after frames 3, 6, 9; never the last frame or frame 0.
  flags = inference.memory_frame_flags(11, 3)
  assert np.flatnonzero(flags).tolist() == [3, 6, 9]
  assert np.flatnonzero(inference.memory_frame_flags(10, 3)).tolist() == [3, 6]


def test_padding_is_split_like_the_official_code():
  assert inference.pad_amounts(854) == (5, 5)
  assert inference.pad_amounts(40) == (4, 4)
  assert inference.pad_amounts(57) == (3, 4)
  assert inference.pad_amounts(64) == (0, 0)


def test_segment_video_shapes_and_probabilities(tiny):
  frames, labels = _video()
  probs = inference.segment_video(tiny, frames, labels, TOP20)
  assert probs.shape == (7, 3, 40, 56) and probs.dtype == np.float32
  np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
  # Frame 0 is the aggregated first mask: its argmax is the given labels.
  np.testing.assert_array_equal(probs[0].argmax(0), labels)


@pytest.mark.slow
def test_chunk_size_does_not_change_results(tiny):
  frames, labels = _video(t=9)
  engine = inference.Engine(tiny, settings=TOP20)
  runs = []
  for chunk in (1, 4, 16):
    runs.append(np.stack([p for _, p in inference.propagate(engine, frames, labels,
                                                            TOP20.replace(chunk=chunk))]))
  np.testing.assert_allclose(runs[0], runs[1], atol=1e-6)
  np.testing.assert_allclose(runs[0], runs[2], atol=1e-6)


def test_state_is_constant_size_and_updates_on_memory_frames(tiny):
  frames, labels = _video(t=6, h=48, w=64)
  engine = inference.Engine(tiny, settings=TOP20)
  prep = jnp.asarray(inference.normalize(frames))
  onehot = jnp.asarray(np.stack([labels == 1, labels == 2]).astype(np.float32))
  state, _ = _annotate(engine, tiny, prep[0], onehot)
  shapes = jax.tree_util.tree_map(lambda x: x.shape, state)
  assert int(state.filled[0]) == 0
  state2, probs = engine.run_chunk(tiny, state, prep[1:], jnp.asarray([0, 0, 1, 0, 0], bool))
  assert jax.tree_util.tree_map(lambda x: x.shape, state2) == shapes
  assert int(state2.filled[0]) == 1 and probs.shape == (5, 3, 48, 64)
  first = np.asarray(_annotate(engine, tiny, prep[0], onehot)[0].keys[:, 2])
  np.testing.assert_array_equal(np.asarray(state2.keys[:, 2]), first)  # first frame kept as is
  assert not np.allclose(np.asarray(state2.keys[:, 0]), first)  # the RDE was rewritten by SAM


def test_before_the_first_update_memory_reads_the_first_frame_twice(tiny):
  # Before the first memory frame the 'last' slot must not matter (RDE = first frame).
  frames, labels = _video(t=3, h=48, w=64)
  engine = inference.Engine(tiny, settings=TOP20)
  prep = jnp.asarray(inference.normalize(frames))
  onehot = jnp.asarray(np.stack([labels == 1, labels == 2]).astype(np.float32))
  no = jnp.zeros((2,), bool)
  _, a = engine.run_chunk(tiny, _annotate(engine, tiny, prep[0], onehot)[0], prep[1:], no)
  state, _ = _annotate(engine, tiny, prep[0], onehot)  # run_chunk donated the old state
  noisy = state.replace(keys=state.keys.at[:, 1].add(100.0),
                        values=state.values.at[:, 1].set(7.0))
  _, b = engine.run_chunk(tiny, noisy, prep[1:], no)
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_bad_inputs_are_refused(tiny):
  frames, labels = _video(t=3)
  with pytest.raises(ValueError, match="no object"):
    inference.segment_video(tiny, frames, np.zeros_like(labels))
  with pytest.raises(ValueError, match="does not match the first frame"):
    inference.segment_video(tiny, frames, labels[:-2])
  with pytest.raises(ValueError, match="no frames"):
    inference.segment_video(tiny, frames[:0], labels)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_compute_stays_close_to_float32(tiny, dtype):
  """float16 (the paper's AMP) and bfloat16 convolutions/matmuls, float32 softmax and
  aggregation. Tolerances: the tiny net has ~15 conv layers between frame and logits; float16
  keeps 11 mantissa bits (relative 4.9e-4 per rounding), bfloat16 8 (3.9e-3), so logits drift by
  ~1e-2 (float16) / ~1e-1 (bfloat16) relative and probabilities (sigmoid slope <= 1/4, then
  the aggregation) by a few 1e-3 / 1e-2."""
  frames, labels = _video(t=7)
  ref = inference.segment_video(tiny, frames, labels, TOP20)
  low = inference.segment_video(tiny, frames, labels, TOP20.replace(dtype=dtype))
  assert low.dtype == np.float32 and np.isfinite(low).all()
  tol = {"float16": 0.02, "bfloat16": 0.1}[dtype]
  assert np.abs(low - ref).max() < tol
  top2 = np.sort(ref, axis=1)[:, -2:]
  clear = top2[:, 1] - top2[:, 0] > 2 * tol  # the random tiny net is unsure of many pixels
  assert np.array_equal(low.argmax(1)[clear], ref.argmax(1)[clear])
  if dtype == "float16":  # really computed in float16: not bit-identical to float32
    assert np.abs(low - ref).max() > 1e-7
