"""SIGTERM during training: one process stops on its flag; with two JAX processes on localhost
a notice sent to one of them stops both after the same step (JAX's preemption service)."""

import os
import signal
import textwrap
import time

import pytest

from rde_jax.train.preemption_sync import StopCheck

from workers import finish, free_port, start


_WORKER = textwrap.dedent("""
    import sys, time
    pid = int(sys.argv[1])
    from rde_jax import multihost
    multihost.initialize("localhost:{port}", 2, pid)
    from rde_jax.train.preemption_sync import StopCheck
    check = StopCheck()
    open({ready!r} + str(pid), "w").close()
    for step in range(1, 2000):
      time.sleep(0.02)  # a training step
      if check.check(step):
        print("stopped at", step, flush=True)
        break
    else:
      print("never stopped", flush=True)
""")


def test_one_process_stops_on_its_flag():
  check = StopCheck()
  try:
    assert not check.check(1)
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(100):  # the handler runs between bytecodes of the main thread
      if check.check(2):
        break
      time.sleep(0.01)
    assert check.check(3)
  finally:
    check.restore()
  assert signal.getsignal(signal.SIGTERM) is not check._handle


@pytest.mark.multiprocess
def test_two_processes_stop_at_the_same_step(tmp_path):
  ready = str(tmp_path / "ready")
  procs = start(_WORKER.format(port=free_port(), ready=ready), (0, 1))
  deadline = time.time() + 120
  while not all(os.path.exists(ready + str(i)) for i in (0, 1)):
    assert time.time() < deadline and all(p.poll() is None for p in procs)
    time.sleep(0.05)
  time.sleep(0.5)
  procs[1].send_signal(signal.SIGTERM)  # the notice reaches one host only
  lines = [o.strip().splitlines()[-1] for o in finish(procs, timeout=120)]
  assert lines[0].startswith("stopped at") and lines[0] == lines[1], lines
