"""Annotated output: analysed frames with each face's box and top emotion drawn on them.

Labels sit on a filled band just above the box (inside it at the frame's top edge), moved
down past labels already drawn so that neighbours in a group photo do not hide each other,
and always wholly inside the frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from pathfer.data.video import VideoError, VideoSink
from pathfer.use.predict.columns import BOX, FACE, FACE_INDEX

FONT = cv2.FONT_HERSHEY_SIMPLEX
MAIN, OTHER, NO_FACE = (0, 200, 0), (0, 200, 255), (0, 0, 255)  # BGR


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


Rect = tuple[int, int, int, int]  # x0, y0, x1, y1


def label_box(
    frame_shape: tuple[int, ...],
    box: tuple[int, int, int, int],
    text: str,
    scale: float,
    thick: int,
    placed: Sequence[Rect] = (),
) -> Rect:
    """``(x0, y0, x1, y1)`` of the filled label band for ``text`` on a face ``box``.

    The band sits just above the box; where that leaves the frame, at the top of the box,
    inside it. Where it would cover a band already ``placed`` (faces side by side in a
    group photo), it moves down a band's height at a time (inside the box, then below it)
    until it covers none; it always lies wholly inside the frame."""
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thick)
    pad = max(2, thick + 1)
    bw, bh = tw + 2 * pad, th + base + 2 * pad
    fh, fw = frame_shape[:2]
    x, y = box[0], box[1]
    x0 = int(min(max(0, x), max(0, fw - bw)))
    y0 = y - bh if y - bh >= 0 else y
    top = int(min(max(0, y0), max(0, fh - bh)))
    rect = (x0, top, min(fw, x0 + bw), min(fh, top + bh))
    for step in range(1, max(2, fh // max(1, bh)) + 1):
        if not any(_overlap(rect, other) for other in placed):
            break
        down = int(min(top + step * bh, max(0, fh - bh)))
        rect = (x0, down, min(fw, x0 + bw), min(fh, down + bh))
        if down == max(0, fh - bh) and any(_overlap(rect, other) for other in placed):
            break  # no free row below: the last one it is
    return rect


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _label(img: np.ndarray, rect: Rect, text: str, colour: tuple, scale: float, thick: int):
    x0, y0, x1, y1 = rect
    cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), colour, cv2.FILLED)
    (_, th), _ = cv2.getTextSize(text, FONT, scale, thick)
    pad = max(2, thick + 1)
    cv2.putText(img, text, (x0 + pad, y0 + pad + th), FONT, scale, (0, 0, 0), thick, cv2.LINE_AA)


def draw(img: np.ndarray, rows: list[tuple[tuple, np.ndarray]], labels: Sequence[str]) -> None:
    """Draw each face's box and ``label prob`` on a BGR image in place."""
    scale = max(0.4, img.shape[0] / 600)
    thick = max(1, int(round(scale * 2)))
    placed: list[tuple[int, int, int, int]] = []
    for meta, p in rows:
        if not meta[FACE]:
            _label(
                img,
                label_box(img.shape, (0, 0, 0, 0), "no face", scale, thick, placed),
                "no face",
                NO_FACE,
                scale,
                thick,
            )
            continue
        x, y, w, h = (int(v) for v in meta[BOX])
        k = int(np.argmax(p))
        colour = MAIN if meta[FACE_INDEX] == 0 else OTHER
        cv2.rectangle(img, (x, y), (x + w, y + h), colour, thick)
        text = f"{labels[k]} {p[k]:.2f}"
        band = label_box(img.shape, (x, y, w, h), text, scale, thick, placed)
        placed.append(band)
        _label(img, band, text, colour, scale, thick)
