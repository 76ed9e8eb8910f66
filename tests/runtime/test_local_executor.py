"""The local process pool's workers (and its forkserver) end with the process that made it,
even when that process is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pathfer.runtime.local import LocalExecutor

SCRIPT = """
import sys, time
from pathfer.runtime.local import LocalExecutor

def job(x):
    time.sleep(60)
    return x

if __name__ == "__main__":
    for out in LocalExecutor(2).run(job, [(i, i) for i in range(4)]):
        print(out, flush=True)
"""


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc: no psutil needed)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
        for k in kids:
            out += [k, *_children(k)]
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
def test_workers_and_forkserver_exit_when_the_parent_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "run_pool.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # forkserver + 2 workers (+ resource tracker)
            kids = _children(parent.pid)
            if len(kids) >= 3:
                break
            time.sleep(0.2)
        assert len(kids) >= 3, kids
        time.sleep(1.0)  # the workers' initializers have run
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.1)
        left = [k for k in kids if _alive(k)]
        assert not left, f"still running after the parent's SIGKILL: {left}"
    finally:
        for k in _children(parent.pid):
            os.kill(k, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()


def square(x: int) -> int:
    return x * x


def test_a_pool_with_a_live_parent_runs_its_jobs() -> None:
    outs = list(LocalExecutor(2).run(square, [(i, i) for i in range(5)]))
    assert sorted((o.key, o.value) for o in outs) == [(i, i * i) for i in range(5)]
