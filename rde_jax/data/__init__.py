"""Data layer of rde-jax: synthetic videos, folder readers, TFDS builders, clip pipeline.

Submodules (import what you need; nothing heavy is imported here):

* ``synthetic``  -- procedurally generated VOS videos (numpy only, deterministic from a seed).
* ``imageio``    -- Pillow decoding/encoding with errors that name the file.
* ``folders``    -- DAVIS / YouTube-VOS 2019 / static image+mask folder readers.
* ``records``    -- the per-video record schema and lazy readers of built TFDS datasets.
* ``builders``   -- TFDS builders (array_record, no TensorFlow needed).
* ``sampling``   -- frame sampling, skip curriculum and object selection (SPEC §4.2).
* ``augment``    -- affine / crop / colour augmentations (numpy + Pillow, SPEC §4).
* ``perturb``    -- perturbed first-frame masks (SPEC §4).
* ``pipeline``   -- the Grain clip pipeline producing fixed-shape training batches.
"""
