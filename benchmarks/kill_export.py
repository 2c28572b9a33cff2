r"""SIGKILLs a model-export loop (tests/kill_worker.py export) at random instants, then loads.

  python benchmarks/kill_export.py --repo /path/to/checkout --rounds 6

The worker and the loader run the code of `--repo`, so the same script measures any checkout
(docs/reliability.md: main before the atomic swap vs. after).
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKER = Path(__file__).resolve().parents[1] / "tests" / "kill_worker.py"


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--repo", type=Path, required=True)
  p.add_argument("--rounds", type=int, default=6)
  p.add_argument("--window", type=float, default=1.5, help="max delay after the first export")
  args = p.parse_args()
  env = dict(os.environ, PYTHONPATH=str(args.repo.resolve()))
  target = Path(tempfile.mkdtemp(prefix="rde_kill_export_")) / "model"
  broken = 0
  for r in range(args.rounds):
    proc = subprocess.Popen([sys.executable, str(WORKER), "export", str(target)],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "ready"
    delay = random.uniform(0, args.window)
    time.sleep(delay)
    proc.kill()
    proc.wait()
    load = subprocess.run([sys.executable, "-c", "import sys; from rde_jax import checkpoint; "
                           "checkpoint.load_model(sys.argv[1])", str(target)],
                          env=env, capture_output=True, text=True)
    broken += load.returncode != 0
    last = (load.stderr.strip().splitlines() or [""])[-1][:120]
    print(f"round {r}: killed {delay:.2f} s in -> {'loads' if not load.returncode else last}",
          flush=True)
  print(f"{broken}/{args.rounds} broken")


if __name__ == "__main__":
  main()
