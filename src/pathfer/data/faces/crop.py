"""From a frame and a face box to a model input: the crop settings, the crop itself, and the
choice of one box per frame of a clip."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from pathfer.data.faces.detect import DETECTED, NONE, PREVIOUS, Box, Face, FaceDetector


@dataclass(frozen=True)
class CropSettings:
    """How a face becomes a model input: margin around the box, size, equalisation."""

    size: int = 48
    margin: float = 0.15
    equalize: bool = True
    detector: str = "haar"

    def __post_init__(self) -> None:
        if not 8 <= self.size <= 512:
            raise ValueError(f"crop size must be between 8 and 512 pixels, not {self.size}")
        if not 0.0 <= self.margin <= 1.0:
            raise ValueError(
                f"crop margin must be between 0 and 1 (a fraction of the box), not {self.margin}"
            )

    def as_dict(self) -> dict:
        return asdict(self)


def to_grey(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return frame
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def largest(faces: Sequence[Face]) -> Face | None:
    """The face with the largest box (ties: leftmost, then topmost), or None."""
    if len(faces) == 0:
        return None
    return max(faces, key=lambda f: (f.area, -f.box[0], -f.box[1]))


def crop_face(frame: np.ndarray, box: Box, settings: CropSettings) -> np.ndarray:
    """A square grey crop around ``box`` with a margin, resized to ``settings.size``.

    Parts of the enlarged box outside the frame are filled by replicating the border,
    so faces near the edge keep their scale.
    """
    grey = to_grey(frame)
    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * settings.margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(1, int(round(side)))
    pad = max(0, -x0, -y0, x0 + s - grey.shape[1], y0 + s - grey.shape[0])
    if pad:
        grey = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    patch = grey[y0 : y0 + s, x0 : x0 + s]
    interp = cv2.INTER_AREA if s > settings.size else cv2.INTER_LINEAR
    crop = cv2.resize(patch, (settings.size, settings.size), interpolation=interp)
    if settings.equalize:
        crop = cv2.equalizeHist(crop)
    return crop


def locate_faces(
    frames: Sequence[np.ndarray], detector: FaceDetector
) -> list[tuple[Face | None, str]]:
    """The largest face per frame; a frame with no detection borrows a neighbour's box.

    A miss takes the previous frame's box; misses before the first detection take the
    first detected box. Each result says where its box came from (``detected``,
    ``previous`` or ``none`` when the clip has no face at all).
    """
    found = [largest(detector.detect(f)) for f in frames]
    first = next((b for b in found if b is not None), None)
    out: list[tuple[Face | None, str]] = []
    prev = first
    for box in found:
        if box is not None:
            out.append((box, DETECTED))
            prev = box
        elif prev is not None:
            out.append((prev, PREVIOUS))
        else:
            out.append((None, NONE))
    return out
