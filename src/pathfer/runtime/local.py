"""Executors on this machine: inline (one job after another) and a local process pool."""

from __future__ import annotations

import multiprocessing
import os
import select
import sys
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from pathfer.runtime.base import Outcome, call_job


class InlineExecutor:
    """Runs jobs one after another in this process (debugging, tiny runs, tests)."""

    name = "inline"

    def run(self, fn, jobs):
        for key, arg in jobs:
            value, err = call_job(fn, arg)
            yield Outcome(key, value, err)


def _alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill would end it there; a spawned worker's parent
        return os.getppid() == pid  # is the pool's process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process took the number: ours is gone
        return False
    return True


def _wait_for_exit(pid: int, poll_s: float = 0.5) -> None:
    """Returns when process ``pid`` has ended: at once on Linux (a pidfd becomes readable),
    else by polling every ``poll_s`` seconds."""
    try:
        fd = os.pidfd_open(pid)  # Linux >= 5.3
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])
        return
    while _alive(pid):
        time.sleep(poll_s)


def _exit_with_parent(parent: int) -> None:
    """Pool initializer: the worker exits as soon as ``parent`` (the process that made the
    pool) is gone, even killed with SIGKILL, instead of idling on with its memory (a
    worker's own parent is the forkserver, which outlives a killed parent while workers
    hold it open). Workers started from a live parent never see this fire."""

    def watch() -> None:
        _wait_for_exit(parent)
        os._exit(70)  # EX_SOFTWARE: nothing to clean up, nobody to report to

    threading.Thread(target=watch, name="pathfer-parent-watch", daemon=True).start()


def _pool(workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers do not inherit this process' threads, and which exit
    with this process (:func:`_exit_with_parent`).

    Forking a process that already ran OpenCV's or OpenMP's thread pools (the synthetic
    corpus generator, a torch step) can deadlock the child inside those libraries; the
    forkserver (spawn where there is none) starts workers from a clean process instead.
    """
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_exit_with_parent,
        initargs=(os.getpid(),),
    )


class LocalExecutor:
    """A local process pool (the default). ``workers=1`` runs inline.

    At most ``workers`` jobs are in the pool at a time. A worker process that dies (killed,
    out of memory, a crash in native code) breaks the whole pool, so the jobs it held are
    run again on a fresh pool, one at a time until each has finished or broken the pool on
    its own. A job is given up (reported as failed) once it has broken the pool on its own
    ``max_retries + 1`` times; the other jobs still run. An exception raised by a job is its
    result (reported, not retried).
    """

    name = "local"

    def __init__(self, workers: int | None = None, max_retries: int = 1) -> None:
        self.workers = workers or max(1, os.cpu_count() or 1)
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        self.max_retries = max_retries

    def run(self, fn, jobs):
        jobs = list(jobs)
        if self.workers == 1 or len(jobs) <= 1:
            yield from InlineExecutor().run(fn, jobs)
            return
        size = min(self.workers, len(jobs))
        runs: dict[int, int] = {}  # times each job was submitted (Outcome.attempts)
        lost: dict[int, int] = {}  # worker deaths blamed on each job
        suspects: set[int] = set()  # in the pool when it broke: rerun one at a time
        todo = deque(range(len(jobs)))
        pending: dict[Future, int] = {}
        pool = _pool(size)

        def settle(fut: Future, alone: bool) -> Outcome | None:
            """The job's outcome, or ``None`` when its worker died and it is queued again."""
            i = pending.pop(fut)
            try:
                value, err = fut.result()
            except Exception as exc:  # the worker process died
                value, err = None, f"worker failed: {type(exc).__name__}: {exc}"
                if alone or not isinstance(exc, BrokenProcessPool):
                    lost[i] = lost.get(i, 0) + 1
                if lost.get(i, 0) <= self.max_retries:
                    suspects.add(i)
                    todo.appendleft(i)
                    return None
            suspects.discard(i)
            return Outcome(jobs[i][0], value, err, runs[i])

        # When the caller stops iterating, the running jobs are waited for; on Ctrl-C (or a
        # SIGTERM turned into one) the workers are stopped.
        try:
            while todo or pending:
                broken = False
                while todo and len(pending) < (1 if suspects else size):
                    i = todo.popleft()
                    try:
                        fut = pool.submit(call_job, fn, jobs[i][1])
                    except BrokenProcessPool:  # an idle worker died
                        todo.appendleft(i)
                        broken = True
                        break
                    runs[i] = runs.get(i, 0) + 1
                    pending[fut] = i
                if pending:
                    alone = len(pending) == 1
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                        broken = True  # every job still in the pool fails with it
                        done = wait(pending).done
                    for fut in done:
                        out = settle(fut, alone)
                        if out is not None:
                            yield out
                if broken:
                    pool.shutdown(wait=True, cancel_futures=True)
                    pool = _pool(size)
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM through the command line's handler
            _stop_workers(pool)  # the jobs they ran are lost; what finished is saved
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminates the pool's worker processes, so that none goes on computing after an
    interrupted run (a SIGTERM reaches only this process; Ctrl-C reaches them too)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14
    if terminate is not None:
        terminate()
        return
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        if proc.is_alive():
            proc.terminate()
