"""rde-jax: RDE-VOS (Recurrent Dynamic Embedding for VOS, CVPR 2022) in JAX/Flax."""

__version__ = "0.1.0"
