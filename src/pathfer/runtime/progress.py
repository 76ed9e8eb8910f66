"""One progress display for every long loop (preparing clips, running jobs, predicting
frames): a rich bar on a terminal, a caller's callback, or nothing.

::

    with progress_bar(total, description="preparing savee") as advance:
        for batch in batches:
            ...
            advance(len(batch))             # or advance(0, info="3 running") for a status
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

Advance = Callable[..., None]


class RateColumn(ProgressColumn):
    """Items per second over the last seconds (rich's own speed estimate), e.g. fps."""

    def __init__(self, unit: str = "/s") -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        text = "   -" if speed is None else f"{speed:6.1f}"
        return Text(f"{text} {self.unit}", style="progress.data.speed")


def _noop(n: int = 1, **fields: Any) -> None:
    return None


@contextmanager
def progress_bar(
    total: int | None,
    enabled: bool | Callable[[int, int | None], None] = True,
    *,
    description: str = "",
    done: int = 0,
    columns: Sequence[ProgressColumn] = (),
    info: bool = False,
    eta: bool = True,
    console: Console | None = None,
    terminal_only: bool = False,
    transient: bool = False,
) -> Iterator[Advance]:
    """Yield ``advance(n=1, **fields)`` for a loop of ``total`` items (None: unknown).

    ``enabled``: True for a rich bar, False for nothing, or a callable ``(done, total)``
    called at each advance instead. ``columns`` are shown after the count; ``info=True``
    adds a free text column set by ``advance(0, info="...")``. With ``terminal_only`` the
    bar is drawn only when the console is a terminal (pipes and logs stay clean).
    """
    if callable(enabled):
        count = done

        def report(n: int = 1, **fields: Any) -> None:
            nonlocal count
            count += n
            enabled(count, total)

        yield report
        return
    console = console or Console(stderr=True)
    if not enabled or (terminal_only and not console.is_terminal):
        yield _noop
        return
    parts: list[Any] = [TextColumn("[progress.description]{task.description}"), BarColumn()]
    parts += [MofNCompleteColumn(), *columns]
    if info:
        parts.append(TextColumn("{task.fields[info]}"))
    parts.append(TimeElapsedColumn())
    if eta:
        parts += [TextColumn("ETA"), TimeRemainingColumn()]
    bar = Progress(*parts, console=console, transient=transient)
    with bar:
        task = bar.add_task(description, total=total, completed=done, info="")

        def advance(n: int = 1, **fields: Any) -> None:
            bar.update(task, advance=n, **fields)

        yield advance
