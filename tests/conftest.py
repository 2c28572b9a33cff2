"""Shared test setup: the two test tiers, the matmul precision of every test, and a persistent
compilation cache shared by the tests' processes (identical steps compile once).

Tiers: a test marked with one of `FULL_TIER_MARKERS` (pyproject.toml describes them) belongs to
the full tier; every other test is marked `fast` here, at collection. The README's command runs
`-m fast`; `.ci/run` runs `-m fast`, then `-m "not fast"`; a bare `pytest` runs both.
"""

import os
import tempfile

os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), "rde_jax_test_compilation_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")

import jax  # noqa: E402
import pytest  # noqa: E402

FULL_TIER_MARKERS = ("slow", "parity", "system", "multiprocess", "browser")
# Exact float32 sums (the parity tests' setting; it also keeps the CPU fast path of the
# convolutions off). Tests of what a user gets by default take the `default_precision` fixture.
SUITE_PRECISION = "highest"
jax.config.update("jax_default_matmul_precision", SUITE_PRECISION)  # for the first fixtures too


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
  """Marks `fast` every test that carries none of the full tier's markers (before `-m` reads
  the marks)."""
  for item in items:
    if not any(item.get_closest_marker(name) for name in FULL_TIER_MARKERS):
      item.add_marker(pytest.mark.fast)


@pytest.fixture(autouse=True)
def _suite_precision():
  """Every test starts at SUITE_PRECISION whatever the one before it set (eval runs, for one,
  apply their config's `matmul_precision` process-wide), and leaves it there for the next
  fixtures."""
  jax.config.update("jax_default_matmul_precision", SUITE_PRECISION)
  yield
  jax.config.update("jax_default_matmul_precision", SUITE_PRECISION)


@pytest.fixture
def default_precision():
  """JAX's default matmul precision for one test: what a user's process runs (on CPU, the fast
  path of the convolutions, `rde_jax.model.conv_algorithm`)."""
  jax.config.update("jax_default_matmul_precision", None)
  yield
