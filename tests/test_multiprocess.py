"""Two JAX processes on localhost (CPU collectives) compute the same update as one process."""

import textwrap

import numpy as np
import pytest

from workers import finish, free_port, start

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]

_WORKER = textwrap.dedent("""
    import sys
    import jax, numpy as np
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    pid = int(sys.argv[1])
    if pid >= 0:
      jax.distributed.initialize("localhost:{port}", num_processes=2, process_id=pid)
    from configs_helper import small_config
    from rde_jax.train import inputs
    from rde_jax.model.network import init_variables
    from rde_jax.train.trainer import Trainer
    cfg = small_config(batch_size=4)
    tr = Trainer(cfg)
    v = init_variables(tr.arch, 0)
    if pid >= 0:  # each process feeds its own half of the global batch
      assert jax.process_count() == 2 and jax.device_count() == 2
      batch = inputs.train_pipeline(cfg)[0]
    else:  # one process, the same global batch
      parts = [inputs.train_pipeline(cfg, p, 2)[0] for p in (0, 1)]
      batch = {{k: np.concatenate([p[k] for p in parts]) for k in parts[0]}}
    state, m = tr.step(tr.init_state(v["params"]), v["batch_stats"], batch, 3)
    leaves = [np.asarray(x.addressable_data(0)) for x in jax.tree_util.tree_leaves(state.params)]
    np.savez({out!r} + f"_{{pid}}.npz", *leaves)
    scalar = lambda x: float(np.asarray(x.addressable_data(0)))
    print("loss", scalar(m["total_loss"]), scalar(m["grad_norm"]), cfg.lr)
""")


def test_two_processes_match_one(tmp_path):
 script = _WORKER.format(port=free_port(), out=str(tmp_path / "params"))
 outs = finish(start(script, (0, 1, -1)))
 lines = [o.strip().splitlines()[-1].split() for o in outs]
 losses, norms, lr = [float(x[1]) for x in lines], [float(x[2]) for x in lines], float(lines[0][3])
 assert losses[0] == losses[1]  # a global loss, identical on both processes
 assert abs(losses[0] - losses[2]) <= 1e-6 * abs(losses[2])
 assert abs(norms[0] - norms[2]) <= 1e-5 * norms[2]  # the same gradient
 load = lambda pid: np.load(tmp_path / f"params_{pid}.npz")
 two, one = load(0), load(-1)
 for key in one.files:
  # Adam's first step is ~lr * sign(g); only components with |g| ~ eps may differ a little.
  np.testing.assert_allclose(two[key], one[key], rtol=0, atol=1e-2 * lr)
 for key in one.files:  # both processes hold the same replicated parameters
  np.testing.assert_array_equal(two[key], load(1)[key])
