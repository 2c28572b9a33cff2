"""Several Python processes on localhost for the multi-process tests (JAX on CPU, gloo)."""

import os
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")


def python_env(**extra: str) -> dict[str, str]:
  """This environment for a child Python: the repository and tests/ importable (pytest's
  `pythonpath` setting reaches this process only), plus `extra` variables."""
  path = [ROOT, TESTS] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
  return dict(os.environ, PYTHONPATH=os.pathsep.join(path), **extra)


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def start(script: str, ids) -> list:
  """`python -c script <id>` for each id, on CPU without forced host device counts."""
  env = python_env(JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)
  return [subprocess.Popen([sys.executable, "-c", script, str(i)], env=env, cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for i in ids]


def finish(procs, timeout: float = 900) -> list[str]:
  """Waits for every process; asserts each exited 0; returns their stdouts."""
  outs = [p.communicate(timeout=timeout) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  return [out for out, _ in outs]
