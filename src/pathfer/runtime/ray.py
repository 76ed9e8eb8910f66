"""Run pathfer's jobs on a Ray cluster (the optional ``ray`` extra).

``RayExecutor`` implements :class:`pathfer.runtime.Executor`: one Ray task per job,
outcomes yielded as tasks finish. It is chosen with ``--executor ray`` (``pathfer prepare``,
``pathfer experiment run``) or ``get_executor("ray", address=...)``; see ``docs/ray.md``.

- An exception raised by a job is a real error: it comes back as a failed
  :class:`~pathfer.runtime.Outcome` carrying the exception and its traceback, and is
  never retried (the job is deterministic: it would fail again).
- A job whose worker process or node is lost (killed, out of memory, node down) is
  submitted again, at most ``max_retries`` more times; ``Outcome.attempts`` counts the
  submissions. The driver resubmits (Ray's own task retries are off) so that the count
  is exact and the last error is reported when the retries run out.

Jobs only receive their ``arg`` (paths as strings, small arrays, config dicts), so every
node must reach the same paths: put the corpora, the cache and the results folder on a file
system that all nodes share. Importing this module does not import Ray.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pathfer.runtime.base import Outcome, call_job
from pathfer.runtime.progress import progress_bar

INSTALL_HINT = "install the ray extra: pip install 'pathfer[ray]'"

#: the errors of a lost worker or node (not of the job itself): the job is run again
_RETRYABLE = (
    "WorkerCrashedError",
    "NodeDiedError",
    "ObjectLostError",
    "OwnerDiedError",
    "ObjectFetchTimedOutError",
    "ObjectReconstructionFailedError",
    "OutOfMemoryError",
)


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ImportError(f"the ray executor needs Ray; {INSTALL_HINT}") from exc
    return ray


def _run_job(fn: Callable[[Any], Any], arg: Any, threads: int) -> tuple[Any, str | None]:
    """The Ray task: run one job; its exception becomes the error string (never retried)."""
    # pathfer's jobs size their torch thread pool from this (not from the node's cores)
    os.environ["PATHFER_THREADS"] = str(threads)
    return call_job(fn, arg)


@dataclass
class RayProgress:
    """Where a grid stands; ``running`` is estimated from the cluster's free task slots."""

    total: int
    done: int = 0
    failed: int = 0
    retried: int = 0
    in_flight: int = 0
    slots: int = 0

    @property
    def running(self) -> int:
        return min(self.in_flight, self.slots) if self.slots else self.in_flight

    @property
    def queued(self) -> int:
        return self.in_flight - self.running

    def line(self) -> str:
        return (
            f"ray: {self.done + self.failed}/{self.total} finished ({self.failed} failed), "
            f"{self.running} running, {self.queued} queued, {self.retried} retried"
        )


class RayExecutor:
    """One Ray task per job, on a running Ray cluster or on a local Ray instance.

    ``address``: the cluster to join (``"auto"``, ``"HEAD:6379"``, ``"ray://HEAD:10001"``);
    ``None`` reads ``RAY_ADDRESS`` and otherwise starts a local instance. When Ray is
    already initialised in this process, that connection is used as it is.
    ``num_cpus_per_task``: CPUs Ray reserves for each job (the job's torch threads follow).
    ``max_retries``: how many times a job whose worker or node was lost is run again.
    ``runtime_env``: a Ray runtime environment for the tasks (e.g. ``{"py_modules": [...]}``
    when pathfer is not installed on the workers). ``init_kwargs``: more ``ray.init``
    arguments (``num_cpus``, ``include_dashboard``, ``namespace`` ...).
    ``progress``: ``False`` (quiet), ``True`` (a rich progress bar of the grid) or a callable
    given a status line (done / running / queued / failed / retried) every
    ``progress_every`` seconds and when the grid ends.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus_per_task: float = 1,
        max_retries: int = 2,
        runtime_env: dict[str, Any] | None = None,
        init_kwargs: dict[str, Any] | None = None,
        progress: bool | Callable[[str], None] = False,
        progress_every: float = 30.0,
    ) -> None:
        _import_ray()  # fail here, with the install hint, rather than at the first job
        if num_cpus_per_task <= 0:
            raise ValueError(f"num_cpus_per_task must be > 0, not {num_cpus_per_task}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, not {max_retries}")
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.num_cpus_per_task = num_cpus_per_task
        self.max_retries = max_retries
        self.runtime_env = runtime_env
        self.init_kwargs = dict(init_kwargs or {})
        self.progress = progress
        self.progress_every = progress_every
        self._started = False  # whether this executor called ray.init (and may shut it down)

    # ------------------------------------------------------------------ connection
    def connect(self):
        """Join the cluster (or start a local instance) unless Ray is already initialised."""
        ray = _import_ray()
        if not ray.is_initialized():
            kwargs = dict(self.init_kwargs)
            if self.address:
                kwargs.setdefault("address", self.address)
            if self.runtime_env is not None:
                kwargs.setdefault("runtime_env", self.runtime_env)
            ray.init(**kwargs)
            self._started = True
        return ray

    def shutdown(self) -> None:
        """Disconnect, if this executor connected (a local instance it started stops)."""
        if self._started:
            _import_ray().shutdown()
            self._started = False

    def __enter__(self) -> RayExecutor:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    @property
    def workers(self) -> int | None:
        """Jobs the cluster can run at once (``None`` before connecting)."""
        ray = _import_ray()
        if not ray.is_initialized():
            return None
        return self._slots(ray) or None

    def _slots(self, ray) -> int:
        try:
            cpus = float(ray.cluster_resources().get("CPU", 0))
        except Exception:  # the GCS is briefly unreachable: the estimate is only for display
            return 0
        return int(cpus // self.num_cpus_per_task)

    # ------------------------------------------------------------------ jobs
    def run(self, fn: Callable[[Any], Any], jobs: Iterable[tuple[Any, Any]]) -> Iterator[Outcome]:
        jobs = list(jobs)
        if not jobs:
            return
        ray = self.connect()
        options: dict[str, Any] = {
            "num_cpus": self.num_cpus_per_task,
            "max_retries": 0,  # lost workers are resubmitted below, to count the attempts
            "retry_exceptions": False,
        }
        if self.runtime_env is not None and not self._started:
            options["runtime_env"] = self.runtime_env
        task = ray.remote(_run_job).options(**options)
        threads = max(1, int(self.num_cpus_per_task))
        fn_ref = ray.put(fn)
        attempts: dict[int, int] = {}
        pending: dict[Any, int] = {}

        def submit(i: int) -> None:
            attempts[i] = attempts.get(i, 0) + 1
            pending[task.remote(fn_ref, jobs[i][1], threads)] = i

        for i in range(len(jobs)):
            submit(i)
        stats = RayProgress(total=len(jobs), in_flight=len(pending), slots=self._slots(ray))
        tick = 1.0 if self.progress else None
        with _Display(self.progress, self.progress_every, stats) as display:
            try:
                while pending:
                    refs = list(pending)
                    ready, rest = ray.wait(refs, num_returns=1, timeout=tick)
                    if ready and rest:  # take every task that has finished meanwhile
                        more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                        ready += more
                    for ref in ready:
                        i = pending.pop(ref)
                        value, err, retry = self._result(ray, ref, attempts[i])
                        if retry:
                            stats.retried += 1
                            submit(i)
                            continue
                        stats.done += err is None
                        stats.failed += err is not None
                        stats.in_flight = len(pending)
                        display.update()
                        yield Outcome(jobs[i][0], value, err, attempts[i])
                    if not ready and display.active:
                        stats.slots = self._slots(ray)
                        display.update()
            finally:  # Ctrl-C, or the caller stopped iterating: drop what is left
                for ref in pending:
                    try:
                        ray.cancel(ref)
                    except Exception:  # already finished or its worker is gone
                        pass

    def _result(self, ray, ref, attempt: int) -> tuple[Any, str | None, bool]:
        """``(value, error, retry)`` of a finished task."""
        from ray.exceptions import RayError, RayTaskError

        try:
            value, err = ray.get(ref)
            return value, err, False
        except RayTaskError as exc:  # the task raised outside the job (e.g. cannot unpickle)
            cause = getattr(exc, "cause", None) or exc
            return None, f"{type(cause).__name__}: {cause}\n{exc}", False
        except RayError as exc:
            kind = type(exc).__name__
            if any(c.__name__ in _RETRYABLE for c in type(exc).__mro__):
                if attempt <= self.max_retries:
                    return None, None, True
                return None, f"worker failed {attempt} time(s): {kind}: {exc}", False
            return None, f"{kind}: {exc}", False


class _Display:
    """The grid's progress: the shared bar (with a status column), periodic status lines
    for a callback, or nothing."""

    def __init__(self, progress: Any, every: float, stats: RayProgress) -> None:
        self.stats = stats
        self.every = every
        self.callback = progress if callable(progress) else None
        self.active = bool(progress)
        self.last = 0.0
        self._bar = progress_bar(
            stats.total, progress is True, description="ray", info=True, eta=False
        )
        self._advance: Any = None
        self._shown = 0

    def __enter__(self) -> _Display:
        self._advance = self._bar.__enter__()
        self.last = time.monotonic()
        return self

    def update(self) -> None:
        s = self.stats
        if self.callback is None:
            info = f"{s.running} running, {s.queued} queued, {s.failed} failed, {s.retried} retried"
            self._advance(s.done + s.failed - self._shown, info=info)
            self._shown = s.done + s.failed
        elif time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            self.callback(s.line())

    def __exit__(self, *exc: object) -> None:
        self.update() if self.callback is None else self.callback(self.stats.line())
        self._bar.__exit__(*exc)
