"""The step's memory levers on the tiny model: remat policies, uint8 frames, bfloat16 compute.

Each lever must leave the loss (and, for remat, the gradients) of the float32 step unchanged;
bfloat16 compute is held to a stated tolerance of the float32 loss.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rde_jax import validate
from rde_jax.model import imagenet
from rde_jax.model.network import init_variables
from rde_jax.train import inputs, remat
from rde_jax.train.config import validate as validate_config
from rde_jax.errors import UserError
from rde_jax.train.trainer import Trainer

from configs_helper import small_config

# bfloat16 compute (float32 parameters) vs float32: the stated tolerance of the first-step loss
# (tiny model, 32x32; measured 2026-12-03: 5.8e-5 relative, benchmarks/RESULTS_training.md).
BF16_LOSS_RTOL = 1e-2


def test_remat_names_are_the_validated_ones():
  assert remat.POLICIES == validate.REMAT_POLICIES
  assert remat.parts("none") == frozenset() and "decode" in remat.parts("all")
  with pytest.raises(ValueError):
    remat.parts("everything")


def test_config_rejects_unknown_remat_and_conv_algorithm():
  for field, bad in (("remat", "everything"), ("conv_algorithm", "fft")):
    cfg = small_config(**{field: bad})
    with pytest.raises(UserError, match=f"config.{field}"):
      validate_config(cfg)


@functools.lru_cache(maxsize=None)
def _setup():
  cfg = small_config()
  v = init_variables(Trainer(cfg).arch, 0)
  batch = dict(inputs.train_pipeline(cfg)[0])
  return cfg, v, batch


def _loss_and_grads(batch, **fields):
  cfg = small_config(**fields)
  tr = Trainer(cfg)
  _, v, _ = _setup()

  def loss_fn(params):
    from rde_jax.train.clip_loss import clip_loss
    return clip_loss(tr.forward, tr.loss_cfg, {"params": params, "batch_stats": v["batch_stats"]},
                     batch, jnp.int32(100))[0]

  return jax.jit(jax.value_and_grad(loss_fn))(v["params"])


@pytest.mark.slow  # three compiles of the tiny step's gradient: ~1 min
def test_remat_policies_keep_loss_and_gradients():
  _, _, batch = _setup()
  ref_loss, ref_grads = _loss_and_grads(batch)
  for policy in ("encoders", "all"):
    loss, grads = _loss_and_grads(batch, remat=policy)
    assert float(loss) == pytest.approx(float(ref_loss), rel=1e-6), policy
    for a, b in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(ref_grads)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * max(1.0, np.abs(b).max()))


@pytest.mark.slow
def test_uint8_frames_are_normalised_inside_the_step_and_bf16_is_within_tolerance():
  _, _, batch = _setup()
  rng = np.random.default_rng(0)
  u8 = rng.integers(0, 256, batch["rgb"].shape, dtype=np.uint8)
  as_float = dict(batch, rgb=imagenet.normalize(u8))
  as_u8 = dict(batch, rgb=u8)
  loss_f, _ = _loss_and_grads(as_float)
  loss_u8, _ = _loss_and_grads(as_u8)
  assert float(loss_u8) == pytest.approx(float(loss_f), rel=1e-6)
  loss_bf16, _ = _loss_and_grads(as_u8, dtype="bfloat16")
  assert float(loss_bf16) == pytest.approx(float(loss_f), rel=BF16_LOSS_RTOL)


def test_conv_algorithm_auto_is_resolved_for_the_backend():
  """'auto' (the default) builds the CPU fast path on the CPU, 'direct' stays direct."""
  assert small_config().conv_algorithm == "auto"
  want = "winograd" if jax.default_backend() == "cpu" else "direct"
  tr = Trainer(small_config())
  assert tr.conv_algorithm == tr.forward.model.conv_algorithm == want
  assert Trainer(small_config(conv_algorithm="direct")).forward.model.conv_algorithm == "direct"
  # with a remat policy (memory matters) the CPU's Winograd takes the direct gradients
  lean = "winograd_forward" if jax.default_backend() == "cpu" else "direct"
  for policy in ("encoders", "all"):
    assert Trainer(small_config(remat=policy)).forward.model.conv_algorithm == lean
  assert Trainer(small_config(remat="all", conv_algorithm="winograd")).conv_algorithm == "winograd"


@pytest.mark.slow  # two compiles of the tiny step's gradient
def test_winograd_training_step_is_the_direct_step_within_rounding(default_precision):
  """At JAX's default precision (what a CPU run gets) the Winograd / 1x1-as-matmul step gives the
  direct step's loss and gradients up to float32 rounding of the reordered sums."""
  _, _, batch = _setup()  # tiny model, 32x32 crops: mostly the 1x1-as-matmul path
  ref_loss, ref_grads = _loss_and_grads(batch, conv_algorithm="direct")
  loss, grads = _loss_and_grads(batch, conv_algorithm="winograd")
  assert float(loss) == pytest.approx(float(ref_loss), rel=1e-4)
  for a, b in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(ref_grads)):
    np.testing.assert_allclose(a, b, rtol=1e-2, atol=1e-3 * max(1.0, np.abs(b).max()))


@pytest.mark.slow  # two compiles of the tiny step's gradient
def test_memory_lean_winograd_step_is_the_direct_step_within_rounding(default_precision,
                                                                      monkeypatch):
  """remat 'all' with 'winograd_forward' (what 'auto' picks on the CPU under remat): the direct
  step's loss and gradients up to float32 rounding, every 3x3 convolution through Winograd."""
  from rde_jax.model import conv_algorithm
  monkeypatch.setattr(conv_algorithm, "MIN_CHANNELS", 1)
  monkeypatch.setattr(conv_algorithm, "MIN_PIXELS", 1)
  _, _, batch = _setup()
  ref_loss, ref_grads = _loss_and_grads(batch, conv_algorithm="direct", remat="all")
  loss, grads = _loss_and_grads(batch, conv_algorithm="winograd_forward", remat="all")
  assert float(loss) != float(ref_loss)  # Winograd did run (other rounding)
  assert float(loss) == pytest.approx(float(ref_loss), rel=1e-4)
  for a, b in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(ref_grads)):
    np.testing.assert_allclose(a, b, rtol=1e-2, atol=1e-3 * max(1.0, np.abs(b).max()))
