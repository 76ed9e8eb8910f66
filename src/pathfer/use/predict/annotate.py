"""Annotated output: analysed frames with each face's box and top emotion drawn on them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from pathfer.data.video import VideoError, VideoSink


class Annotator:
    """Writes analysed frames with boxes and labels (video, or one image for stills)."""

    def __init__(self, path: Path, fps: float, labels: Sequence[str], still: bool) -> None:
        self.path: Path | None = path
        self.labels = list(labels)
        self.still = still
        self._sink = None if still else VideoSink(path, fps)
        self.frames = 0

    def write(self, frame: np.ndarray, rows: list[tuple[tuple, np.ndarray]]) -> None:
        img = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame.copy()
        draw(img, rows, self.labels)
        if self._sink is None:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(self.path), img):
                raise VideoError(f"{self.path}: cannot write the annotated image")
        else:
            self._sink.write(img)
            self.path = self._sink.path  # the fallback's name if the codec was not there
        self.frames += 1

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
        if self.frames == 0:
            self.path = None


def draw(img: np.ndarray, rows: list[tuple[tuple, np.ndarray]], labels: Sequence[str]) -> None:
    """Draw each face's box and ``label prob`` on a BGR image in place."""
    scale = max(0.4, img.shape[0] / 600)
    thick = max(1, int(round(scale * 2)))
    for meta, p in rows:
        face = meta[-1]
        if not face:
            cv2.putText(
                img,
                "no face",
                (8, int(24 * scale)),
                cv2.FONT_HERSHEY_SIMPLEX,
                scale,
                (0, 0, 255),
                thick,
                cv2.LINE_AA,
            )
            continue
        x, y, w, h = (int(v) for v in meta[4:8])
        k = int(np.argmax(p))
        colour = (0, 200, 0) if meta[3] == 0 else (0, 200, 255)
        cv2.rectangle(img, (x, y), (x + w, y + h), colour, thick)
        text = f"{labels[k]} {p[k]:.2f}"
        ty = y - 6 if y - 6 > 12 * scale else y + h + int(18 * scale)
        cv2.putText(img, text, (x, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
