"""Live prediction from a camera or stream: a window with boxes and labels where a display
exists, else the rows written (CSV) as frames arrive.

OpenCV's headless build (pathfer's default dependency) has no windows; with the full
``opencv-python`` and a display the window opens. Stop with ``q`` or Esc in the window, or
Ctrl-C (the rows so far are kept: :class:`PredictInterrupted`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

import cv2
import pandas as pd

from pathfer.use.predict.annotate import draw
from pathfer.use.predict.results import PredictInterrupted, Predictions

WINDOW = "pathfer predict (q to stop)"


def has_display() -> bool:
    """Whether a window can be shown: a display, and an OpenCV build with a GUI backend."""
    if sys.platform not in ("win32", "darwin") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
    except cv2.error:  # the headless build: "The function is not implemented"
        return False
    return True


class CsvRows:
    """Writes result rows as CSV lines to a text stream as they come (header once)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.header = True

    def __call__(self, rows: pd.DataFrame) -> None:
        pd.DataFrame(rows).to_csv(self.out, header=self.header, index=False, lineterminator="\n")
        self.header = False
        self.out.flush()


def run_live(
    rec: Any,
    source: Any,
    *,
    every: int = 1,
    all_faces: bool = False,
    window: bool = False,
    on_rows: Callable[[Predictions], None] | None = None,
    max_frames: int | None = None,
) -> Predictions:
    """Predict on ``source`` frame by frame until it ends, ``max_frames`` frames, ``q``/Esc
    in the window, or Ctrl-C; return every row (or raise :class:`PredictInterrupted`
    holding them)."""
    parts: list[Predictions] = []

    def rows_so_far() -> Predictions:
        if not parts:
            return rec.empty_result()
        out = Predictions(pd.concat(parts, ignore_index=True))
        out.attrs["labels"] = list(rec.labels)
        return out

    n = 0
    try:
        for frame, rows in rec.stream_with_frames(source, every=every, all_faces=all_faces):
            df = rec._frame([m for m, _ in rows], [p for _, p in rows])
            parts.append(df)
            if on_rows is not None:
                on_rows(df)
            if window:
                img = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame.copy()
                draw(img, rows, rec.labels)
                cv2.imshow(WINDOW, img)
                if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                    break
            n += 1
            if max_frames is not None and n >= max_frames:
                break
    except KeyboardInterrupt:
        raise PredictInterrupted(rows_so_far()) from None
    finally:
        if window:
            cv2.destroyAllWindows()
    return rows_so_far()
