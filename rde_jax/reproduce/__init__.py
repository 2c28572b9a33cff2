"""`rde-reproduce` (`python -m rde_jax.reproduce`): the paper's table in one command.

    python -m rde_jax.reproduce --workdir W --checkpoints C --davis D17 \
        [--davis_testdev D17_TESTDEV] [--youtube YV19] [--download] [--rows d17_val,d16_val]

Modules: `rows` (each row: config, checkpoint, dataset, the official README's figures),
`download` (the official checkpoints, resumable), `run` (convert once, each row through
`rde_jax.evaluation.run`, resumable), `table` (W/table.md, W/table.json).
"""
