"""The PyTorch twin of benchmarks/ computes what our network computes (skipped without torch)."""

import flax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchmarks import torch_twin  # noqa: E402
from rde_jax import inference  # noqa: E402
from rde_jax.data.synthetic import generate_video  # noqa: E402
from rde_jax.model import architectures  # noqa: E402
from rde_jax.model.architectures import Arch  # noqa: E402
from rde_jax.model.network import RDEVOS, init_variables  # noqa: E402

pytestmark = pytest.mark.slow  # about a minute of CPU where torch is installed


def _perturbed_tiny() -> tuple[Arch, dict]:
  """Tiny variables with non-trivial BatchNorm statistics and affine parameters."""
  arch = Arch.from_config(architectures.tiny())
  v = init_variables(arch, 3)
  gen = np.random.default_rng(1)
  stats = flax.traverse_util.flatten_dict(v["batch_stats"])
  for p, x in stats.items():
    stats[p] = (gen.uniform(0.5, 1.5, x.shape) if p[-1] == "var"
                else gen.normal(0, 0.1, x.shape)).astype(np.float32)
  params = flax.traverse_util.flatten_dict(v["params"])
  for p, x in params.items():
    if p[-1] == "scale":
      params[p] = gen.uniform(0.5, 1.5, x.shape).astype(np.float32)
  return arch, {"params": flax.traverse_util.unflatten_dict(params),
                "batch_stats": flax.traverse_util.unflatten_dict(stats)}


@pytest.fixture(scope="module")
def setup():
  torch.set_num_threads(1)
  arch, variables = _perturbed_tiny()
  frames, labels = generate_video(5, height=64, width=96, num_frames=5, min_objects=2,
                                  max_objects=2)
  frames = np.stack([inference.normalize(f) for f in frames])
  onehot = np.stack([labels[0] == i for i in (1, 2)]).astype(np.float32)
  return arch, variables, frames, onehot, torch_twin.TwinNetwork.from_variables(variables, arch)


def test_key_encoder_outputs_match(setup):
  arch, variables, frames, _, twin = setup
  ours = RDEVOS(arch).apply(variables, jnp.asarray(frames[:1]), method=RDEVOS.encode_key)
  with torch.inference_mode():
    theirs = twin.encode_key(torch_twin.to_nchw(frames[:1]))
  for name in ("k16", "qv16", "f16", "f8", "f4"):
    np.testing.assert_allclose(theirs[name].numpy().transpose(0, 2, 3, 1), ours[name],
                               atol=1e-4, rtol=1e-4, err_msg=name)


def test_video_probabilities_match(setup):
  """Frames 1..4 with an RDE update at frame 2: plain frames, SAM and the 4-slot read."""
  arch, variables, frames, onehot, twin = setup
  add = inference.memory_frame_flags(len(frames), 2)
  assert add[1:].tolist() == [False, True, False, False]
  engine = inference.Engine(variables, arch, inference.InferenceSettings(top_k=20))
  k = onehot.shape[0]
  state, p0 = engine.call("interact", variables, engine.empty_state(k, frames.shape[1:3]),
                          jnp.asarray(frames[0]), jnp.zeros_like(jnp.asarray(onehot)),
                          jnp.asarray(onehot), jnp.ones((k,), bool))
  _, ours = engine.run_chunk(variables, state, jnp.asarray(frames[1:]), jnp.asarray(add[1:]))
  tw = torch_twin.TwinPropagator(twin, top_k=20)
  theirs = [tw.init(torch_twin.to_nchw(frames[0]), torch.from_numpy(onehot))]
  theirs += [tw.step(torch_twin.to_nchw(frames[t]), bool(add[t])) for t in range(1, len(frames))]
  assert tw.updated
  np.testing.assert_allclose(theirs[0].numpy(), p0, atol=1e-6)
  np.testing.assert_allclose(np.stack([p.numpy() for p in theirs[1:]]), ours, atol=1e-4)


def test_side_by_side_times_every_stage_on_both_sides():
  import argparse
  from benchmarks import side_by_side
  args = argparse.Namespace(arch="tiny", height=32, width=48, objects=2, repeats=2, top_k=20,
                            mem_every=3, dtype="float32", seed=0, no_peak=True, cpu_flags=None)
  report = side_by_side.run(args)
  rows = report["rows"]
  assert set(rows) == set(side_by_side.LABELS)
  for r in rows.values():
    assert r["jax_s"]["n"] == r["torch_s"]["n"] == 2
    assert r["ratio"] == round(r["torch_s"]["median"] / r["jax_s"]["median"], 3)
  assert rows["decode"]["jax_flops"] > 0 and rows["decode"]["torch_flops"] > 0
  p, m = rows["plain_frame"]["jax_s"]["median"], rows["memory_frame"]["jax_s"]["median"]
  assert report["mean"]["jax_s"] == round((2 * p + m) / 3, 5)
  assert "mean at mem_every 3" in side_by_side.table(report)
