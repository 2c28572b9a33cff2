"""Per-frame inputs shared by the objects of a frame (objects minor, K = B * O): convolved once
and repeated, they give what the official per-object calls give on repeated copies. The
decoder's skips (UpsampleBlock), the value encoder's image and key f16 (stem and fuser,
`Conv2DParts`) and the decoder's qv16; a batch that does not divide is refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rde_jax.model.architectures import TINY
from rde_jax.model.blocks import UpsampleBlock
from rde_jax.model.network import RDEVOS, init_variables


@pytest.mark.slow  # compiles the block three times (~10-30 s on 2 cores)
def test_per_clip_skip_equals_repeated_skip():
  clips, objects = 3, 2
  rng = np.random.default_rng(0)
  skip = jnp.asarray(rng.standard_normal((clips, 8, 8, 5), np.float32))
  up = jnp.asarray(rng.standard_normal((clips * objects, 4, 4, 6), np.float32))
  block = UpsampleBlock(up_features=6, out_features=4)
  with jax.default_matmul_precision("highest"):
    v = block.init(jax.random.PRNGKey(1), skip, up)
    shared = block.apply(v, skip, up)
    repeated = block.apply(v, jnp.repeat(skip, objects, 0), up)  # objects minor
    one = block.apply(v, skip[:1], up[:objects])  # batch-1 skip: broadcast
  assert shared.shape == (clips * objects, 8, 8, 4)
  np.testing.assert_allclose(shared, repeated, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(one, repeated[:objects], rtol=1e-6, atol=1e-6)
  # A clip's objects differ (their `up` differs), so a wrong repeat order would show.
  assert float(jnp.abs(shared[0] - shared[1]).max()) > 1e-3
  with pytest.raises(ValueError, match="does not divide"):
    block.apply(v, skip[:2], up[:3])


@pytest.mark.slow  # compiles the tiny value encoder and decoder twice each
def test_value_encoder_and_decoder_share_a_frames_inputs():
  frames, objects, size = 2, 3, 64
  rng = np.random.default_rng(1)
  model = RDEVOS(TINY)
  v = init_variables(TINY, 0)
  image = jnp.asarray(rng.standard_normal((frames, size, size, 3), np.float32))
  masks = jnp.asarray(rng.uniform(size=(frames * objects, size, size, 1)).astype(np.float32))
  others = jnp.asarray(rng.uniform(size=masks.shape).astype(np.float32))
  rep = lambda x: jnp.repeat(x, objects, 0)  # the official per-object copies, objects minor
  with jax.default_matmul_precision("highest"):
    feats = model.apply(v, image, method=RDEVOS.encode_key)
    encode = lambda *a: model.apply(v, *a, method=RDEVOS.encode_value)
    shared = encode(image, feats["f16"], masks, others)
    copied = encode(rep(image), rep(feats["f16"]), masks, others)
    decode = lambda *a: model.apply(v, *a, method=RDEVOS.decode)
    logits = decode(shared, feats["qv16"], feats["f8"], feats["f4"])
    logits_copied = decode(shared, rep(feats["qv16"]), rep(feats["f8"]), rep(feats["f4"]))
  assert shared.shape[0] == frames * objects
  np.testing.assert_allclose(shared, copied, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(logits, logits_copied, rtol=1e-5, atol=1e-5)
  # Each object's own mask makes its value differ: a wrong repeat order would show.
  assert float(jnp.abs(shared[0] - shared[1]).max()) > 1e-4
  assert float(jnp.abs(logits[objects - 1] - logits[objects]).max()) > 1e-4
  with pytest.raises(ValueError, match="does not divide"):
    encode(image, feats["f16"], masks[:5], others[:5])  # 5 objects over 2 frames
