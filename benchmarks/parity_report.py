"""Prints the float32 parity of rde-jax with the official PyTorch model, tensor by tensor.

    python benchmarks/parity_report.py          # needs ../shared/reference

Max relative error = max|ours - ref| / max(1, max|ref|) on every golden_small.npz tensor that the
tests compare (recorded inputs fed to each block), and max absolute error of the probabilities
of `segment_video` on the whole video.
"""

import os
import sys


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import numpy as np  # noqa: E402


jax.config.update("jax_default_matmul_precision", "highest")

import test_parity as P  # noqa: E402

from rde_jax.inference import propagate as inference  # noqa: E402
from rde_jax.model.network import RDEVOS  # noqa: E402


def main() -> None:
  g, variables, model = P._setup()
  rows = []
  images = inference.normalize(g["images_rgb_uint8"])
  for t in P.frames_with_key_features(g):
    f = model.apply(variables, images[t:t + 1], method=RDEVOS.encode_key)
    for name, ours in (("k16", "k16"), ("f16_thin", "qv16"), ("f16", "f16"), ("f8", "f8"),
                       ("f4", "f4")):
      rows.append((f"t{t}_key_{name}", P.rel_err(P.nchw(f[ours]), g[f"t{t}_key_{name}"])))
  for t in (0, 3):
    masks = P.nhwc(g[f"t{t}_value_mask_in"])
    v = model.apply(variables, images[t:t + 1], P.nhwc(g[f"t{t}_key_f16"]), masks,
                    masks.sum(0, keepdims=True) - masks, method=RDEVOS.encode_value)
    rows.append((f"t{t}_value_out", P.rel_err(P.nchw(v), g[f"t{t}_value_out"][:, :, 0])))
  for t in range(1, 5):
    logits = model.apply(variables, P.nhwc(g[f"t{t}_readout"]), P.nhwc(g[f"t{t}_key_f16_thin"]),
                         P.nhwc(g[f"t{t}_key_f8"]), P.nhwc(g[f"t{t}_key_f4"]),
                         method=RDEVOS.decode)
    rows.append((f"t{t}_logits", P.rel_err(P.nchw(logits), g[f"t{t}_logits"])))
  k, v = model.apply(variables, P.nthwc(g["t3_rde_key_in"]), P.nthwc(g["t3_rde_value_in"][0]),
                     method=RDEVOS.compress)
  rows.append(("t3_rde_key_out", P.rel_err(P.ncthw(k), g["t3_rde_key_out"])))
  rows.append(("t3_rde_value_out", P.rel_err(P.ncthw(v), g["t3_rde_value_out"][0])))
  probs = inference.segment_video(variables, g["images_rgb_uint8"], g["first_mask_labels"],
                                  inference.InferenceSettings(mem_every=int(g["mem_every"]),
                                                              top_k=int(g["top_k"])))
  ref = np.transpose(g["prob"][:, :, 0], (1, 0, 2, 3))
  for t in range(ref.shape[0]):
    rows.append((f"prob frame {t} (abs)", float(np.max(np.abs(probs[t] - ref[t])))))
  width = max(len(n) for n, _ in rows)
  for name, err in rows:
    print(f"{name:<{width}}  {err:.2e}")
  print(f"{'worst':<{width}}  {max(e for _, e in rows):.2e}")


if __name__ == "__main__":
  main()
