"""Subprocess for tests/test_kill.py: rewrites one output over and over until it is SIGKILLed.

  python tests/kill_worker.py export  TARGET            # checkpoint.save_model, step 1, 2, ...
  python tests/kill_worker.py convert TARGET PTH        # python -m rde_jax.convert --overwrite
  python tests/kill_worker.py segment TARGET MODEL FRAMES MASK

segment handles SIGTERM as `python -m rde_jax.segment` does. Prints 'ready' once the first complete output exists, then 'done' after every rewrite.
"""

import sys

import numpy as np


def main(kind: str, target: str, *args: str) -> None:
  import jax
  from rde_jax import checkpoint
  from rde_jax.model.architectures import TINY
  from rde_jax.model.network import abstract_variables
  if kind == "export":
    arch = TINY
    shapes = abstract_variables(arch)
    step = 0
    while True:
      step += 1  # every leaf holds the step, so model.json and the weights can be matched
      variables = jax.tree_util.tree_map(lambda s: np.full(s.shape, step, np.float32), shapes)
      checkpoint.save_model(target, variables, arch, step=step)
      print("ready" if step == 1 else "done", flush=True)
  elif kind == "convert":
    from rde_jax import convert
    first = True
    while True:
      convert.convert_file(args[0], target, overwrite=True)
      print("ready" if first else "done", flush=True)
      first = False
  elif kind == "segment":
    import signal
    import rde_jax
    from rde_jax import cli, segment
    from rde_jax.inference.settings import InferenceSettings
    signal.signal(signal.SIGTERM, cli._terminate)  # what the command installs
    model = rde_jax.load(args[0])
    first = True
    while True:
      segment.segment_to_folder(model, args[1], args[2], target,
                                InferenceSettings(top_k=20), overwrite=True,
                                write_overlay=False)
      print("ready" if first else "done", flush=True)
      first = False


if __name__ == "__main__":
  main(*sys.argv[1:])
