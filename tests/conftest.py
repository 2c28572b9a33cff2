"""Shared test setup: full float32 matmuls, repo root importable, helpers on sys.path."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

import jax  # noqa: E402

jax.config.update("jax_default_matmul_precision", "highest")
