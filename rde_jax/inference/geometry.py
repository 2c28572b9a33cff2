"""Frame geometry around the network: normalisation, padding (official or shape buckets),
on-device resize / un-pad / argmax.

    geo = Geometry.make((480, 854), work_size=None, padded_size=None)  # pads ((0,0),(5,5))
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rde_jax.inference import resize
from rde_jax.model import imagenet


def pad_amounts(size: int, multiple: int = 16, target: int | None = None) -> tuple[int, int]:
  """Padding of one side length: (before, after).

  Official: up to the next multiple, split (floor(d/2), d - floor(d/2)). With `target` (a
  shape-bucket size >= that multiple) the official `before` is kept and the rest goes after, so
  the image sits on the same 16-px grid as officially; only the extra zeros differ.
  """
  d = (-size) % multiple
  before = d // 2
  if target is None:
    return before, d - before
  if target % multiple or target < size + d:
    raise ValueError(f"padded size {target} must be a multiple of {multiple} and >= {size + d}")
  return before, target - size - before


def prepare_frames(frames: jnp.ndarray, rh: jnp.ndarray | None, rw: jnp.ndarray | None, *,
                   pads: tuple[tuple[int, int], tuple[int, int]]) -> jnp.ndarray:
  """uint8 (C,H,W,3) -> normalised, resized if rh (h,H) / rw (w,W) are given, zero-padded
  (C,Hp,Wp,3) float32."""
  x = imagenet.normalize(frames)
  if rh is not None:
    hi = jax.lax.Precision.HIGHEST
    x = jnp.einsum("ah,chwk->cawk", rh, x, precision=hi)
    x = jnp.einsum("bw,cawk->cabk", rw, x, precision=hi)
  return jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))


def finish_probs(probs: jnp.ndarray, uh: jnp.ndarray | None, uw: jnp.ndarray | None, *,
                 crop: tuple[tuple[int, int], tuple[int, int]], labels: bool) -> jnp.ndarray:
  """(C,K+1,Hp,Wp) -> un-padded, optionally resized (uh (H,h), uw (W,w)) (C,K+1,H,W) float32,
  or its argmax (C,H,W) uint8 when `labels`. crop = ((top, h), (left, w))."""
  (top, h), (left, w) = crop
  p = probs[:, :, top:top + h, left:left + w]
  if uh is not None:
    hi = jax.lax.Precision.HIGHEST
    p = jnp.einsum("ah,ckhw->ckaw", uh, p, precision=hi)
    p = jnp.einsum("bw,ckaw->ckab", uw, p, precision=hi)
  return jnp.argmax(p, axis=1).astype(jnp.uint8) if labels else p


@dataclasses.dataclass(frozen=True)
class Geometry:
  """Frame size (H,W), working size (h,w), padding ((top,bottom),(left,right)) and un-pad crop."""
  size: tuple[int, int]
  work: tuple[int, int]
  pads: tuple[tuple[int, int], tuple[int, int]]

  @classmethod
  def make(cls, size: tuple[int, int], work_size: tuple[int, int] | None = None,
           padded_size: tuple[int, int] | None = None) -> "Geometry":
    size = (int(size[0]), int(size[1]))
    work = tuple(int(x) for x in work_size) if work_size else size
    ph, pw = padded_size or (None, None)
    return cls(size, work, (pad_amounts(work[0], target=ph), pad_amounts(work[1], target=pw)))

  @property
  def padded(self) -> tuple[int, int]:
    return (self.work[0] + sum(self.pads[0]), self.work[1] + sum(self.pads[1]))

  @property
  def crop(self) -> tuple[tuple[int, int], tuple[int, int]]:
    return ((self.pads[0][0], self.work[0]), (self.pads[1][0], self.work[1]))

  def matrices(self, engine: Any) -> tuple[Any, Any, Any, Any]:
    """Device resize matrices (in: rh, rw bicubic; out: uh, uw bilinear), Nones at native size."""
    if self.work == self.size:
      return None, None, None, None
    (hh, ww), (h, w) = self.size, self.work
    return (engine.put(resize.bicubic_matrix(hh, h)), engine.put(resize.bicubic_matrix(ww, w)),
            engine.put(resize.bilinear_matrix(h, hh)), engine.put(resize.bilinear_matrix(w, ww)))

  def labels_to_work(self, labels: np.ndarray) -> np.ndarray:
    """(H,W) ids -> (h,w) ids with PyTorch's nearest rule (`resize.nearest_labels`)."""
    if self.work == self.size:
      return labels
    return resize.nearest_labels(labels, self.work)

  def onehot(self, labels: np.ndarray, num_objects: int) -> np.ndarray:
    """(h,w) ids -> padded (K,Hp,Wp) float32 one-hot of ids 1..K."""
    onehot = np.stack([labels == i for i in range(1, num_objects + 1)]).astype(np.float32)
    return np.pad(onehot, ((0, 0),) + self.pads)
