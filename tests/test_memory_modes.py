"""The eight official memory modes and --include_last against a plain re-derivation.

The reference keeps the stored frames in Python lists and reads the memory exactly as the
official `MemoryBank` lists it (duplicates repeated as separate top-k entries, the growing STM
bank concatenated), with the network's own stages; the engine must give the same
probabilities from its constant-size state.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eval_fakes as F
from rde_jax import api, inference
from rde_jax.errors import UserError
from rde_jax.model import architectures, memory_read
from rde_jax.model.network import init_variables

TOP_K = 20


def _listing(mode, first, last, rde, stored):
  """What the official bank reads, in order, for one query frame."""
  if mode == "stm":
    return [first] + stored
  if last is None:  # before the first memory frame
    return {"two-frames-compress": [first, first], "gt-compress": [first, first]}.get(
        mode, [first])
  return {"gt": [first], "last": [last], "two-frames": [last, first, first],
          "compress": [rde], "gt-compress": [rde, first], "last-compress": [rde, last],
          "two-frames-compress": [rde, last, first, first]}[mode]


def _reference(engine, variables, frames, onehot, mode, flags):
  """Probabilities (T,K+1,Hp,Wp) of the official per-frame loop with explicit memory lists."""
  key = jax.jit(engine.encode_key)
  value = jax.jit(engine.value)
  decode = jax.jit(engine.decode)
  compress = jax.jit(engine.compress)
  f0 = key(variables, frames[0])
  _, p0 = memory_read.soft_aggregate(onehot)
  first = (f0["k16"], value(variables, frames[0], f0["f16"], p0[1:]))
  rde, last, stored, out = first, None, [], [p0]
  _, h, w, ck = f0["k16"].shape
  for t in range(1, len(frames)):
    feats = key(variables, frames[t])
    mem = _listing(mode, first, last, rde, stored)
    mk = jnp.concatenate([k for k, _ in mem], 0).reshape(-1, ck)
    mv = jnp.concatenate([v.reshape(v.shape[0], h * w, -1) for _, v in mem], 1)
    aff = memory_read.l2_affinity(mk, feats["k16"].reshape(-1, ck))
    wts, idx = memory_read.topk_weights(aff, TOP_K)
    readout = memory_read.topk_readout(wts, idx, mv).reshape(mv.shape[0], h, w, -1)
    _, prob = memory_read.soft_aggregate(decode(variables, readout, feats))
    out.append(prob)
    if flags[t]:
      v = value(variables, frames[t], feats["f16"], prob[1:])
      new = (feats["k16"], v)
      if mode.endswith("compress"):
        nk, nv = compress(variables, jnp.stack([rde[0], new[0]], 1), jnp.stack([rde[1], new[1]], 1))
        rde = (nk[:, 0], nv[:, 0])
      last = new
      stored.append(new)
  return np.stack([np.asarray(p) for p in out])


@pytest.fixture(scope="module")
def video():
  frames, labels = F.video(3, 8)
  frames, labels = frames[:, :48, :64], labels[0][:48, :64]
  x = jnp.asarray(inference.normalize(frames))
  onehot = jnp.asarray(np.stack([labels == i for i in (1, 2)]).astype(np.float32))
  return frames, labels, x, onehot


# The default mode in the fast tier, the others in the full tier (`slow`).
@pytest.mark.parametrize("mode,include_last", [
    pytest.param(m, last, marks=() if m == "two-frames-compress" else pytest.mark.slow)
    for m, last in [(m, False) for m in inference.MODES]
    + [("two-frames-compress", True), ("stm", True), ("last", True)]])
def test_mode_matches_the_official_listing(video, mode, include_last):
  frames, labels, x, onehot = video
  model = F.tiny_model()
  settings = inference.InferenceSettings(top_k=TOP_K, memory_mode=mode,
                                         include_last=include_last, chunk=4)
  engine = model.engine(settings)
  got = np.stack([p for _, p in inference.propagate(engine, frames, labels, settings)])
  flags = inference.memory_frame_flags(len(frames), 3, include_last=include_last)
  want = _reference(engine, model.variables, x, onehot, mode, flags)
  np.testing.assert_allclose(got, want, atol=2e-5)


@pytest.mark.slow
def test_modes_differ_and_constant_modes_keep_one_state_shape(video):
  frames, labels, _, _ = video
  shared = F.tiny_model()
  model = api.VOSModel(shared.arch, shared.variables)  # its own engines: compiles counted here
  outs = {}
  for mode in ("two-frames-compress", "gt", "stm"):
    settings = inference.InferenceSettings(top_k=TOP_K, memory_mode=mode, chunk=4)
    engine = model.engine(settings)
    outs[mode] = np.stack([p for _, p in inference.propagate(engine, frames, labels)])
    assert engine.compiles["run_chunk"] == 1  # 8 frames: stm stays within its first 8 slots
  assert np.abs(outs["gt"] - outs["two-frames-compress"]).max() > 1e-3
  assert np.abs(outs["stm"] - outs["two-frames-compress"]).max() > 1e-3


def test_compress_modes_need_the_sam_weights():
  model = F.tiny_model()
  arch = dataclasses.replace(architectures.TINY, with_mem_compress=False, value_in_channels=4)
  variables = init_variables(arch, 0)
  with pytest.raises(ValueError, match="needs the SAM"):
    inference.Engine(variables, arch, inference.InferenceSettings(memory_mode="compress"))
  inference.Engine(variables, arch, inference.InferenceSettings(memory_mode="two-frames"))
  with pytest.raises(UserError, match="memory_mode must be one of"):
    inference.Engine(model.variables, settings=inference.InferenceSettings(
        memory_mode="three-frames"))
