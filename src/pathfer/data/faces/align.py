"""Alignment from the eye landmarks: the roll of the eye line, refined and smoothed.

A detector with landmarks (``yunet``) gives both eyes; rotating the crop by the eye line's
angle makes the eyes level. Two corrections make that angle trustworthy:

- YuNet's points follow only part of an in-plane turn (80 wild photos turned by 20 degrees
  read as 13, median), so :func:`refine_roll` measures once more on a window around the face
  turned by the first estimate and adds what is left (median error then under 0.5 degrees);
- landmarks found in a small tracking window are whole pixels of that window, so on video
  the angle is smoothed over the clip's sampled frames by a running median
  (:func:`clip_rolls`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import pandas as pd

from pathfer.data.faces.detect import Face, FaceDetector

#: the running median's width, in sampled frames
SMOOTHING = 3

#: side of the turned window searched by :func:`refine_roll` (a face of ~70 px in it)
REFINE_SIDE = 112


def eye_roll(landmarks: np.ndarray) -> float:
    """Angle of the line from the image-left eye to the image-right eye, in degrees
    (positive when the image-right eye is lower: the face turned clockwise in the image)."""
    (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
    return math.degrees(math.atan2(float(ry - ly), float(rx - lx)))


def face_roll(face: Face | None) -> float | None:
    """The eye-line angle of ``face``, or None when it has no landmarks."""
    if face is None or face.landmarks is None:
        return None
    return eye_roll(face.landmarks)


def refine_roll(
    image: np.ndarray,
    face: Face,
    detector: FaceDetector,
    side: int = REFINE_SIDE,
    window: float = 1.6,
) -> float | None:
    """The eye-line angle of ``face`` in ``image``, measured again after turning a window
    around it (``window`` times the box, scaled to ``side`` pixels) by the first estimate;
    the first estimate when the detector finds no face with landmarks there."""
    roll = face_roll(face)
    if roll is None:
        return None
    x, y, w, h = face.box
    cx, cy = x + w / 2.0, y + h / 2.0
    scale = side / (max(w, h) * window)
    src = image
    if scale < 0.5:  # warpAffine has no area interpolation: shrink big faces first
        f = 2 * scale
        src = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        cx, cy, scale = cx * f, cy * f, 0.5
    m = cv2.getRotationMatrix2D((cx, cy), roll, scale)
    m[0, 2] += side / 2.0 - cx
    m[1, 2] += side / 2.0 - cy
    patch = cv2.warpAffine(src, m, (side, side), borderMode=cv2.BORDER_REPLICATE)
    found = [f for f in detector.detect(patch) if f.landmarks is not None]
    if not found:
        return roll
    centre = side / 2.0
    best = min(
        found,
        key=lambda f: (
            (f.box[0] + f.box[2] / 2 - centre) ** 2 + (f.box[1] + f.box[3] / 2 - centre) ** 2
        ),
    )
    return roll + eye_roll(best.landmarks)


def clip_rolls(
    faces: Sequence[Face | None],
    images: Sequence[np.ndarray] | None = None,
    detector: FaceDetector | None = None,
    window: int = SMOOTHING,
) -> list[float | None]:
    """Each frame's eye-line angle (refined by :func:`refine_roll` when ``images`` and the
    ``detector`` are given), smoothed by a centred running median over the clip; None for
    frames whose face has no landmarks (they are cropped unrotated)."""
    if images is not None and detector is not None:
        raw = [
            None if f is None else refine_roll(img, f, detector)
            for img, f in zip(images, faces, strict=True)
        ]
    else:
        raw = [face_roll(f) for f in faces]
    series = pd.Series([np.nan if r is None else r for r in raw], dtype=float)
    smooth = series.rolling(window, center=True, min_periods=1).median()
    return [None if r is None else float(s) for r, s in zip(raw, smooth, strict=True)]
