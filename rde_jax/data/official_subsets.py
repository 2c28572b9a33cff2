"""The official training lists, shipped with the package (`rde_jax/data/subsets/*.txt`).

    names = official_subset("youtube")   # frozenset of 3,464 YouTube-VOS 2019 train video ids
    names = official_subset("davis")     # the 60 DAVIS-2017 train sequences

The official training code restricts its datasets to these (`util/load_subset.py` with
`util/yv_subset.txt` and `util/davis_subset.txt`): the 7 YouTube-VOS videos missing from the
list were filtered out by hand as erroneous by the STCN authors. One id per line.
"""

from __future__ import annotations

import functools
from importlib import resources

_FILES = {"youtube": "yv_subset.txt", "davis": "davis_subset.txt"}


@functools.lru_cache(maxsize=None)
def official_subset(dataset: str) -> frozenset[str]:
  """Video ids of the official training list of `dataset` ('youtube' or 'davis')."""
  if dataset not in _FILES:
    raise ValueError(f"no official subset for {dataset!r} (expected one of {sorted(_FILES)})")
  text = resources.files("rde_jax.data").joinpath("subsets", _FILES[dataset]).read_text("utf-8")
  return frozenset(line.strip() for line in text.splitlines() if line.strip())
