r"""Our training step against its PyTorch twin: same weights, batch, threads; interleaved steps.

    python benchmarks/side_by_side_train.py --stage 2 --batch 1 --size 384 --out sbs_train.json
    python benchmarks/side_by_side_train.py --stage 0 --batch 2 --size 384
    python benchmarks/side_by_side_train.py --arch tiny --size 32 --repeats 1     # a logic check

Weights: `train_run.benchmark_variables` (random, SAM scaled so the step stays finite). Ours:
`Trainer.step` as train.py runs it (uint8 frames in, `--remat`, `--dtype`); the twin:
benchmarks/torch_train_twin.py (forward, losses, `backward()`, Adam). Random weights
(loaded into the twin), one synthetic batch (`train_run.synthetic_batch`).
Each side runs one untimed step (ours: compile + first run), then `--repeats` steps, the one
going first alternating, so both see the same load; medians are compared. The first-step losses
of both sides are reported (equal up to float32 rounding on the same weights).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--arch", default="official")
  p.add_argument("--stage", type=int, default=2, choices=(0, 2))
  p.add_argument("--batch", type=int, default=1)
  p.add_argument("--size", type=int, default=384)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--threads", type=int, default=2)
  p.add_argument("--remat", default="none")
  p.add_argument("--dtype", default="float32")
  p.add_argument("--conv", default="direct")
  p.add_argument("--out", default="")
  a = p.parse_args()
  import numpy as np
  import torch
  import jax
  from rde_jax.benchmark import train_run
  from rde_jax.train import losses
  from rde_jax.train.trainer import Trainer
  from torch_train_twin import TwinTrainStep
  from torch_twin import TwinNetwork
  torch.set_num_threads(a.threads)
  bcfg = argparse.Namespace(train_stage=a.stage, arch=a.arch, batch_size=a.batch, dtype=a.dtype,
                            remat=a.remat, train_conv_algorithm=a.conv, height=a.size)
  tcfg = train_run.train_config(bcfg)
  tr = Trainer(tcfg)
  v = train_run.benchmark_variables(tr.arch, 0)
  batch = train_run.synthetic_batch(tcfg)
  k = losses.bootstrap_k(0, a.size ** 2, tcfg.start_warm, tcfg.end_warm, tcfg.top_p)
  twin = TwinTrainStep(TwinNetwork.from_variables(v, tr.arch), stage=a.stage, lr=tcfg.lr,
                       weight_decay=tcfg.weight_decay, lambda_mc=tcfg.lambda_mc,
                       guidance=(tcfg.lambda_f2, tcfg.lambda_f4))
  state = tr.init_state(v["params"])
  holder = {"state": state}

  def ours() -> float:
    holder["state"], m = tr.step(holder["state"], v["batch_stats"], batch, 0)
    return float(jax.block_until_ready(m["total_loss"]))

  def theirs() -> float:
    return twin(batch, k)["total_loss"]

  t0 = time.perf_counter()
  first = {"ours": ours()}
  first_s = {"ours_compile_and_first": round(time.perf_counter() - t0, 2)}
  t0 = time.perf_counter()
  first["torch"] = theirs()
  first_s["torch_first"] = round(time.perf_counter() - t0, 2)
  times = {"ours": [], "torch": []}
  for r in range(a.repeats):
    order = [("ours", ours), ("torch", theirs)]
    for name, fn in (order if r % 2 == 0 else order[::-1]):
      t0 = time.perf_counter()
      fn()
      times[name].append(round(time.perf_counter() - t0, 3))
  med = {n: float(np.median(t)) for n, t in times.items()}
  report = {"args": vars(a), "first_step_loss": first, "first_s": first_s, "step_s": times,
            "median_s": med, "speedup": round(med["torch"] / med["ours"], 3),
            "load_avg": os.getloadavg(), "torch": torch.__version__, "jax": jax.__version__}
  text = json.dumps(report, indent=1)
  print(text)
  if a.out:
    with open(a.out, "w") as f:
      f.write(text)


if __name__ == "__main__":
  main()
