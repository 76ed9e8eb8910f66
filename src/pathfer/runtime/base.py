"""What every executor shares: a job's :class:`Outcome`, the :class:`Executor` protocol and
:func:`call_job`, which turns a job's exception into its reported error."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Iterator
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


def call_job(fn: Callable[[Any], Any], arg: Any) -> tuple[Any, str | None]:
    try:
        return fn(arg), None
    except Exception as exc:  # reported to the caller with its traceback
        return None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
