"""The official training losses (`model/losses.py`), including their quirks.

* Bootstrapped cross-entropy per sample and frame: the mean of the k largest per-pixel CE values,
  k = int(num_pixels * p) with p warming up from 1 to `top_p` (plain mean before `start_warm`).
* KL(student -> teacher): mean over ALL elements of softmax(t) (log softmax(t) - log softmax(s)),
  softmax over channels (the last axis here), temperature 1; teacher not detached by default.
* Frame weights 1/16, 1/8, 1/4, 1/2 (stage 0: 1/4, 1/2) from the halving inside the official loop.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def bootstrap_fraction(step: int, start_warm: int, end_warm: int, top_p: float = 0.15) -> float:
  """Fraction p of pixels kept at iteration `step` (1.0 before start_warm), float64 as official."""
  if step < start_warm:
    return 1.0
  if step > end_warm:
    return top_p
  return top_p + (1.0 - top_p) * ((end_warm - step) / (end_warm - start_warm))


def bootstrap_k(step: int, num_pixels: int, start_warm: int, end_warm: int,
                top_p: float = 0.15) -> int:
  """Number of pixels kept: all before start_warm, else int(num_pixels * p) (truncation)."""
  if step < start_warm:
    return num_pixels
  return int(num_pixels * bootstrap_fraction(step, start_warm, end_warm, top_p))


def pixel_cross_entropy(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
  """logits (..., C, H, W), labels (..., H, W) int -> per-pixel CE (..., H, W)."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-3)
  picked = jnp.take_along_axis(logp, labels[..., None, :, :].astype(jnp.int32), axis=-3)
  return -picked[..., 0, :, :]


def bootstrapped_ce(logits: jnp.ndarray, labels: jnp.ndarray, k: jnp.ndarray) -> jnp.ndarray:
  """Mean over the batch of each sample's mean of its k largest per-pixel CE values.

  logits (B,C,H,W), labels (B,H,W), k () int (traced, so one compilation serves all steps).
  """
  ce = pixel_cross_entropy(logits, labels).reshape(labels.shape[0], -1)
  ranked = -jnp.sort(-ce, axis=-1)
  keep = jnp.arange(ce.shape[-1]) < k
  per_sample = jnp.sum(jnp.where(keep, ranked, 0.0), axis=-1) / k.astype(jnp.float32)
  return jnp.mean(per_sample)


def kl_divergence(student: jnp.ndarray, teacher: jnp.ndarray, *,
                  detach_teacher: bool = False) -> jnp.ndarray:
  """KLDivLoss(reduction='mean', tau=1) with the softmax over the last (channel) axis."""
  if detach_teacher:
    teacher = jax.lax.stop_gradient(teacher)
  log_t = jax.nn.log_softmax(teacher.astype(jnp.float32), axis=-1)
  log_s = jax.nn.log_softmax(student.astype(jnp.float32), axis=-1)
  return jnp.mean(jnp.exp(log_t) * (log_t - log_s))


def frame_weights(num_loss_frames: int, equal: bool = False) -> np.ndarray:
  """Official 2^-(S-i+1) for i = 1..S (1/16,1/8,1/4,1/2 for S=4); `equal` gives 1/S each."""
  if equal:
    return np.full(num_loss_frames, 1.0 / num_loss_frames)
  return np.array([2.0 ** -(num_loss_frames - i + 1) for i in range(1, num_loss_frames + 1)])
