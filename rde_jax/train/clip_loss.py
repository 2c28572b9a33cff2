"""Total training loss of one clip batch: CE over frames + mask-consistency KL + guidance KL.

    total = sum_i w_i * BootCE_i + lambda_mc * sum_o KL(v_ref,o -> v_gt,o)
            + sum_{s in sam_frames} lambda_s * sum_o KL(R_sam,s,o -> R_stm,s,o)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import jax.numpy as jnp

from rde_jax.train import losses
from rde_jax.train.clip_forward import ClipForward


@dataclasses.dataclass(frozen=True)
class LossConfig:
  """Static loss settings (official defaults for stages 1-3)."""
  lambda_mc: float = 10.0  # mask-consistency KL (klloss_weight)
  guidance_weights: Sequence[float] = (10.0, 10.0)  # per SAM frame (decoder_f2/f4_weight)
  equal_frame_weights: bool = False  # False = the official 1/16, 1/8, 1/4, 1/2
  detach_teacher: bool = False  # official: teachers receive gradients too


def clip_loss(forward: ClipForward, cfg: LossConfig, variables: Any, batch: dict,
              k_keep: jnp.ndarray) -> tuple[jnp.ndarray, dict[str, jnp.ndarray]]:
  """Returns (total loss, metrics) for a batch; `k_keep` = pixels kept by the bootstrapped CE."""
  out = forward(variables, batch)
  logits = out["logits"]  # (B, S, O+1, H, W) log-odds of frames 1..S
  b, s = logits.shape[:2]
  o = logits.shape[2] - 1
  if o == 2:  # clips without a second object: CE over channels [bg, obj1] only
    has_second = batch["selector"][:, 1] > 0.5
    channel = jnp.arange(3)[None, :, None, None]
    drop = (~has_second)[:, None, None, None] & (channel == 2)
  weights = losses.frame_weights(s, cfg.equal_frame_weights)
  metrics: dict[str, jnp.ndarray] = {}
  total = jnp.float32(0.0)
  for i in range(s):
    lg = logits[:, i]
    if o == 2:
      lg = jnp.where(drop, -jnp.inf, lg)
    ce = losses.bootstrapped_ce(lg, batch["cls_gt"][:, i + 1], k_keep)
    metrics[f"loss_{i + 1}"] = ce
    total = total + weights[i] * ce
  kl = lambda st, te: losses.kl_divergence(st, te, detach_teacher=cfg.detach_teacher)
  mc = sum(kl(out["value_ref"][:, j], out["value_gt"][:, j]) for j in range(o))
  metrics["klloss_loss"] = cfg.lambda_mc * mc
  total = total + metrics["klloss_loss"]
  sam_frames = forward.sam_frames
  for i, (frame, lam) in enumerate(zip(sam_frames, cfg.guidance_weights)):
    # out["readout_*"][i]: frame sam_frames[i]'s readouts (B,O,h,w,2Cv)
    g = sum(kl(out["readout_sam"][i][:, j], out["readout_stm"][i][:, j]) for j in range(o))
    metrics[f"df{frame}_distillation"] = lam * g
    total = total + metrics[f"df{frame}_distillation"]
  metrics["total_loss"] = total
  metrics.update(_iou_counts(logits, batch, o))
  return total, metrics


def _iou_counts(logits: jnp.ndarray, batch: dict, o: int) -> dict[str, jnp.ndarray]:
  """Intersection / union pixel counts of (prob > 0.5) vs GT over batch and frames 1..S."""
  prob = jax.lax.stop_gradient(jax.nn.softmax(logits, axis=2))
  res = {}
  names = [("gt", "")] + ([("sec_gt", "sec_")] if o == 2 else [])
  for j, (key, prefix) in enumerate(names):
    pred = prob[:, :, j + 1] > 0.5
    gt = batch[key][:, 1:] > 0.5
    res[f"iou/{prefix}i"] = jnp.sum(pred & gt).astype(jnp.float32)
    res[f"iou/{prefix}u"] = jnp.sum(pred | gt).astype(jnp.float32)
  return res
