"""synthetic_vos: procedurally generated video object segmentation clips (numpy only).

Every video is a pure function of its seed. A low-saturation textured background pans slowly;
1..K saturated, textured objects (ellipses, polygons, stars, blobs) move on smooth periodic
paths, rotate and pulse in scale. Objects are painted back to front (fixed depth order), so
they occlude each other; wide paths carry them out of the frame and back in. Each object has
its own hue (spaced around the colour wheel) and stripe/checker/ring texture that moves with
it, so objects are distinguishable from the background and from each other, and every object
is visible in frame 0.

    frames, labels = generate_video(0, height=128, width=128, num_frames=24)
    frames: (T, H, W, 3) uint8;  labels: (T, H, W) uint8, 0 = background, 1..K objects.
"""

from __future__ import annotations

import colorsys
import dataclasses
import functools

import numpy as np
from PIL import Image

_SHAPES = ("ellipse", "polygon", "star", "blob")
_TEXTURES = ("stripes", "checker", "rings", "plain")


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
  """Knobs of the generator. Sizes in pixels, speeds in pixels per frame."""

  height: int = 128
  width: int = 128
  num_frames: int = 32
  min_objects: int = 1
  max_objects: int = 3
  min_radius: float = 0.12  # object radius range, as a fraction of min(H, W)
  max_radius: float = 0.24
  max_speed: float = 3.0  # peak speed of an object centre
  roam: tuple[float, float] = (0.08, 0.3)  # path amplitude range, fraction of the frame size
  wander_prob: float = 0.25  # chance of a wide path (amplitude 0.3..0.45) that may exit, re-enter
  max_rotation: float = 0.08  # radians per frame
  scale_pulse: float = 0.15  # relative scale oscillation
  background_speed: float = 1.0
  noise_std: float = 3.0  # Gaussian pixel noise
  min_visible: float = 0.01  # min visible fraction of the frame for each object in frame 0


@dataclasses.dataclass(frozen=True)
class _Object:
  shape: str
  radius: float
  aspect: tuple[float, float]
  harmonics: np.ndarray  # (n, 3): order, amplitude, phase of the radial profile
  texture: str
  texture_freq: float
  colors: np.ndarray  # (2, 3) float32
  center: np.ndarray  # (2,) y, x at frame 0
  amplitude: np.ndarray  # (2,)
  omega: np.ndarray  # (2,)
  phase: np.ndarray  # (2,)
  angle0: float
  spin: float
  pulse_omega: float
  pulse_phase: float


def _hsv(h: float, s: float, v: float) -> np.ndarray:
  return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32) * 255.0


def _sample_object(rng: np.random.Generator, cfg: SyntheticConfig, hue: float) -> _Object:
  size = min(cfg.height, cfg.width)
  shape = _SHAPES[rng.integers(len(_SHAPES))]
  if shape == "polygon":
    n = int(rng.integers(3, 7))
    harmonics = np.array([[n, 0.0, rng.uniform(0, 2 * np.pi)]])
  elif shape == "star":
    harmonics = np.array([[int(rng.integers(4, 8)), rng.uniform(0.25, 0.45),
                           rng.uniform(0, 2 * np.pi)]])
  elif shape == "blob":
    harmonics = np.stack([np.arange(2, 5), rng.uniform(0.05, 0.18, 3),
                          rng.uniform(0, 2 * np.pi, 3)], 1)
  else:
    harmonics = np.zeros((0, 3))
  aspect = (1.0, 1.0) if shape == "polygon" else tuple(rng.uniform(0.6, 1.0, 2) / 0.8)
  light = _hsv(hue, rng.uniform(0.65, 0.95), rng.uniform(0.8, 1.0))
  dark = _hsv(hue + rng.uniform(-0.04, 0.04), rng.uniform(0.7, 1.0), rng.uniform(0.3, 0.55))
  roam = (0.3, 0.45) if rng.uniform() < cfg.wander_prob else cfg.roam
  amp = rng.uniform(*roam, 2) * np.array([cfg.height, cfg.width])
  speed = rng.uniform(0.3, 1.0, 2) * cfg.max_speed
  omega = speed / np.maximum(amp, 1.0)
  return _Object(
      shape=shape,
      radius=rng.uniform(cfg.min_radius, cfg.max_radius) * size,
      aspect=aspect,
      harmonics=harmonics,
      texture=_TEXTURES[rng.integers(len(_TEXTURES))],
      texture_freq=rng.uniform(0.25, 0.6),
      colors=np.stack([light, dark]),
      center=np.array([cfg.height, cfg.width]) * rng.uniform(0.2, 0.8, 2),
      amplitude=amp,
      omega=omega,
      phase=rng.uniform(0, 2 * np.pi, 2),
      angle0=rng.uniform(0, 2 * np.pi),
      spin=rng.uniform(-cfg.max_rotation, cfg.max_rotation),
      pulse_omega=rng.uniform(0.05, 0.25),
      pulse_phase=rng.uniform(0, 2 * np.pi),
  )


def _pose(obj: _Object, t: int, cfg: SyntheticConfig) -> tuple[np.ndarray, float, float]:
  """Centre (y, x), rotation angle and scale of `obj` at frame `t`."""
  centre = obj.center + obj.amplitude * (np.sin(obj.omega * t + obj.phase) - np.sin(obj.phase))
  scale = 1.0 + cfg.scale_pulse * np.sin(obj.pulse_omega * t + obj.pulse_phase)
  return centre, obj.angle0 + obj.spin * t, scale


def _render_object(obj: _Object, t: int, cfg: SyntheticConfig):
  """Returns (y0, x0, inside (h, w) bool, colour (h, w, 3) float32) or None if off-frame."""
  (cy, cx), angle, scale = _pose(obj, t, cfg)
  extent = obj.radius * scale * max(obj.aspect) * (1.0 + obj.harmonics[:, 1].sum()) + 1.0
  y0, y1 = max(int(cy - extent), 0), min(int(cy + extent) + 2, cfg.height)
  x0, x1 = max(int(cx - extent), 0), min(int(cx + extent) + 2, cfg.width)
  if y1 <= y0 or x1 <= x0:
    return None
  dy = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - cy
  dx = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - cx
  cos, sin = np.cos(angle), np.sin(angle)
  u = (cos * dx + sin * dy) / (obj.radius * scale)  # object-local coordinates, unit radius
  v = (-sin * dx + cos * dy) / (obj.radius * scale)
  ua, va = u / obj.aspect[1], v / obj.aspect[0]
  rho = np.sqrt(ua * ua + va * va)
  theta = np.arctan2(va, ua)
  if obj.shape == "polygon":
    n, _, ph = obj.harmonics[0]
    sector = 2 * np.pi / n
    limit = np.cos(np.pi / n) / np.cos(np.mod(theta + ph, sector) - np.pi / n)
  else:
    limit = np.ones_like(rho)
    for order, amp, ph in obj.harmonics:
      limit = limit + amp * np.cos(order * theta + ph)
  inside = rho <= limit
  if not inside.any():
    return None
  k = obj.texture_freq * obj.radius * scale / 4.0
  if obj.texture == "stripes":
    pattern = np.sin(k * u * 2.0)
  elif obj.texture == "checker":
    pattern = np.sin(k * u * 1.5) * np.sin(k * v * 1.5) * 2.0
  elif obj.texture == "rings":
    pattern = np.sin(k * rho * 2.5)
  else:
    pattern = u * 0.6
  mix = np.clip(0.5 + 1.5 * pattern, 0.0, 1.0)[..., None]
  colour = obj.colors[0] * mix + obj.colors[1] * (1.0 - mix)
  return y0, x0, inside, colour


@functools.lru_cache(maxsize=8)
def _grids(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
  return (np.arange(height, dtype=np.float32)[:, None], np.arange(width, dtype=np.float32)[None, :])


def _background(rng: np.random.Generator, cfg: SyntheticConfig, margin: int) -> np.ndarray:
  """Low-saturation texture of shape (H + 2m, W + 2m, 3) float32."""
  yy, xx = _grids(cfg.height + 2 * margin, cfg.width + 2 * margin)
  base = _hsv(rng.uniform(), rng.uniform(0.05, 0.25), rng.uniform(0.45, 0.7))
  tex = np.zeros(yy.shape[:1] + xx.shape[1:], np.float32)
  for _ in range(3):
    ang, freq = rng.uniform(0, np.pi), rng.uniform(0.03, 0.2)
    tex += rng.uniform(8, 22) * np.sin(freq * (np.cos(ang) * xx + np.sin(ang) * yy)
                                       + rng.uniform(0, 6.3))
  size = (xx.shape[1], yy.shape[0])
  blotch = np.stack([
      np.asarray(Image.fromarray(rng.normal(0.0, 1.0, (5, 5)).astype(np.float32), "F")
                 .resize(size, Image.Resampling.BICUBIC)) for _ in range(3)], -1)
  return base + tex[..., None] + rng.uniform(6, 14) * blotch


def _sample_objects(rng: np.random.Generator, cfg: SyntheticConfig) -> list[_Object]:
  num = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
  hue0 = rng.uniform()
  hues = hue0 + np.arange(num) / num + rng.uniform(-0.05, 0.05, num) / max(num, 1)
  return [_sample_object(rng, cfg, float(h)) for h in rng.permutation(hues)]


def _paint_labels(objects: list[_Object], t: int, cfg: SyntheticConfig) -> np.ndarray:
  labels = np.zeros((cfg.height, cfg.width), np.uint8)
  for k, obj in enumerate(objects):
    drawn = _render_object(obj, t, cfg)
    if drawn is not None:
      y0, x0, inside, _ = drawn
      labels[y0 : y0 + inside.shape[0], x0 : x0 + inside.shape[1]][inside] = k + 1
  return labels


def generate_video(
    seed: int,
    *,
    height: int = 128,
    width: int = 128,
    num_frames: int = 32,
    min_objects: int = 1,
    max_objects: int = 3,
    config: SyntheticConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """Generates one video deterministically from `seed`.

  Returns frames (T, H, W, 3) uint8 and labels (T, H, W) uint8 (0 = bg, 1..K), with every
  object visible in frame 0. `config` overrides the keyword sizes when given.
  """
  cfg = config or SyntheticConfig(
      height=height, width=width, num_frames=num_frames, min_objects=min_objects,
      max_objects=max_objects)
  if not 1 <= cfg.min_objects <= cfg.max_objects <= 255:
    raise ValueError(f"need 1 <= min_objects <= max_objects <= 255, "
                     f"got {cfg.min_objects}, {cfg.max_objects}")
  rng = np.random.default_rng([int(seed), 0x5EED])
  min_pixels = max(cfg.min_visible * cfg.height * cfg.width, 4.0)
  for _ in range(100):  # rejection sampling: every object visible in frame 0
    objects = _sample_objects(rng, cfg)
    counts = np.bincount(_paint_labels(objects, 0, cfg).ravel(), minlength=len(objects) + 1)
    if (counts[1:] >= min_pixels).all():
      break
  else:
    raise RuntimeError(f"seed {seed}: could not place {len(objects)} visible objects; "
                       "enlarge the frame")
  margin = int(np.ceil(cfg.background_speed * 12)) + 1
  background = _background(rng, cfg, margin)
  pan_phase = rng.uniform(0, 2 * np.pi, 2)
  pan_omega = cfg.background_speed / margin * rng.uniform(0.5, 1.0, 2)
  noise_rng = np.random.default_rng([int(seed), 0x0A15E])

  frames = np.empty((cfg.num_frames, cfg.height, cfg.width, 3), np.uint8)
  labels = np.zeros((cfg.num_frames, cfg.height, cfg.width), np.uint8)
  for t in range(cfg.num_frames):
    oy, ox = np.round(margin * (1.0 + np.sin(pan_omega * t + pan_phase))).astype(int)
    canvas = background[oy : oy + cfg.height, ox : ox + cfg.width].copy()
    for k, obj in enumerate(objects):  # back to front: later objects occlude earlier ones
      drawn = _render_object(obj, t, cfg)
      if drawn is None:
        continue
      y0, x0, inside, colour = drawn
      window = (slice(y0, y0 + inside.shape[0]), slice(x0, x0 + inside.shape[1]))
      canvas[window][inside] = colour[inside]
      labels[t][window][inside] = k + 1
    if cfg.noise_std > 0:
      canvas += noise_rng.normal(0.0, cfg.noise_std, canvas.shape[:2] + (1,)).astype(np.float32)
    np.clip(canvas, 0, 255, out=canvas)
    frames[t] = canvas.astype(np.uint8)
  return frames, labels


class SyntheticVideos:
  """In-memory video source: item i is `generate_video(seed * 1_000_003 + i, config=...)`.

  `__getitem__(i) -> {"frames": (T,H,W,3) uint8, "labels": (T,H,W) uint8, "name": str}`;
  an LRU cache keeps as many generated videos as fit in `cache_bytes` (default 1 GiB, i.e.
  about 500 videos of 128x128x32).
  """

  def __init__(self, num_videos: int, config: SyntheticConfig = SyntheticConfig(), seed: int = 0,
               cache_bytes: int = 1 << 30):
    self.num_videos, self.config, self.seed = num_videos, config, seed
    video_bytes = 4 * config.num_frames * config.height * config.width
    self._get = functools.lru_cache(maxsize=max(1, cache_bytes // video_bytes))(self._generate)

  def video_seed(self, index: int) -> int:
    return self.seed * 1_000_003 + index

  def _generate(self, index: int) -> dict[str, object]:
    frames, labels = generate_video(self.video_seed(index), config=self.config)
    return {"frames": frames, "labels": labels, "name": f"synthetic_{self.seed}_{index:06d}"}

  def __len__(self) -> int:
    return self.num_videos

  def __getitem__(self, index: int) -> dict[str, object]:
    index = int(index)
    if not 0 <= index < self.num_videos:
      raise IndexError(f"video {index} out of range [0, {self.num_videos})")
    return self._get(index)
