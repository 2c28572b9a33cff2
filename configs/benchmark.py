"""Configs of the inference speed benchmark (`python -m rde_jax.benchmark`): presets default,
long, long_tiny and runlocal (= test), defined in rde_jax/benchmark/config.py (inside the
package, so an installed `rde-benchmark` finds its default config).

    python -m rde_jax.benchmark --config=configs/benchmark.py:long --plot long.png
"""

from rde_jax.benchmark.config import get_config  # noqa: F401
