"""Image/mask augmentations of the official training data, with Pillow and numpy.

The official transforms are in `dataset/vos_dataset.py` and `dataset/static_dataset.py`
(`VOSDataset.__init__`, `StaticTransformDataset.__init__`); the thin-plate-spline warp is in
`tps.py` here.

Each random transform is split into `sample_*` (draws parameters from a numpy Generator) and
an apply function, so one draw can be applied to all frames of a clip (per-sequence transforms)
or to an image and its mask alike. Images are PIL `RGB`, masks PIL `L` (ids or 0..255).
Parameter conventions follow torchvision's RandomAffine / RandomResizedCrop / ColorJitter /
RandomGrayscale; the code is our own.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageEnhance

from rde_jax.model.imagenet import IMAGENET_MEAN, IMAGENET_STD

IM_MEAN_FILL = (124, 116, 104)  # fill colour of affine ops (ImageNet mean in 0..255)

BICUBIC, NEAREST = Image.Resampling.BICUBIC, Image.Resampling.NEAREST


def normalize(rgb: np.ndarray) -> np.ndarray:
  """(..., 3) uint8 -> float32 `(x/255 - mean) / std` with ImageNet statistics (float32 ops)."""
  out = rgb.astype(np.float32)
  out /= np.float32(255.0)
  out -= IMAGENET_MEAN
  out /= IMAGENET_STD
  return out


# --- affine ----------------------------------------------------------------------------------
class AffineParams(NamedTuple):
  angle: float  # degrees
  scale: float
  shear: float  # degrees, along x


def sample_affine(rng: np.random.Generator, degrees: float = 0.0,
                  scale: tuple[float, float] | None = None, shear: float = 0.0) -> AffineParams:
  angle = rng.uniform(-degrees, degrees) if degrees else 0.0
  s = rng.uniform(*scale) if scale is not None else 1.0
  sh = rng.uniform(-shear, shear) if shear else 0.0
  return AffineParams(float(angle), float(s), float(sh))


def _inverse_coeffs(p: AffineParams, size: tuple[int, int]) -> tuple[float, ...]:
  """PIL AFFINE coefficients (output -> input) of rotation·shear·scale about the image centre."""
  w, h = size
  a, sh = math.radians(p.angle), math.radians(p.shear)
  rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
  forward = rot @ np.array([[1.0, math.tan(sh)], [0.0, 1.0]]) * p.scale
  inv = np.linalg.inv(forward)
  c = np.array([w * 0.5, h * 0.5])
  offset = c - inv @ c
  return (inv[0, 0], inv[0, 1], offset[0], inv[1, 0], inv[1, 1], offset[1])


def apply_affine(img: Image.Image, p: AffineParams, resample: Image.Resampling,
                 fill) -> Image.Image:
  if p == AffineParams(0.0, 1.0, 0.0):
    return img
  return img.transform(img.size, Image.Transform.AFFINE, _inverse_coeffs(p, img.size),
                       resample=resample, fillcolor=fill)


# --- crops, flips, resizes -------------------------------------------------------------------
def sample_resized_crop(rng: np.random.Generator, height: int, width: int,
                        scale: tuple[float, float],
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
  """(top, left, h, w) of a random area fraction `scale` and aspect `ratio` (10 tries,
  then the centred crop clamped to `ratio`), as torchvision's RandomResizedCrop."""
  area = height * width
  log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
  for _ in range(10):
    target = area * rng.uniform(*scale)
    aspect = math.exp(rng.uniform(*log_ratio))
    w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
    if 0 < w <= width and 0 < h <= height:
      return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
  in_ratio = width / height
  if in_ratio < min(ratio):
    w, h = width, int(round(width / min(ratio)))
  elif in_ratio > max(ratio):
    h, w = height, int(round(height * max(ratio)))
  else:
    h, w = height, width
  return (height - h) // 2, (width - w) // 2, h, w


def resized_crop(img: Image.Image, box: tuple[int, int, int, int], size: int,
                 resample) -> Image.Image:
  top, left, h, w = box
  return img.resize((size, size), resample, box=(left, top, left + w, top + h))


def resize_short_side(img: Image.Image, size: int, resample) -> Image.Image:
  w, h = img.size
  if min(w, h) == size:
    return img
  if w <= h:
    return img.resize((size, max(1, int(size * h / w))), resample)
  return img.resize((max(1, int(size * w / h)), size), resample)


def _padded(height: int, width: int, size: int) -> tuple[int, int]:
  """Size after pad_if_needed: (size - side) is added on *both* sides of a short side."""
  return height + 2 * max(size - height, 0), width + 2 * max(size - width, 0)


def sample_crop(rng: np.random.Generator, height: int, width: int, size: int) -> tuple[int, int]:
  """(top, left) of a random `size` crop of the (padded if needed) image."""
  ph, pw = _padded(height, width, size)
  return int(rng.integers(0, ph - size + 1)), int(rng.integers(0, pw - size + 1))


def pad_crop(img: Image.Image, top: int, left: int, size: int, fill) -> Image.Image:
  """`size` x `size` crop at (top, left) of the image padded with `fill` as
  RandomCrop(pad_if_needed)."""
  w, h = img.size
  ph, pw = _padded(h, w, size)
  if (ph, pw) != (h, w):
    canvas = Image.new(img.mode, (pw, ph), fill)
    canvas.paste(img, ((pw - w) // 2, (ph - h) // 2))
    img = canvas
  return img.crop((left, top, left + size, top + size))


def hflip(img: Image.Image) -> Image.Image:
  return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


# --- colour ----------------------------------------------------------------------------------
class JitterParams(NamedTuple):
  order: tuple[int, ...]  # permutation of (brightness, contrast, saturation, hue)
  factors: tuple[float, float, float, float]


def sample_jitter(rng: np.random.Generator, brightness: float = 0.0, contrast: float = 0.0,
                  saturation: float = 0.0, hue: float = 0.0) -> JitterParams:
  """Factors U[max(0, 1-x), 1+x] (hue: U[-h, h]) applied in a random order, as ColorJitter."""
  f = tuple(float(rng.uniform(max(0.0, 1 - x), 1 + x)) if x else 1.0
            for x in (brightness, contrast, saturation))
  h = float(rng.uniform(-hue, hue)) if hue else 0.0
  return JitterParams(tuple(int(i) for i in rng.permutation(4)), f + (h,))


def _adjust_hue(img: Image.Image, shift: float) -> Image.Image:
  h, s, v = img.convert("HSV").split()
  h = Image.fromarray((np.asarray(h, np.uint8) + np.uint8(int(shift * 255) % 256)).astype(np.uint8),
                      "L")
  return Image.merge("HSV", (h, s, v)).convert("RGB")


def apply_jitter(img: Image.Image, p: JitterParams) -> Image.Image:
  for i in p.order:
    f = p.factors[i]
    if i == 3:
      img = _adjust_hue(img, f) if f else img
    elif f != 1.0:
      enhancer = (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color)[i]
      img = enhancer(img).enhance(f)
  return img


def grayscale(img: Image.Image) -> Image.Image:
  return img.convert("L").convert("RGB")
