"""The decoder's skip connections shared by the objects of a clip (UpsampleBlock): a skip of batch
K / O convolved once and repeated equals the skip repeated over the objects (the official
per-object decoder call), and a batch that does not divide is refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rde_jax.model.blocks import UpsampleBlock


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
