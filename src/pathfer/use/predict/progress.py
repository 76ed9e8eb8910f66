"""A progress bar for long inputs: frames done, frames per second, time left."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

from pathfer.runtime.progress import RateColumn, progress_bar

#: inputs shorter than this many frames get no bar (it would flash and vanish)
MIN_FRAMES = 100

Advance = Callable[[int], None]


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
    short = total is not None and total < min_frames and not callable(enabled)
    with progress_bar(
        total,
        False if short else enabled,
        description=description,
        columns=[RateColumn("fps")],
        console=console,
        terminal_only=True,
        transient=True,
    ) as advance:
        yield advance
