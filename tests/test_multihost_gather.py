"""Training-time evaluation across two JAX processes on localhost: each segments its share of
the videos, the gathered per-video results (bit-exact JSON) give one process's scores."""

import json
import textwrap

import numpy as np
import pytest

from workers import finish, free_port, start

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]

_EVAL = textwrap.dedent("""
    import json, sys
    pid = int(sys.argv[1])
    if pid >= 0:
      from rde_jax import multihost
      multihost.initialize("localhost:{port}", 2, pid)
    import jax, numpy as np, ml_collections
    from rde_jax import multihost
    from rde_jax.model import architectures
    from rde_jax.model.architectures import Arch
    from rde_jax.model.network import init_variables
    from rde_jax.train.periodic_eval import evaluate_videos
    import eval_fakes as F
    gathered = multihost.allgather_json({{"pid": pid, "x": np.array([1 / 3, np.nan]) * (pid + 2)}})
    arch = Arch.from_config(architectures.tiny())
    videos = []
    for i, n in enumerate((7, 4, 5)):
      frames, labels = F.video(30 + i, n)
      videos.append({{"name": f"v{{i}}", "frames": frames, "labels": labels}})
    cfg = ml_collections.ConfigDict({{"eval": {{"top_k": 20, "mem_every": 3}}}})
    res = evaluate_videos(init_variables(arch, 0), arch, videos, cfg)
    print(json.dumps({{"scores": res["scores"], "per_video": res["per_video"],
                      "gathered": [[g["pid"], g["x"].tolist()] for g in gathered]}}))
""")


def test_two_processes_share_the_videos_and_agree_with_one():
  outs = finish(start(_EVAL.format(port=free_port()), (0, 1, -1)), timeout=600)
  two0, two1, one = [json.loads(o.strip().splitlines()[-1]) for o in outs]
  x = np.array([1 / 3, np.nan])
  assert two0["gathered"] == two1["gathered"]
  for (pid, got), want in zip(two0["gathered"], (x * 2, x * 3)):
    np.testing.assert_array_equal(got, want)  # bit-exact float64, NaN kept
  assert two0["scores"] == two1["scores"] == one["scores"]  # exact equality
  assert two0["per_video"] == one["per_video"] and sorted(one["per_video"]) == ["v0", "v1", "v2"]
