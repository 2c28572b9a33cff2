"""The `runlocal` variant shared by the stage configs: the same code path, seconds on a CPU.

Tiny architecture, batch 2, a handful of steps on 32x32 crops, checkpoints at the end, logs every
step, no evaluation; one learning rate (1e-4) and, for the video stages, the paper's loss
weights, so stages 1-3 compile one identical step. The data still comes from the stage's own
sources (the tests point the roots at tiny generated folders); only the sizes shrink.
"""

import ml_collections


def shrink(c: ml_collections.ConfigDict, num_steps: int = 2) -> ml_collections.ConfigDict:
  c.arch = "tiny"
  c.batch_size = 2
  c.num_steps = num_steps
  c.lr = 1e-4
  c.lr_steps = (num_steps - 1,)
  if c.stage != 0:
    c.lambda_mc = c.lambda_f2 = c.lambda_f4 = 10.0
  c.data.crop_size = 32
  c.data.num_threads = 1
  c.start_warm, c.end_warm = 1, num_steps
  c.log_every = 1
  c.checkpoint_every = num_steps
  c.eval_every = 0
  c.eval.source = "none"
  return c
