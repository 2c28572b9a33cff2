"""The inference speed benchmark: `python -m rde_jax.benchmark` (`run.run(cfg)` in Python;
`tables` renders the report)."""
