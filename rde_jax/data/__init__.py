"""Data layer of rde-jax: synthetic videos, folder readers, TFDS builders, clip pipeline.

Submodules (import what you need; nothing heavy is imported here):

* `synthetic`  -- procedurally generated VOS videos (numpy only, deterministic from a seed).
* `vos_layouts` -- DAVIS / YouTube-VOS 2019 / static image+mask folder readers.
* `records`    -- the per-video record schema and lazy readers of built TFDS datasets.
* `builders`   -- TFDS builders (array_record, no TensorFlow needed).
* `training_folders` -- training videos streamed straight from the official folders (BL30K, ...).
* `official_subsets` -- the official DAVIS / YouTube-VOS training lists (`subsets/*.txt`).
* `stage_sources` -- the sources of each training stage (folders or TFDS), docs/training.md.
* `sampling`   -- frame sampling, skip curriculum, object selection and the BL30K filter.
* `augment`    -- affine / crop / colour augmentations (numpy + Pillow).
* `tps`        -- the static stage's thin-plate-spline warp (official `dataset/tps.py`).
* `perturb`    -- perturbed first-frame masks with OpenCV's kernels.
* `pipeline`   -- the Grain clip pipeline producing fixed-shape training batches.
"""
