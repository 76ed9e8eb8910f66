"""Where independent jobs run: inline, on a local process pool, or on a Ray cluster.

``prepare`` submits one job per batch of clips and ``experiment run`` one job per
(method, fold, seed). Both only need :meth:`Executor.run`, which yields each job's
outcome as it finishes, so callers can persist results at once (and skip finished jobs
when a run is restarted).
"""

from __future__ import annotations

from typing import Any

from pathfer.runtime.base import Executor, Outcome, call_job
from pathfer.runtime.local import InlineExecutor, LocalExecutor

__all__ = ["Executor", "InlineExecutor", "LocalExecutor", "Outcome", "call_job", "get_executor"]


def get_executor(name: str = "local", workers: int | None = None, **kwargs: Any) -> Executor:
    """Build an executor by name: ``local`` (default), ``inline`` or ``ray``."""
    if name == "local":
        return LocalExecutor(workers)
    if name == "inline":
        return InlineExecutor()
    if name == "ray":
        from pathfer.runtime.ray import RayExecutor  # optional extra: imports Ray lazily

        return RayExecutor(**kwargs)
    raise ValueError(f"unknown executor {name!r}; use local, inline or ray")
