"""Training: `loop.train_and_evaluate` (train.py) -> `trainer.Trainer` (the jitted update) ->
`clip_loss` over `clip_forward` (the official two-branch clip forward). Also `config` (field
defaults), `inputs` (data sources per stage), `initial_weights`, `periodic_eval`,
`metric_writer`, `losses`."""
