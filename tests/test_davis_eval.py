"""Sequence-level DAVIS evaluation on in-memory label maps, hand-derived values.

All frames are 6x6 (radius 1). Reference single-pixel facts (see test_metrics):
a lone pixel's boundary is itself plus its left, top and top-left neighbours; a
lone pixel at the top-right corner (0, 5) has boundary {(0, 4), (0, 5)}.
"""

import math

import numpy as np
import pytest

from rde_jax.metrics import davis_scores
from rde_jax.metrics.davis_files import DavisEvalError


T, H, W = 4, 6, 6


def _labels(*frames):
  """(T, H, W) uint8 from per-frame {(y, x): id} dicts."""
  out = np.zeros((len(frames), H, W), np.uint8)
  for t, pixels in enumerate(frames):
    for (y, x), k in pixels.items():
      out[t, y, x] = k
  return out


def test_first_last_excluded_absent_and_later_ids():
  # Frame 0 has ids 1 and 3 -> K = 3 (id 2 absent from frame 0 is still evaluated).
  # Frame 2 has id 4 > K: never evaluated, background for everyone.
  gt = _labels({(1, 1): 1, (4, 4): 3},
               {(1, 1): 1, (4, 4): 3},
               {(1, 1): 1, (3, 3): 2, (0, 5): 4},
               {})
  pred = _labels({(0, 0): 9},  # first and last frames are never looked at
                 {(1, 1): 1},
                 {(1, 1): 1, (3, 3): 2, (0, 5): 1},
                 {(5, 5): 9})
  r = davis_scores.evaluate_sequence(gt, pred, name="seq")
  assert r["objects"] == ["seq_1", "seq_2", "seq_3"]
  # Object 1, frame 2: gt {(1,1)}, pred {(1,1),(0,5)} -> J = 1/2. Boundaries: gt 4 px,
  # pred the same 4 + (0,4), (0,5) unmatched -> P = 4/6, R = 1 -> F = (4/3)/(5/3) = 0.8.
  np.testing.assert_allclose(r["J"]["per_frame"][0], [1.0, 0.5], atol=1e-12)
  np.testing.assert_allclose(r["F"]["per_frame"][0], [1.0, 0.8], atol=1e-12)
  # Object 2: absent from both in frame 1 (J = F = 1), identical in frame 2.
  assert r["J"]["per_frame"][1].tolist() == [1.0, 1.0]
  assert r["F"]["per_frame"][1].tolist() == [1.0, 1.0]
  # Object 3: never predicted (R = 2 < K: missing object is empty); present in frame 1 only.
  assert r["J"]["per_frame"][2].tolist() == [0.0, 1.0]
  assert r["F"]["per_frame"][2].tolist() == [0.0, 1.0]
  # Statistics of object 1 (N = 2: decay bins [0] and [1]) and object 3.
  np.testing.assert_allclose(r["J"]["mean"], [0.75, 1.0, 0.5], atol=1e-12)
  np.testing.assert_allclose(r["F"]["mean"], [0.9, 1.0, 0.5], atol=1e-12)
  assert r["J"]["recall"].tolist() == [0.5, 1.0, 0.5]  # J = 0.5 is not > 0.5
  assert r["F"]["recall"].tolist() == [1.0, 1.0, 0.5]
  np.testing.assert_allclose(r["J"]["decay"], [0.5, 0.0, -1.0], atol=1e-12)
  np.testing.assert_allclose(r["F"]["decay"], [0.2, 0.0, -1.0], atol=1e-12)


def test_id_above_count_is_an_error_naming_the_file():
  gt = _labels({(1, 1): 1}, {(1, 1): 1}, {(1, 1): 1}, {(1, 1): 1})
  pred = _labels({}, {(1, 1): 1}, {(1, 1): 2}, {})
  names = [f"res/seq/0000{t}.png" for t in range(T)]
  with pytest.raises(DavisEvalError, match=r"'seq'.*res/seq/00002\.png.*id 2.*only 1 object"):
    davis_scores.evaluate_sequence(gt, pred, name="seq", frame_names=names)


def test_void_is_background_and_not_an_object():
  # Frame 0: id 1 and void -> K = 1. A prediction on a void pixel is a false positive.
  gt = _labels({(1, 1): 1, (1, 2): 255}, {(1, 1): 1, (1, 2): 255}, {(1, 1): 1}, {})
  pred = _labels({}, {(1, 1): 1, (1, 2): 1}, {(1, 1): 1}, {})
  r = davis_scores.evaluate_sequence(gt, pred)
  assert r["objects"] == ["sequence_1"]
  assert r["J"]["per_frame"].tolist() == [[0.5, 1.0]]


def test_no_objects():
  gt = _labels({}, {(1, 1): 1}, {}, {})
  r = davis_scores.evaluate_sequence(gt, np.zeros_like(gt))
  assert r["objects"] == [] and r["J"]["per_frame"].shape == (0, 2)
  with pytest.raises(DavisEvalError):
    davis_scores.evaluate_sequence(gt, _labels({}, {(2, 2): 1}, {}, {}))


def test_two_frame_sequence_gives_nan():
  gt = _labels({(1, 1): 1}, {(1, 1): 1})
  r = davis_scores.evaluate_sequence(gt, gt)
  assert r["J"]["per_frame"].shape == (1, 0)
  assert all(math.isnan(r[m][s][0]) for m in "JF" for s in ("mean", "recall", "decay"))


def test_davis_2016_merges_all_non_zero():
  # Every non-zero pixel (ids, later ids, 255) is the single object; predicted ids are free.
  gt = _labels({(1, 1): 1}, {(1, 1): 1, (4, 4): 2}, {(1, 1): 3, (2, 2): 255}, {})
  pred = _labels({}, {(1, 1): 7, (4, 4): 7}, {(1, 1): 1, (2, 2): 2}, {})
  r = davis_scores.evaluate_sequence(gt, pred, year=2016, name="s")
  assert r["objects"] == ["s_1"]
  assert r["J"]["per_frame"].tolist() == [[1.0, 1.0]]
  assert r["F"]["per_frame"].tolist() == [[1.0, 1.0]]


def test_bad_shapes():
  with pytest.raises(ValueError):
    davis_scores.evaluate_sequence(np.zeros((4, 6, 6), np.uint8), np.zeros((4, 6, 5), np.uint8))
  with pytest.raises(ValueError):
    davis_scores.evaluate_sequence(np.zeros((4, 6, 6), np.uint8), np.zeros((4, 6, 6), np.uint8), year=2018)


def _fake_result(name, j_mean, f_mean):
  stats = lambda m: {"mean": np.array(m), "recall": np.array(m), "decay": np.zeros(len(m))}  # noqa: E731
  return {"name": name, "objects": [f"{name}_{k + 1}" for k in range(len(j_mean))],
          "J": stats(j_mean), "F": stats(f_mean)}


def test_global_scores_average_objects_2017_and_sequences_2016():
  # 2017: a 1-object sequence at 1.0 and a 3-object one at 0.0 -> 1/4, not 1/2.
  results = [_fake_result("a", [1.0], [1.0]), _fake_result("b", [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])]
  g = davis_scores.global_scores(results)
  assert list(g) == list(davis_scores.GLOBAL_HEADER)
  assert g["J-Mean"] == 0.25 and g["F-Recall"] == 0.25 and g["J&F-Mean"] == 0.25
  # 2016: NaN-aware mean over sequences; 2017 lets NaN through.
  with_nan = [_fake_result("a", [1.0], [0.5]), _fake_result("b", [math.nan], [math.nan])]
  assert davis_scores.global_scores(with_nan, year=2016)["J&F-Mean"] == 0.75
  assert math.isnan(davis_scores.global_scores(with_nan, year=2017)["J-Mean"])


def test_csv_texts_format():
  scores = dict(zip(davis_scores.GLOBAL_HEADER, [0.25, 0.5, 1.0, -0.0625, 0.0, math.nan, 0.1234]))
  rows = [("bear_1", 0.5, 0.0625), ("odd,name_2", 1.0, math.nan)]
  global_csv, per_sequence_csv = davis_scores.csv_texts(scores, rows)
  assert global_csv == ("J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay\n"
                        "0.250,0.500,1.000,-0.062,0.000,,0.123\n")  # -0.0625 -> %.3f rounds to even
  assert per_sequence_csv == 'Sequence,J-Mean,F-Mean\nbear_1,0.500,0.062\n"odd,name_2",1.000,\n'
