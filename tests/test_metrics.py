"""J, F, boundary map and statistics: hand-derived values for every DAVIS convention.

Frames up to 88 px diagonal get radius ceil(0.008·d) = 1, a plus-shaped disk,
so most F cases below are small frames whose matches can be counted by hand.
"""

import math

import numpy as np
import pytest

from rde_jax.metrics import region_boundary


def _mask(shape, *pixels):
  m = np.zeros(shape, bool)
  for y, x in pixels:
    m[y, x] = True
  return m


def _coords(bmap):
  return set(zip(*map(list, np.nonzero(bmap))))


# ---------------------------------------------------------------- radius / disk


@pytest.mark.parametrize("shape, radius", [
    ((480, 854), 8),    # sqrt(959716) = 979.65 -> 7.837 -> 8
    ((600, 800), 8),    # diagonal exactly 1000 -> 8.0 -> 8 (no off-by-one)
    ((480, 910), 9),    # 1028.8 -> 8.23 -> 9
    ((1080, 1920), 18),  # 2202.9 -> 17.62 -> 18
    ((120, 200), 2),    # 233.2 -> 1.87 -> 2
    ((64, 64), 1),
    ((6, 6), 1),
])
def test_boundary_radius(shape, radius):
  assert region_boundary.boundary_radius(shape) == radius


def test_boundary_radius_pixel_count():
  assert region_boundary.boundary_radius((480, 854), bound_th=3) == 3
  with pytest.raises(ValueError):
    region_boundary.boundary_radius((480, 854), bound_th=2.5)


def test_disk_rows():
  dys, half = region_boundary.disk_rows(1)
  assert dys.tolist() == [-1, 0, 1] and half.tolist() == [0, 1, 0]  # plus sign
  dys, half = region_boundary.disk_rows(8)
  # isqrt(64 - dy²) for dy = 8..0: 0, 3 (15), 5 (28), 6 (39), 6 (48), 7 (55), 7 (60), 7 (63), 8.
  assert half.tolist() == [0, 3, 5, 6, 6, 7, 7, 7, 8, 7, 7, 7, 6, 6, 5, 3, 0]
  assert int((2 * half + 1).sum()) == 197  # single pixels at the four tips


# ---------------------------------------------------------------- boundary map


def test_boundary_full_frame_is_empty():
  assert not region_boundary.boundary_map(np.ones((5, 7), bool)).any()
  assert not region_boundary.boundary_map(np.zeros((5, 7), bool)).any()


def test_boundary_rectangle_ring():
  # 2x3 block at rows 2-3, cols 2-4: top/left sides outside, bottom/right inside.
  m = np.zeros((7, 7), bool)
  m[2:4, 2:5] = True
  expected = {(1, x) for x in range(1, 5)} | {(2, 1), (2, 4)} | {(3, x) for x in range(1, 5)}
  assert _coords(region_boundary.boundary_map(m)) == expected


def test_boundary_single_pixel():
  assert _coords(region_boundary.boundary_map(_mask((5, 5), (2, 2)))) == {(1, 1), (1, 2), (2, 1), (2, 2)}


def test_boundary_no_contour_along_image_border():
  m = np.zeros((5, 4), bool)
  m[0:3, :] = True  # rows 0-2, full width: only row 2
  assert _coords(region_boundary.boundary_map(m)) == {(2, x) for x in range(4)}
  last_row = np.zeros((4, 5), bool)
  last_row[-1, :] = True  # the row itself has none; row H-2 is the boundary
  assert _coords(region_boundary.boundary_map(last_row)) == {(2, x) for x in range(5)}
  last_col = np.zeros((5, 4), bool)
  last_col[:, -1] = True
  assert _coords(region_boundary.boundary_map(last_col)) == {(y, 2) for y in range(5)}


def test_boundary_bottom_right_pixel():
  # Left, top and top-left neighbours; never the pixel itself.
  assert _coords(region_boundary.boundary_map(_mask((4, 4), (3, 3)))) == {(3, 2), (2, 3), (2, 2)}


def test_boundary_one_pixel_line_gives_two_rows():
  m = np.zeros((5, 6), bool)
  m[2, :] = True
  assert _coords(region_boundary.boundary_map(m)) == {(y, x) for y in (1, 2) for x in range(6)}


def test_boundary_map_batched():
  m = np.zeros((2, 5, 5), bool)
  m[1, 2, 2] = True
  b = region_boundary.boundary_map(m)
  assert not b[0].any() and _coords(b[1]) == {(1, 1), (1, 2), (2, 1), (2, 2)}


# ---------------------------------------------------------------- matching


@pytest.mark.parametrize("offset, matched", [
    ((1, 1), 1), ((2, 0), 1), ((0, -2), 1), ((2, 1), 0), ((-1, 2), 0), ((0, 3), 0)])
def test_count_matched_disk_radius_2(offset, matched):
  src = _mask((9, 9), (4, 4))
  dst = _mask((9, 9), (4 + offset[0], 4 + offset[1]))
  assert region_boundary.count_matched(src, dst, 2) == matched  # inside iff dy² + dx² <= 4


def test_count_matched_at_image_border():
  src = _mask((3, 3), (0, 0), (2, 2))
  dst = _mask((3, 3), (0, 2))
  assert region_boundary.count_matched(src, dst, 2) == 2  # both at distance 2
  assert region_boundary.count_matched(src, dst, 1) == 0


def test_count_matched_equals_brute_force():
  rng = np.random.default_rng(0)
  for _ in range(20):
    src, dst = rng.random((2, 13, 17)) < 0.08
    r = int(rng.integers(1, 5))
    ps, qs = np.argwhere(src), np.argwhere(dst)
    expected = sum(1 for p in ps if qs.size and ((qs - p) ** 2).sum(axis=1).min() <= r * r)
    assert region_boundary.count_matched(src, dst, r) == expected


# ---------------------------------------------------------------- J


def test_jaccard_conventions():
  empty = np.zeros((4, 5), bool)
  one = _mask((4, 5), (1, 1))
  assert region_boundary.jaccard(empty, empty) == 1.0  # both empty
  assert region_boundary.jaccard(one, empty) == 0.0
  assert region_boundary.jaccard(empty, one) == 0.0
  assert region_boundary.jaccard(np.ones((4, 5)), np.ones((4, 5))) == 1.0
  gt = np.zeros((4, 5), bool)
  gt[0:2, 0:2] = True
  pred = np.zeros((4, 5), np.uint8)
  pred[0:2, 0:3] = 255  # non-zero is foreground
  assert region_boundary.jaccard(gt, pred) == 4 / 6
  assert isinstance(region_boundary.jaccard(gt, pred), float)


def test_jaccard_shape_mismatch():
  with pytest.raises(ValueError):
    region_boundary.jaccard(np.zeros((4, 5)), np.zeros((5, 4)))


# ---------------------------------------------------------------- F


def test_f_empty_conventions():
  empty = np.zeros((10, 10), bool)
  full = np.ones((10, 10), bool)
  dot = _mask((10, 10), (4, 4))
  assert region_boundary.f_measure(empty, empty) == 1.0  # no boundary on either side
  assert region_boundary.f_measure(dot, empty) == 0.0  # P = 1, R = 0
  assert region_boundary.f_measure(empty, dot) == 0.0  # P = 0, R = 1
  assert region_boundary.f_measure(full, full) == 1.0
  assert region_boundary.f_measure(full, dot) == 0.0  # full frame has an empty boundary map
  assert region_boundary.f_measure(empty, full) == 1.0  # decided on boundary maps, not masks


def test_f_identical():
  m = _mask((10, 10), (2, 3), (2, 4), (3, 4), (7, 7))
  assert region_boundary.f_measure(m, m) == 1.0


def test_f_border_touching_hand_count():
  # 10x10 -> radius 1. gt: rows 0-2 full width -> boundary row 2 (10 px).
  # pred: rows 0-2, cols 0-4 -> boundary (2, 0..4), (0, 4), (1, 4) (7 px).
  # pred matched: row-2 pixels (5) + (1, 4) (next to (2, 4)); (0, 4) not -> P = 6/7.
  # gt matched: (2, 0..4) + (2, 5) (next to (2, 4)) -> R = 6/10. F = 12/17.
  gt = np.zeros((10, 10), bool)
  gt[0:3] = True
  pred = np.zeros((10, 10), bool)
  pred[0:3, 0:5] = True
  assert region_boundary.f_measure(gt, pred) == pytest.approx(12 / 17, abs=1e-12)
  assert region_boundary.f_measure(pred, gt) == pytest.approx(12 / 17, abs=1e-12)  # symmetric


def test_f_precision_plus_recall_zero():
  # Boundaries at rows 2 and 4: two rows apart, radius 1 -> P = R = 0 -> F = 0.
  gt = np.zeros((10, 10), bool)
  gt[0:3] = True
  pred = np.zeros((10, 10), bool)
  pred[0:5] = True
  assert region_boundary.f_measure(gt, pred) == 0.0


def test_f_one_pixel_lines():
  # Line at row 5 -> boundary rows 4-5; line at row 6 -> rows 5-6: all within 1 px.
  gt, near, far = (np.zeros((10, 10), bool) for _ in range(3))
  gt[5] = True
  near[6] = True
  far[2] = True  # boundary rows 1-2: 2 rows from row 4
  assert region_boundary.jaccard(gt, near) == 0.0 and region_boundary.f_measure(gt, near) == 1.0
  assert region_boundary.f_measure(gt, far) == 0.0


@pytest.mark.parametrize("shape, shift, expected", [
    ((480, 854), 8, 1.0), ((480, 854), 9, 0.5),
    ((600, 800), 8, 1.0), ((600, 800), 9, 0.5),
    ((480, 910), 9, 1.0), ((480, 910), 10, 0.5),
])
def test_f_radius_follows_full_frame(shape, shift, expected):
  # A lone pixel's boundary is a 2x2 block at columns x-1, x. Shifted by s = r: every
  # pixel has a partner at distance <= r -> F = 1. By r + 1: only the two pairs at
  # distance r match on each side -> P = R = 1/2 -> F = 1/2. (A crop-sized radius would be 1.)
  gt = _mask(shape, (200, 300))
  pred = _mask(shape, (200, 300 + shift))
  assert region_boundary.f_measure(gt, pred) == expected


def test_f_pixel_radius():
  gt = _mask((480, 854), (200, 300))
  assert region_boundary.f_measure(gt, _mask((480, 854), (200, 303)), bound_th=3) == 1.0
  assert region_boundary.f_measure(gt, _mask((480, 854), (200, 304)), bound_th=3) == 0.5


# ---------------------------------------------------------------- statistics


@pytest.mark.parametrize("n, edges", [
    (1, [0, 0, 0, 0, 0]), (2, [0, 0, 1, 1, 1]), (3, [0, 1, 1, 2, 2]), (4, [0, 1, 2, 2, 3]),
    (5, [0, 1, 2, 3, 4]), (7, [0, 2, 3, 5, 6]), (11, [0, 3, 5, 8, 10]), (15, [0, 4, 7, 11, 14]),
])
def test_decay_bin_edges(n, edges):
  # round(linspace(1, n, 5)) - 1 with halves rounded UP (n = 3: 1, 1.5, 2, 2.5, 3 -> 1, 2, 2, 3, 3).
  assert region_boundary.decay_bin_edges(n).tolist() == edges


def test_statistics_mean_and_strict_recall():
  s = region_boundary.statistics(np.array([0.5, 0.5, 0.6, 1.0]))
  assert s.mean == pytest.approx(0.65, abs=1e-12)
  assert s.recall == 0.5  # 0.5 itself does not count


def test_decay_n3_rounds_half_up():
  # Bins [0, 1] and [2]: 0.75 - 0.0. (Banker's rounding would use [0, 1] and [1, 2] -> 0.5.)
  assert region_boundary.statistics(np.array([1.0, 0.5, 0.0])).decay == 0.75


def test_decay_n7_rounds_half_up():
  # Bins [0..2] and [5, 6]: 2/3 - 0. (Banker's rounding: [0, 1] -> 1.)
  values = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
  assert region_boundary.statistics(values).decay == pytest.approx(2 / 3, abs=1e-12)


def test_decay_n11_and_small_n():
  values = np.arange(11) / 10  # bins [0..3] -> 0.15 and [8..10] -> 0.9
  assert region_boundary.statistics(values).decay == pytest.approx(-0.75, abs=1e-12)
  assert region_boundary.statistics(np.array([0.7])) == (0.7, 1.0, 0.0)
  assert region_boundary.statistics(np.array([0.9, 0.3])).decay == pytest.approx(0.6, abs=1e-12)


def test_statistics_nan_handling():
  s = region_boundary.statistics(np.array([math.nan, 1.0]))
  assert (s.mean, s.recall) == (1.0, 0.5)  # NaN is not > 0.5
  assert all(math.isnan(v) for v in region_boundary.statistics(np.zeros(0)))
