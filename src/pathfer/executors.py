"""Where independent jobs run: inline, on a local process pool, or on a Ray cluster.

``prepare`` submits one job per batch of clips and ``experiment run`` one job per
(method, fold, seed). Both only need :meth:`Executor.run`, which yields each job's
outcome as it finishes, so callers can persist results at once (and skip finished jobs
when a run is restarted).
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass
class Outcome:
    """One job's result, or the error that stopped it (never silently dropped)."""

    key: Any
    value: Any = None
    error: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None


class Executor(Protocol):
    name: str

    def run(self, fn: Callable[[Any], Any], jobs: Iterable[tuple[Any, Any]]) -> Iterator[Outcome]:
        """Run ``fn(arg)`` for each ``(key, arg)``; yield outcomes as they finish."""
        ...


def _call(fn: Callable[[Any], Any], arg: Any) -> tuple[Any, str | None]:
    try:
        return fn(arg), None
    except Exception as exc:  # reported to the caller with its traceback
        return None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"


class InlineExecutor:
    """Runs jobs one after another in this process (debugging, tiny runs, tests)."""

    name = "inline"

    def run(self, fn, jobs):
        for key, arg in jobs:
            value, err = _call(fn, arg)
            yield Outcome(key, value, err)


class LocalExecutor:
    """A local process pool (the default). ``workers=1`` runs inline."""

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
        attempts: dict[int, int] = {}
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(jobs)))
        # On Ctrl-C (or when the caller stops iterating) drop the queued jobs instead of
        # running them all before returning; only the running ones are waited for.
        with _Shutdown(pool):
            pending = {pool.submit(_call, fn, arg): i for i, (_, arg) in enumerate(jobs)}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = pending.pop(fut)
                    attempts[i] = attempts.get(i, 0) + 1
                    key, arg = jobs[i]
                    try:
                        value, err = fut.result()
                    except Exception as exc:  # the worker process died
                        value, err = None, f"worker failed: {type(exc).__name__}: {exc}"
                        if attempts[i] <= self.max_retries:
                            pending[pool.submit(_call, fn, arg)] = i
                            continue
                    yield Outcome(key, value, err, attempts[i])


class _Shutdown:
    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self.pool = pool

    def __enter__(self) -> ProcessPoolExecutor:
        return self.pool

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def get_executor(name: str = "local", workers: int | None = None, **kwargs: Any) -> Executor:
    """Build an executor by name: ``local`` (default), ``inline`` or ``ray``."""
    if name == "local":
        return LocalExecutor(workers)
    if name == "inline":
        return InlineExecutor()
    if name == "ray":
        from pathfer.ray_executor import RayExecutor  # optional extra

        return RayExecutor(**kwargs)
    raise ValueError(f"unknown executor {name!r}; use local, inline or ray")
