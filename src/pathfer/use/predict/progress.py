"""A progress bar for long inputs: frames done, frames per second, time left (rich)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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

#: inputs shorter than this many frames get no bar (it would flash and vanish)
MIN_FRAMES = 100

Advance = Callable[[int], None]


class FpsColumn(ProgressColumn):
    """Frames per second over the last seconds (rich's own speed estimate)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(
            "   - fps" if speed is None else f"{speed:6.1f} fps", style="progress.data.speed"
        )


def _noop(n: int) -> None:
    return None


@contextmanager
def frame_progress(
    total: int | None,
    enabled: bool | Any = True,
    *,
    description: str = "predict",
    console: Console | None = None,
    min_frames: int = MIN_FRAMES,
) -> Iterator[Advance]:
    """Yield ``advance(n_frames)``; shows a bar on ``console`` (stderr) when enabled, the
    console is a terminal and ``total`` is unknown or at least ``min_frames``.

    ``enabled`` may also be a callable ``(done, total)``, called instead of drawing a bar.
    """
    if callable(enabled):
        done = 0

        def report(n: int) -> None:
            nonlocal done
            done += n
            enabled(done, total)

        yield report
        return
    console = console or Console(stderr=True)
    short = total is not None and total < min_frames
    if not enabled or short or not console.is_terminal:
        yield _noop
        return
    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames"),
        FpsColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
