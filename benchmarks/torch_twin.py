"""A PyTorch twin of the RDE-VOS network, computed the way the official PyTorch code computes it.

Written from our network description (docs and the Flax modules in `rde_jax/`), not copied:
NCHW tensors, `nn.Conv3d` in SAM, the frame and the key features repeated for every object in
the value encoder, qv16 repeated for every object in the decoder, the non-local block as
(theta phi^T / n') g, and the top-k read as a dense (THW, HW) affinity over the four memory slots
[RDE, last, first, first] (official `model/eval_network.py`, `inference_memory_bank.py`).
Parameter names are the official state-dict keys, so the weights of any rde-jax model load
with `load_state_dict(rde_jax.convert.to_torch_state_dict(variables), strict=True)`.

Only used by `benchmarks/side_by_side.py` and its test; torch is an optional extra.

    twin = TwinNetwork.from_variables(variables, arch)
    feats = twin.encode_key(image_nchw)            # dict k16, qv16, f16, f8, f4 (NCHW)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rde_jax.convert import to_torch_state_dict
from rde_jax.model.architectures import Arch


def _conv(i: int, o: int, k: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
  return nn.Conv2d(i, o, k, stride=stride, padding=k // 2, bias=bias)


class Bottleneck(nn.Module):
  """torchvision ResNet v1.5 bottleneck (stride on the 3x3 conv), no conv biases."""

  def __init__(self, i: int, planes: int, stride: int, downsample: bool):
    super().__init__()
    self.conv1, self.bn1 = _conv(i, planes, 1, bias=False), nn.BatchNorm2d(planes)
    self.conv2, self.bn2 = _conv(planes, planes, 3, stride, False), nn.BatchNorm2d(planes)
    self.conv3, self.bn3 = _conv(planes, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4)
    self.downsample = (nn.Sequential(_conv(i, planes * 4, 1, stride, False),
                                     nn.BatchNorm2d(planes * 4)) if downsample else None)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    out = F.relu(self.bn1(self.conv1(x)))
    out = F.relu(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class BasicBlock(nn.Module):
  """ResNet-18 basic block with conv biases (the official `mod_resnet`)."""

  def __init__(self, i: int, planes: int, stride: int, downsample: bool):
    super().__init__()
    self.conv1, self.bn1 = _conv(i, planes, 3, stride), nn.BatchNorm2d(planes)
    self.conv2, self.bn2 = _conv(planes, planes, 3), nn.BatchNorm2d(planes)
    self.downsample = (nn.Sequential(_conv(i, planes, 1, stride), nn.BatchNorm2d(planes))
                       if downsample else None)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
    return F.relu(out + (x if self.downsample is None else self.downsample(x)))


def _stage(block: type, i: int, planes: int, blocks: int, stride: int,
           expansion: int) -> tuple[nn.Sequential, int]:
  layers = []
  for b in range(blocks):
    first = b == 0
    layers.append(block(i, planes, stride if first else 1,
                        first and (stride != 1 or i != planes * expansion)))
    i = planes * expansion
  return nn.Sequential(*layers), i


class KeyEncoder(nn.Module):
  """ResNet-50 stem + layer1..3 (layer1 registered as `res2`): -> f16, f8, f4."""

  def __init__(self, a: Arch):
    super().__init__()
    self.conv1, self.bn1 = _conv(3, a.key_stem, 7, 2, False), nn.BatchNorm2d(a.key_stem)
    i = a.key_stem
    self.res2, i = _stage(Bottleneck, i, a.key_planes[0], a.key_blocks[0], 1, 4)
    self.layer2, i = _stage(Bottleneck, i, a.key_planes[1], a.key_blocks[1], 2, 4)
    self.layer3, i = _stage(Bottleneck, i, a.key_planes[2], a.key_blocks[2], 2, 4)

  def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
    f4 = self.res2(x)
    f8 = self.layer2(f4)
    return self.layer3(f8), f8, f4


class ResBlock(nn.Module):
  """Pre-activation ResBlock; a 3x3 `downsample` conv on the raw input when widths differ."""

  def __init__(self, i: int, o: int):
    super().__init__()
    self.conv1, self.conv2 = _conv(i, o, 3), _conv(o, o, 3)
    self.downsample = _conv(i, o, 3) if i != o else None

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    r = self.conv2(F.relu(self.conv1(F.relu(x))))
    return (x if self.downsample is None else self.downsample(x)) + r


class ChannelGate(nn.Module):
  def __init__(self, c: int, reduction: int):
    super().__init__()
    self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(c, c // reduction), nn.ReLU(),
                             nn.Linear(c // reduction, c))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    att = self.mlp(F.adaptive_avg_pool2d(x, 1)) + self.mlp(F.adaptive_max_pool2d(x, 1))
    return x * torch.sigmoid(att)[:, :, None, None]


class _Spatial(nn.Module):
  def __init__(self):
    super().__init__()
    self.conv = _conv(2, 1, 7)


class SpatialGate(nn.Module):
  def __init__(self):
    super().__init__()
    self.spatial = _Spatial()

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    pooled = torch.cat([x.max(1, keepdim=True)[0], x.mean(1, keepdim=True)], 1)
    return x * torch.sigmoid(self.spatial.conv(pooled))


class CBAM(nn.Module):
  def __init__(self, c: int, reduction: int):
    super().__init__()
    self.ChannelGate, self.SpatialGate = ChannelGate(c, reduction), SpatialGate()

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.SpatialGate(self.ChannelGate(x))


class FeatureFusionBlock(nn.Module):
  def __init__(self, i: int, o: int, reduction: int):
    super().__init__()
    self.block1, self.attention, self.block2 = ResBlock(i, o), CBAM(o, reduction), ResBlock(o, o)

  def forward(self, x: torch.Tensor, f16: torch.Tensor) -> torch.Tensor:
    x = self.block1(torch.cat([x, f16], 1))
    return self.block2(x + self.attention(x))


class ValueEncoder(nn.Module):
  """ResNet-18 on [RGB, mask, others] per object + the fuser with the key's f16."""

  def __init__(self, a: Arch):
    super().__init__()
    self.conv1 = _conv(a.value_in_channels, a.value_stem, 7, 2)
    self.bn1 = nn.BatchNorm2d(a.value_stem)
    i = a.value_stem
    self.layer1, i = _stage(BasicBlock, i, a.value_planes[0], a.value_blocks[0], 1, 1)
    self.layer2, i = _stage(BasicBlock, i, a.value_planes[1], a.value_blocks[1], 2, 1)
    self.layer3, i = _stage(BasicBlock, i, a.value_planes[2], a.value_blocks[2], 2, 1)
    self.fuser = FeatureFusionBlock(i + a.f16_dim, a.value_dim, a.cbam_reduction)
    self.in_channels = a.value_in_channels

  def forward(self, image: torch.Tensor, f16: torch.Tensor, masks: torch.Tensor,
              others: torch.Tensor) -> torch.Tensor:
    """image (1,3,H,W), f16 (1,Cf,h,w), masks/others (N,1,H,W) -> (N,Cv,h,w)."""
    n = masks.shape[0]
    parts = [image.expand(n, -1, -1, -1), masks]
    if self.in_channels == 5:
      parts.append(others)
    x = F.max_pool2d(F.relu(self.bn1(self.conv1(torch.cat(parts, 1)))), 3, 2, 1)
    x = self.layer3(self.layer2(self.layer1(x)))
    return self.fuser(x, f16.expand(n, -1, -1, -1))


class UpsampleBlock(nn.Module):
  def __init__(self, skip_c: int, up_c: int, out_c: int):
    super().__init__()
    self.skip_conv, self.out_conv = _conv(skip_c, up_c, 3), ResBlock(up_c, out_c)

  def forward(self, skip: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    up = F.interpolate(up, scale_factor=2, mode="bilinear", align_corners=False)
    return self.out_conv(self.skip_conv(skip) + up)


class Decoder(nn.Module):
  def __init__(self, a: Arch):
    super().__init__()
    v, (d0, d1) = a.value_dim, a.decoder_dims
    self.compress = ResBlock(2 * v, v)
    self.up_16_8, self.up_8_4 = UpsampleBlock(a.key_planes[1] * 4, v, d0), UpsampleBlock(
        a.key_planes[0] * 4, d0, d1)
    self.pred = _conv(d1, 1, 3)

  def forward(self, readout: torch.Tensor, qv16: torch.Tensor, f8: torch.Tensor,
              f4: torch.Tensor) -> torch.Tensor:
    """readout (N,Cv,h,w), qv16/f8/f4 batch 1 -> logits (N,1,H,W)."""
    x = self.compress(torch.cat([readout, qv16.expand(readout.shape[0], -1, -1, -1)], 1))
    x = self.up_8_4(f4, self.up_16_8(f8, x))
    x = self.pred(F.relu(x))
    return F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)


def _conv3d(i: int, o: int, k: tuple[int, int, int], pad: tuple[int, int, int] = (0, 0, 0),
            dil: int = 1, bias: bool = True) -> nn.Conv3d:
  return nn.Conv3d(i, o, k, padding=pad, dilation=(1, dil, dil), bias=bias)


class NonLocal(nn.Module):
  """Dot-product non-local block with (1,2,2) max-pool sub-sampling, divided by n', no norm."""

  def __init__(self, c: int):
    super().__init__()
    inter = c // 2
    self.theta = _conv3d(c, inter, (1, 1, 1))
    self.phi = nn.Sequential(_conv3d(c, inter, (1, 1, 1)), nn.MaxPool3d((1, 2, 2)))
    self.g = nn.Sequential(_conv3d(c, inter, (1, 1, 1)), nn.MaxPool3d((1, 2, 2)))
    self.W = _conv3d(inter, c, (1, 1, 1))

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    b, c = x.shape[:2]
    theta = self.theta(x).view(b, c // 2, -1).permute(0, 2, 1)  # (B, n, C/2)
    phi = self.phi(x).view(b, c // 2, -1)  # (B, C/2, n')
    g = self.g(x).view(b, c // 2, -1).permute(0, 2, 1)  # (B, n', C/2)
    f = torch.matmul(theta, phi) / phi.shape[-1]
    y = torch.matmul(f, g).permute(0, 2, 1).reshape(b, c // 2, *x.shape[2:])
    return self.W(y) + x


class _Atrous(nn.Module):
  def __init__(self, c: int, mid: int, rate: int):
    super().__init__()
    k = (1, 1, 1) if rate == 1 else (1, 3, 3)
    pad = (0, 0, 0) if rate == 1 else (0, rate, rate)
    self.atrous_conv = _conv3d(c, mid, k, pad, rate, bias=False)


class ASPP3D(nn.Module):
  def __init__(self, c: int):
    super().__init__()
    for i, rate in enumerate((1, 2, 4, 6)):
      setattr(self, f"aspp{i + 1}", _Atrous(c, c // 4, rate))
    self.conv1 = _conv3d(c, c, (1, 3, 3), (0, 1, 1), bias=False)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    y = torch.cat([F.relu(getattr(self, f"aspp{i}").atrous_conv(x)) for i in range(1, 5)], 1)
    return F.relu(self.conv1(y))


class SAM(nn.Module):
  def __init__(self, c: int):
    super().__init__()
    self.non_local, self.conv1 = NonLocal(c), ASPP3D(c)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    z = self.non_local(x)
    return z + self.conv1(z)


class MemCompress(nn.Module):
  """[RDE ; new] (B,C,2,h,w) -> SAM -> Conv3d (2,3,3) -> (B,C,1,h,w), for keys and values."""

  def __init__(self, a: Arch):
    super().__init__()
    self.key_encoder, self.value_encoder = SAM(a.key_dim), SAM(a.value_dim)
    self.compress_key = _conv3d(a.key_dim, a.key_dim, (2, 3, 3), (0, 1, 1))
    self.compress_value = _conv3d(a.value_dim, a.value_dim, (2, 3, 3), (0, 1, 1))

  def forward(self, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return (self.compress_key(self.key_encoder(key)),
            self.compress_value(self.value_encoder(value)))


class TwinNetwork(nn.Module):
  """The whole network; state-dict keys are the official ones."""

  def __init__(self, arch: Arch):
    super().__init__()
    a = arch
    self.arch = a
    self.key_encoder = KeyEncoder(a)
    self.key_proj = nn.Module()
    self.key_proj.key_proj = _conv(a.f16_dim, a.key_dim, 3)
    self.key_comp = _conv(a.f16_dim, a.value_dim, 3)
    self.value_encoder = ValueEncoder(a)
    self.decoder = Decoder(a)
    if a.with_mem_compress:
      self.mem_compress = MemCompress(a)

  @classmethod
  def from_variables(cls, variables: Any, arch: Arch) -> "TwinNetwork":
    """Builds the twin (eval mode, float32) and loads rde-jax variables through the converter."""
    net = cls(arch)
    sd = {k: torch.from_numpy(np.array(v)) for k, v in to_torch_state_dict(variables).items()}
    net.load_state_dict(sd, strict=True)
    return net.eval()

  def encode_key(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """image (1,3,H,W) -> k16, qv16, f16, f8, f4."""
    f16, f8, f4 = self.key_encoder(image)
    return {"k16": self.key_proj.key_proj(f16), "qv16": self.key_comp(f16), "f16": f16,
            "f8": f8, "f4": f4}

  def value(self, image: torch.Tensor, f16: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Soft object probabilities (N,H,W) -> values (N,Cv,h,w) (others = sum of the rest)."""
    masks = probs[:, None]
    return self.value_encoder(image, f16, masks, masks.sum(0, keepdim=True) - masks)


def read(mem_k: torch.Tensor, mem_v: torch.Tensor, k16: torch.Tensor, top_k: int) -> torch.Tensor:
  """Top-k read: mem_k (1,Ck,T,h,w), mem_v (N,Cv,T,h,w), k16 (1,Ck,h,w) -> (N,Cv,h,w).

  Official `inference_memory_bank.py` (get_affinity, softmax_w_top, readout): a dense
  (T*h*w, h*w) affinity, top-k along the memory axis, the rest set to zero, one matmul. The max
  is subtracted before exp (the official code does not; the same weights, without underflow).
  """
  ck = mem_k.shape[1]
  mk, qk = mem_k.flatten(2), k16.flatten(2)  # (1,Ck,THW), (1,Ck,HW)
  a = mk.pow(2).sum(1).unsqueeze(2)
  aff = (2 * torch.bmm(mk.transpose(1, 2), qk) - a) / math.sqrt(ck)  # (1,THW,HW)
  values, idx = torch.topk(aff, k=min(top_k, aff.shape[1]), dim=1)
  e = torch.exp(values - values.max(1, keepdim=True)[0])
  aff = torch.zeros_like(aff).scatter_(1, idx, e / e.sum(1, keepdim=True))
  out = torch.matmul(mem_v.flatten(2), aff)  # (N,Cv,THW) @ (1,THW,HW)
  return out.view(mem_v.shape[0], mem_v.shape[1], *k16.shape[2:])


def aggregate(probs: torch.Tensor) -> torch.Tensor:
  """STM soft aggregation: object probabilities (N,H,W) -> (N+1,H,W), background first."""
  q = torch.cat([torch.prod(1 - probs, 0, keepdim=True), probs], 0).clamp(1e-7, 1 - 1e-7)
  return torch.softmax(torch.log(q / (1 - q)), 0)


class TwinPropagator:
  """The official `two-frames-compress` memory: reads [RDE, last, first, first].

  State tensors: keys (1,Ck,1,h,w), values (N,Cv,1,h,w). Frames (1,3,H,W) normalised and padded.
  """

  def __init__(self, net: TwinNetwork, top_k: int = 40):
    self.net, self.top_k = net, top_k
    self.state: dict[str, torch.Tensor] = {}
    self.updated = False

  @torch.inference_mode()
  def init(self, frame: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    """frame (1,3,H,W), onehot (N,H,W) -> aggregated first mask (N+1,H,W)."""
    prob = aggregate(onehot)
    feats = self.net.encode_key(frame)
    k, v = feats["k16"][:, :, None], self.net.value(frame, feats["f16"], prob[1:])[:, :, None]
    self.state = {"rde_k": k, "rde_v": v, "gt_k": k, "gt_v": v}
    self.updated = False
    return prob

  def memory(self) -> tuple[torch.Tensor, torch.Tensor]:
    """Memory keys (1,Ck,T,h,w) and values (N,Cv,T,h,w), T = 4 (2 before the first update)."""
    s = self.state
    names = ("rde", "last", "gt", "gt") if self.updated else ("rde", "gt")
    return (torch.cat([s[f"{n}_k"] for n in names], 2), torch.cat([s[f"{n}_v"] for n in names], 2))

  def add(self, frame: torch.Tensor, feats: dict[str, torch.Tensor],
          probs: torch.Tensor) -> None:
    """RDE update with this frame: value encoder, then SAM over [RDE ; new]."""
    k = feats["k16"][:, :, None]
    v = self.net.value(frame, feats["f16"], probs[1:])[:, :, None]
    s = self.state
    nk, nv = self.net.mem_compress(torch.cat([s["rde_k"], k], 2), torch.cat([s["rde_v"], v], 2))
    s.update(rde_k=nk, rde_v=nv, last_k=k, last_v=v)
    self.updated = True

  @torch.inference_mode()
  def step(self, frame: torch.Tensor, add_to_memory: bool) -> torch.Tensor:
    """One frame: encode, read, decode, aggregate (+ the RDE update) -> probs (N+1,H,W)."""
    feats = self.net.encode_key(frame)
    mk, mv = self.memory()
    readout = read(mk, mv, feats["k16"], self.top_k)
    logits = self.net.decoder(readout, feats["qv16"], feats["f8"], feats["f4"])
    probs = aggregate(torch.sigmoid(logits[:, 0]))
    if add_to_memory:
      self.add(frame, feats, probs)
    return probs


def to_nchw(x: Any) -> torch.Tensor:
  """(H,W,C) or (B,H,W,C) array -> (B,C,H,W) float32 tensor (a copy)."""
  x = np.asarray(x, np.float32)
  x = x[None] if x.ndim == 3 else x
  return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
