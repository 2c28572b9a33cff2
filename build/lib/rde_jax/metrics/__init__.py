"""Evaluation measures with the official DAVIS toolkit's numbers.

    rde_jax.metrics.jaccard(gt, pred), rde_jax.metrics.f_measure(gt, pred)   # (H,W) bool masks

Modules: `region_boundary` (J, F, their statistics), `davis_scores` (per sequence, global, CSVs),
`davis_files` (reading a DAVIS tree and a results folder).
"""

from rde_jax.metrics.region_boundary import f_measure, jaccard, statistics

__all__ = ["f_measure", "jaccard", "statistics"]
