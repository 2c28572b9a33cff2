"""The PyTorch twin of our training step: the official clip forward, losses, backward and Adam.

    step = TwinTrainStep(TwinNetwork.from_variables(variables, arch), stage=2, lr=2e-5)
    metrics = step(batch, k_keep)          # batch: our pipeline's NHWC numpy dict

Mirrors `rde_jax/train/clip_forward.py` + `clip_loss.py` (official `model/model.py
RDE_VOSModel.do_pass` with the network of `model/network.py`, `model/losses.py`): the key encoder
over every frame, the STM branch (full-softmax read of the growing bank), the RDE recurrence
(SAM compression of [RDE; previous frame] from frame 2 on), the SAM branch on frames 2 and 4
(its logits replace the STM ones; its readout distilled towards the STM readout), bootstrapped
CE with the official frame weights, the mask-consistency and guidance KL terms, then
`backward()` and Adam with coupled L2 weight decay. BatchNorm statistics stay frozen (eval).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def _nchw(x: np.ndarray) -> torch.Tensor:
  return torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.asarray(x, np.float32), -1, -3)))


def soft_readout(mk: torch.Tensor, mv: torch.Tensor, qk: torch.Tensor) -> torch.Tensor:
  """mk (B,Ck,M), mv (B,O,Cv,M), qk (B,Ck,Q) -> (B,O,Cv,Q): softmax over M of the L2 affinity."""
  a = mk.pow(2).sum(1).unsqueeze(2)  # (B,M,1)
  aff = (2 * torch.bmm(mk.transpose(1, 2), qk) - a) / math.sqrt(mk.shape[1])  # (B,M,Q)
  w = torch.softmax(aff, dim=1)
  return torch.einsum("bocm,bmq->bocq", mv, w)


def aggregate(probs: torch.Tensor) -> torch.Tensor:
  """probs (B,O,H,W) -> log-odds (B,O+1,H,W), background first (STM soft aggregation)."""
  q = torch.cat([torch.prod(1 - probs, 1, keepdim=True), probs], 1).clamp(1e-7, 1 - 1e-7)
  return torch.log(q / (1 - q))


def bootstrapped_ce(logits: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
  ce = F.cross_entropy(logits, labels.long(), reduction="none").flatten(1)
  return torch.topk(ce, k, dim=1, sorted=False)[0].mean(1).mean()


def kl(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
  """KLDivLoss(log_softmax(s), softmax(t), reduction='mean') over channels (dim 1)."""
  return F.kl_div(F.log_softmax(student, 1), F.softmax(teacher, 1), reduction="mean")


class TwinTrainStep:
  """One training step of the twin network (stage 0: 1 object, no SAM; 2: 2 objects, SAM)."""

  def __init__(self, net: Any, *, stage: int, lr: float = 2e-5, weight_decay: float = 1e-7,
               lambda_mc: float = 10.0, guidance: tuple[float, ...] = (10.0, 10.0),
               equal_frame_weights: bool = False):
    self.net = net.train()
    for m in net.modules():
      if isinstance(m, torch.nn.BatchNorm2d):
        m.eval()  # frozen statistics, as the official training
    self.stage = stage
    self.sam_frames = () if stage == 0 else (2, 4)
    self.lambda_mc = lambda_mc
    self.equal_frame_weights = equal_frame_weights  # True: 1/S each (not official)
    self.guidance = () if stage == 0 else guidance
    self.opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)

  def _value(self, image, f16, masks):
    """image (B,3,H,W), f16 (B,Cf,h,w), masks (B,O,H,W) -> (B,O,Cv,h,w)."""
    b, o = masks.shape[:2]
    own = masks.reshape(b * o, 1, *masks.shape[2:])
    others = (masks.sum(1, keepdim=True) - masks).reshape(own.shape)
    v = self.net.value_encoder(image.repeat_interleave(o, 0), f16.repeat_interleave(o, 0), own,
                               others)
    return v.view(b, o, *v.shape[1:])

  def _segment(self, f, mk, mv, selector):
    """-> log-odds (B,O+1,H,W), masks (B,O,H,W), decoder input (B,O,2Cv,h,w)."""
    b, ck, h, w = f["k16"].shape
    o = mv.shape[1]
    ro = soft_readout(mk, mv, f["k16"].flatten(2)).view(b, o, -1, h, w)
    dec_in = torch.cat([ro, f["qv16"][:, None].expand(-1, o, -1, -1, -1)], 2)
    rep = lambda x: x.repeat_interleave(o, 0)
    x = self.net.decoder.compress(dec_in.flatten(0, 1))
    d = self.net.decoder
    x = d.up_8_4(rep(f["f4"]), d.up_16_8(rep(f["f8"]), x))
    logits = F.interpolate(d.pred(F.relu(x)), scale_factor=4, mode="bilinear",
                           align_corners=False)
    probs = torch.sigmoid(logits[:, 0]).view(b, o, *logits.shape[2:]) * selector[:, :, None, None]
    log_odds = aggregate(probs)
    return log_odds, torch.softmax(log_odds, 1)[:, 1:], dec_in

  def forward_loss(self, batch: dict[str, np.ndarray], k_keep: int) -> tuple[torch.Tensor, dict]:
    frames = batch["rgb"]
    if frames.dtype == np.uint8:  # normalised here, as our step does inside the jit
      from rde_jax.model.imagenet import normalize
      frames = normalize(frames)
    rgb = torch.from_numpy(np.ascontiguousarray(np.moveaxis(frames, -1, 2)))  # (B,T,3,H,W)
    b, t_len = rgb.shape[:2]
    feats = self.net.encode_key(rgb.flatten(0, 1))
    feats = {k: v.view(b, t_len, *v.shape[1:]) for k, v in feats.items()}
    t = lambda x: torch.from_numpy(np.asarray(x, np.float32))
    if self.stage == 0:
      gt0, pgt = t(batch["gt"])[:, :1], t(batch["pgt"])[:, None]
      selector = torch.ones(b, 1)
    else:
      gt0 = torch.stack([t(batch["gt"])[:, 0], t(batch["sec_gt"])[:, 0]], 1)
      pgt = torch.stack([t(batch["pgt"]), t(batch["sec_pgt"])], 1)
      selector = t(batch["selector"])
    v_ref = self._value(rgb[:, 0], feats["f16"][:, 0], pgt)
    v_gt = self._value(rgb[:, 0], feats["f16"][:, 0], gt0)
    keys, values = [feats["k16"][:, 0]], [v_ref]
    rde_k, rde_v, prev_v = feats["k16"][:, 0], v_ref, v_ref
    o = v_ref.shape[1]
    logits_all, readouts = [], {}
    for i in range(1, t_len):
      f = {k: v[:, i] for k, v in feats.items()}
      mk = torch.stack(keys, 2).flatten(2)  # (B,Ck,T*h*w)
      mv = torch.stack(values, 3).flatten(3)  # (B,O,Cv,T*h*w)
      logits, masks, r_stm = self._segment(f, mk, mv, selector)
      if self.sam_frames and i >= 2:
        key2 = torch.stack([rde_k, feats["k16"][:, i - 1]], 2)  # (B,Ck,2,h,w)
        val2 = torch.stack([rde_v, prev_v], 3).flatten(0, 1)  # (B*O,Cv,2,h,w)
        nk, nv = self.net.mem_compress(key2, val2)
        rde_k, rde_v = nk[:, :, 0], nv[:, :, 0].view(b, o, *nv.shape[1:2], *nv.shape[3:])
      if i in self.sam_frames:
        lg, _, r_sam = self._segment(f, rde_k.flatten(2), rde_v.flatten(3), selector)
        readouts[i] = (r_sam, r_stm)
        logits = lg
      logits_all.append(logits)
      if i < t_len - 1:
        prev_v = self._value(rgb[:, i], f["f16"], masks)
        keys.append(f["k16"])
        values.append(prev_v)
    cls_gt = torch.from_numpy(np.asarray(batch["cls_gt"]))
    s = len(logits_all)
    metrics, total = {}, 0.0
    for i, lg in enumerate(logits_all):
      if o == 2:
        drop = (selector[:, 1] < 0.5)[:, None, None, None] & (
            torch.arange(3)[None, :, None, None] == 2)
        lg = lg.masked_fill(drop, -math.inf)
      ce = bootstrapped_ce(lg, cls_gt[:, i + 1], k_keep)
      metrics[f"loss_{i + 1}"] = ce
      total = total + (1.0 / s if self.equal_frame_weights else 2.0 ** -(s - i)) * ce
    mc = sum(kl(v_ref[:, j], v_gt[:, j]) for j in range(o))
    metrics["klloss_loss"] = self.lambda_mc * mc
    total = total + metrics["klloss_loss"]
    for frame, lam in zip(self.sam_frames, self.guidance):
      r_sam, r_stm = readouts[frame]
      g = sum(kl(r_sam[:, j], r_stm[:, j]) for j in range(o))
      metrics[f"df{frame}_distillation"] = lam * g
      total = total + metrics[f"df{frame}_distillation"]
    metrics["total_loss"] = total
    return total, metrics

  def __call__(self, batch: dict[str, np.ndarray], k_keep: int) -> dict[str, float]:
    """Forward, backward and one Adam update; the metrics as floats."""
    self.opt.zero_grad(set_to_none=True)
    total, metrics = self.forward_loss(batch, k_keep)
    total.backward()
    self.opt.step()
    return {k: float(v.detach()) for k, v in metrics.items()}
