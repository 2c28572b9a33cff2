"""Winograd F(4x4, 3x3) convolutions and the module field that chooses them
(rde_jax.model.conv_algorithm: `conv_algorithm` of every network module, resolved by the Engine)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from rde_jax import inference
from rde_jax.data.synthetic import generate_video
from rde_jax.model import conv_algorithm, layers, winograd
from rde_jax.model.architectures import TINY
from rde_jax.model.network import init_variables, RDEVOS


def _direct_float64(x: np.ndarray, k: np.ndarray) -> np.ndarray:
  """3x3 cross-correlation, zero padding 1, in float64 numpy: (N,H,W,C), (3,3,C,O) -> (N,H,W,O)."""
  n, h, w, _ = x.shape
  xp = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
  out = np.zeros((n, h, w, k.shape[3]))
  for i in range(3):
    for j in range(3):
      out += xp[:, i:i + h, j:j + w] @ k[i, j].astype(np.float64)
  return out


@pytest.mark.parametrize("shape", [(1, 4, 4, 3, 2), (2, 7, 9, 5, 4), (1, 13, 30, 16, 8),
                                   (1, 1, 1, 2, 3), (3, 8, 5, 4, 6)])
def test_winograd_equals_the_direct_convolution(shape):
  n, h, w, c, o = shape
  rng = np.random.default_rng(sum(shape))
  x = rng.normal(size=(n, h, w, c)).astype(np.float32)
  k = (rng.normal(size=(3, 3, c, o)) / np.sqrt(9 * c)).astype(np.float32)
  ref = _direct_float64(x, k)
  ours = np.asarray(jax.jit(winograd.conv3x3)(jnp.asarray(x), jnp.asarray(k)), np.float64)
  assert ours.shape == ref.shape
  # float32 rounding of the transforms: measured 1e-5 of the output scale on 256 channels
  # (benchmarks/RESULTS_inference.md); a wrong tap or border is O(1).
  scale = max(1.0, float(np.max(np.abs(ref))))
  assert np.max(np.abs(ours - ref)) <= 2e-5 * scale


def test_transformed_kernel_follows_the_definition():
  rng = np.random.default_rng(0)
  k = rng.normal(size=(3, 3, 2, 3)).astype(np.float32)
  u = np.asarray(winograd.transform_kernel(jnp.asarray(k)), np.float64).reshape(6, 6, 2, 3)
  ref = np.einsum("ai,ijco,bj->abco", winograd.G, k.astype(np.float64), winograd.G)
  np.testing.assert_allclose(u, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_gradients_match_the_direct_convolution():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(1, 9, 10, 4)).astype(np.float32))
  k = jnp.asarray(rng.normal(size=(3, 3, 4, 5)).astype(np.float32) / 6)
  direct = lambda x, k: lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)),
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                                 precision=lax.Precision.HIGHEST)
  loss = lambda f: (lambda x, k: jnp.sum(jnp.sin(f(x, k))))
  gw = jax.grad(loss(winograd.conv3x3), (0, 1))(x, k)
  gd = jax.grad(loss(direct), (0, 1))(x, k)
  for a, b in zip(gw, gd):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-4)


@pytest.mark.parametrize("shape", [(1, 9, 10, 4, 5), (2, 8, 8, 3, 1), (3, 13, 6, 5, 7),
                                   (1, 1, 2, 2, 3)])
def test_winograd_backward_gives_the_direct_convolution_gradients(shape):
  """`conv3x3_winograd_grad` ('winograd', the CPU training default): conv3x3's outputs; its input
  gradient (a Winograd convolution of the cotangent with the turned kernel) and kernel gradient
  (V^T dM through G) equal the direct convolution's at the same cotangent up to rounding; it
  keeps only (x, kernel); its backward has no convolution left in it."""
  n, h, w, c, o = shape
  rng = np.random.default_rng(sum(shape))
  x = jnp.asarray(rng.normal(size=(n, h, w, c)).astype(np.float32))
  k = jnp.asarray(rng.normal(size=(3, 3, c, o)).astype(np.float32) / np.sqrt(9 * c))
  r = jnp.asarray(rng.normal(size=(n, h, w, o)).astype(np.float32))
  direct = lambda x, k: lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)),
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                                 precision=lax.Precision.HIGHEST)
  np.testing.assert_array_equal(jax.jit(winograd.conv3x3_winograd_grad)(x, k),
                                jax.jit(winograd.conv3x3)(x, k))
  linear = lambda f: (lambda x, k: jnp.sum(f(x, k) * r))
  grad = jax.jit(jax.grad(linear(winograd.conv3x3_winograd_grad), (0, 1)))
  got, want = grad(x, k), jax.jit(jax.grad(linear(direct), (0, 1)))(x, k)
  for a, b in zip(got, want):  # a wrong tap, flip or border is O(1) of the scale
    scale = float(np.max(np.abs(np.asarray(b))))
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-5 * max(scale, 1.0))
  _, residuals = jax.vjp(winograd.conv3x3_winograd_grad, x, k)
  assert sorted(a.size for a in jax.tree_util.tree_leaves(residuals)) == sorted((x.size, k.size))
  assert "convolution" not in grad.lower(x, k).as_text()


def test_winograd_backward_of_a_large_batch_runs_in_groups(monkeypatch):
  """Past MAX_TRANSFORMED_BYTES the backward's kernel gradient is summed over groups of images
  (the padding images of the last group add nothing): same gradients as one group."""
  rng = np.random.default_rng(5)
  x = jnp.asarray(rng.normal(size=(5, 9, 7, 4)).astype(np.float32))
  k = jnp.asarray(rng.normal(size=(3, 3, 4, 6)).astype(np.float32) / 6)
  r = jnp.asarray(rng.normal(size=(5, 9, 7, 6)).astype(np.float32))
  grad = lambda: jax.grad(lambda x, k: jnp.sum(winograd.conv3x3_winograd_grad(x, k) * r),
                          (0, 1))(x, k)
  whole = grad()
  monkeypatch.setattr(winograd, "MAX_TRANSFORMED_BYTES", 2 * 36 * 3 * 2 * 6 * 4)  # 2 images
  assert winograd._group_size(x, 6) == 2
  for a, b in zip(grad(), whole):  # the groups' sums are added in another order
    scale = float(np.max(np.abs(np.asarray(b))))
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5 * scale)


def test_direct_grad_form_is_winograd_forward_with_the_direct_gradients():
  """`conv3x3_direct_grad` ('winograd_forward'): conv3x3's outputs, the direct convolution's
  input and kernel gradients at the same cotangent, and only (x, kernel) kept for them."""
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.normal(size=(2, 9, 10, 4)).astype(np.float32))
  k = jnp.asarray(rng.normal(size=(3, 3, 4, 5)).astype(np.float32) / 6)
  r = jnp.asarray(rng.normal(size=(2, 9, 10, 5)).astype(np.float32))
  direct = lambda x, k: lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)),
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
  np.testing.assert_array_equal(jax.jit(winograd.conv3x3_direct_grad)(x, k),
                                jax.jit(winograd.conv3x3)(x, k))
  linear = lambda f: (lambda x, k: jnp.sum(f(x, k) * r))  # cotangent r whatever the forward
  got = jax.jit(jax.grad(linear(winograd.conv3x3_direct_grad), (0, 1)))(x, k)
  want = jax.jit(jax.grad(linear(direct), (0, 1)))(x, k)
  for a, b in zip(got, want):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
  _, residuals = jax.vjp(winograd.conv3x3_direct_grad, x, k)
  kept = jax.tree_util.tree_leaves(residuals)
  assert sorted(a.size for a in kept) == sorted((x.size, k.size))


def test_winograd_forward_is_a_training_setting_auto_picks_under_remat():
  assert conv_algorithm.resolve("auto", "cpu", memory_lean=True) == "winograd_forward"
  assert conv_algorithm.resolve("auto", "cpu") == "winograd"
  assert conv_algorithm.resolve("auto", "gpu", memory_lean=True) == "direct"
  assert conv_algorithm.resolve("winograd_forward", "tpu") == "winograd_forward"
  assert "winograd_forward" not in conv_algorithm.ALGORITHMS  # not an inference setting
  # the layers keep autodiff's (memory-lean) gradient forms
  assert not conv_algorithm.fast_path("winograd_forward") and conv_algorithm.fast_path("winograd")
  with pytest.raises(ValueError, match="fft"):
    conv_algorithm.resolve("fft", "cpu")


def _uses_winograd(x: jnp.ndarray, algorithm: str = "winograd", **kw) -> bool:
  m = layers.conv2d(x.shape[-1], kw.pop("kernel", 3), conv_algorithm=algorithm, **kw)
  v = m.init(jax.random.PRNGKey(0), x)
  hlo = jax.jit(m.apply).lower(v, x).as_text()
  return "dot_general" in hlo and "tensor<36x" in hlo  # the 36 products of the tile positions


@pytest.mark.slow
def test_field_chooses_winograd_only_where_it_applies(default_precision):
  big = jnp.zeros((1, 32, 40, 64), jnp.float32)
  assert _uses_winograd(big)
  assert not _uses_winograd(big, stride=2)
  assert not _uses_winograd(big, kernel=1)
  assert not _uses_winograd(big, kernel=7, padding=3)
  assert not _uses_winograd(jnp.zeros((1, 32, 40, 32), jnp.float32))  # < MIN_CHANNELS
  assert not _uses_winograd(jnp.zeros((1, 16, 16, 64), jnp.float32))  # < MIN_PIXELS
  assert not _uses_winograd(jnp.zeros((3, 16, 16, 64), jnp.float32))  # 768 positions
  assert _uses_winograd(jnp.zeros((4, 16, 16, 64), jnp.float32))  # the batch's positions count
  assert not _uses_winograd(big.astype(jnp.bfloat16), dtype=jnp.bfloat16)
  with jax.default_matmul_precision("highest"):
    assert not _uses_winograd(big)
  assert not _uses_winograd(big, "direct")
  assert _uses_winograd(big, "winograd_forward")
  assert not _uses_winograd(big, "winograd_forward", stride=2)
  m = layers.conv2d(64, 3)  # the default of a module: direct
  v = m.init(jax.random.PRNGKey(0), big)
  assert "tensor<36x" not in jax.jit(m.apply).lower(v, big).as_text()
  with pytest.raises(ValueError, match="conv_algorithm 'auto'"):
    RDEVOS(TINY, conv_algorithm="auto").init(jax.random.PRNGKey(0), big[..., :3],
                                             big[..., :1], big[..., :1])


def test_engine_resolves_auto_for_its_backend_and_builds_it_into_the_network():
  variables = init_variables(TINY, 0)
  engine = inference.Engine(variables, TINY, inference.InferenceSettings())
  want = "winograd" if jax.default_backend() == "cpu" else "direct"
  assert engine.conv_algorithm == engine.model.conv_algorithm == want
  direct = inference.Engine(variables, TINY, inference.InferenceSettings(conv_algorithm="direct"))
  assert direct.model.conv_algorithm == "direct"


@pytest.mark.slow
def test_engine_outputs_close_to_direct(default_precision, monkeypatch):
  # The tiny model's convolutions are narrow and small: lower the thresholds so every 3x3
  # stride-1 convolution of the network runs as Winograd.
  monkeypatch.setattr(conv_algorithm, "MIN_CHANNELS", 1)
  monkeypatch.setattr(conv_algorithm, "MIN_PIXELS", 1)
  arch = TINY
  variables = init_variables(arch, 0)
  frames, labels = generate_video(3, height=64, width=96, num_frames=5, min_objects=2,
                                  max_objects=2)
  probs = {}
  for algorithm in ("direct", "winograd"):
    settings = inference.InferenceSettings(mem_every=2, conv_algorithm=algorithm)
    engine = inference.Engine(variables, arch, settings)
    probs[algorithm] = np.stack([p for _, p in inference.propagate(engine, frames, labels[0])])
  diff = np.max(np.abs(probs["direct"] - probs["winograd"]))
  assert 0 < diff < 1e-4, diff


def test_large_batches_run_in_groups_with_the_same_result(monkeypatch):
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.normal(size=(5, 8, 12, 4)).astype(np.float32))
  k = jnp.asarray(rng.normal(size=(3, 3, 4, 3)).astype(np.float32))
  whole = np.asarray(winograd.conv3x3(x, k))
  per_image = 36 * 2 * 3 * 4 * 4  # tiles of one 8x12 image, 4 channels, float32
  monkeypatch.setattr(winograd, "MAX_TRANSFORMED_BYTES", 2 * per_image)  # groups of 2 (+ pad)
  jaxpr = str(jax.make_jaxpr(winograd.conv3x3)(x, k))
  assert "while" in jaxpr or "scan" in jaxpr  # really grouped
  grouped = np.asarray(winograd.conv3x3(x, k))
  # Same sums; the products of another batch size may round differently (float32 ulps).
  np.testing.assert_allclose(grouped, whole, rtol=0, atol=1e-5 * np.abs(whole).max())


@pytest.mark.parametrize("stride", [1, 2])
def test_pointwise_convs_run_as_one_product_with_the_same_result(default_precision, stride):
  rng = np.random.default_rng(stride)
  x = jnp.asarray(rng.normal(size=(2, 9, 11, 6)).astype(np.float32))
  m = layers.conv2d(5, 1, stride=stride)
  v = m.init(jax.random.PRNGKey(0), x)
  outs = {}
  for algorithm in ("direct", "winograd"):
    m = layers.conv2d(5, 1, stride=stride, conv_algorithm=algorithm)
    hlo = jax.jit(m.apply).lower(v, x).as_text()
    assert ("convolution" in hlo) == (algorithm == "direct"), algorithm
    outs[algorithm] = np.asarray(m.apply(v, x))
  assert outs["winograd"].shape == outs["direct"].shape == (2, -(-9 // stride), -(-11 // stride), 5)
  np.testing.assert_allclose(outs["winograd"], outs["direct"], rtol=1e-5, atol=1e-5)
