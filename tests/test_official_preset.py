"""The 'official' precision preset follows PyTorch autocast (the official --amp) op by op."""

import jax.numpy as jnp
import numpy as np

from rde_jax import inference
from rde_jax.inference.settings import InferenceSettings
from rde_jax.model.architectures import TINY
from rde_jax.model.network import init_variables


def test_official_preset_is_float16_with_direct_convolutions():
  s = InferenceSettings.from_preset("official")
  assert (s.dtype, s.conv_algorithm, s.preset) == ("float16", "direct", "official")
  assert InferenceSettings.from_preset("fast").dtype == "bfloat16"


def test_float16_decoder_sigmoid_stays_float16_like_autocast():
  """torch.sigmoid is on neither autocast list: on the decoder's float16 logits it returns
  float16, so every object probability is a float16 number; float32 keeps its own sigmoid."""
  variables = init_variables(TINY, 0)
  rng = np.random.default_rng(0)
  frame = jnp.asarray(rng.normal(size=(1, 64, 64, 3)), jnp.float32)
  out = {}
  for dtype in ("float16", "float32"):
    engine = inference.Engine(variables, TINY, InferenceSettings(top_k=4, dtype=dtype))
    feats = engine.encode_key(variables, frame[0])
    readout = jnp.asarray(rng.normal(size=(2,) + feats["k16"].shape[1:3] + (TINY.value_dim,)),
                          engine.dtype)
    out[dtype] = np.asarray(engine.decode(variables, readout, feats))
    assert out[dtype].dtype == np.float32
  p16 = out["float16"]
  np.testing.assert_array_equal(p16, p16.astype(np.float16).astype(np.float32))
  p32 = out["float32"]
  assert not np.array_equal(p32, p32.astype(np.float16).astype(np.float32))
