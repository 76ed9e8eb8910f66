"""Face tracking for preparation: search near the last face first, the whole frame if lost.

Running a Haar cascade over a whole frame costs 10-25 ms at 360x288 (and far more on HD
video), several times the cost of decoding the frame. Within a clip the face moves little,
so :class:`TrackingDetector` looks for it in a window around the previous box, scaled
down so the face is about 30 px across (the cascade's 24 px window then needs only a
few scales), and falls back to a full-frame search when the window holds no face. The
full-frame search runs on the frame scaled down to at most ``full_side`` pixels on its
shorter side (emotion corpora are close-ups: a face of a quarter of the frame height is
still 40 px there), and the box it finds is refined by a window search around it.

It wraps any registered detector (it only calls ``detect``), keeps per-clip state, and is
itself a :class:`~pathfer.data.faces.FaceDetector`, so ``locate_faces`` uses it as is.
:func:`video_detector` builds one with the search sizes registered for the detector
(``yunet``: a 64 px window, a 96 px full search; ``haar``: 56 and 160 px); a detector
registered as not trackable (``none``, the whole image) is returned unwrapped.
Give it BGR frames: YuNet uses colour (grey frames work, at a small cost).
"""

from __future__ import annotations

import cv2
import numpy as np

from pathfer.data.faces.crop import largest
from pathfer.data.faces.detect import DETECTORS, Face, FaceDetector, get_detector


def _scaled(image: np.ndarray, scale: float, fast: bool = False) -> np.ndarray:
    """``image`` scaled down by ``scale``; ``fast``: bilinear, 16x cheaper than area
    averaging on a tracking window and as good for finding the face in it (measured on
    GRID: same face rate, box IoU and landmark error)."""
    if scale >= 1.0:
        return image
    interp = cv2.INTER_LINEAR if fast else cv2.INTER_AREA
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=interp)


def _unscale(faces: list[Face], scale: float, dx: int = 0, dy: int = 0) -> list[Face]:
    return [f.moved(min(scale, 1.0), dx, dy) for f in faces]


class TrackingDetector:
    """Wraps a detector: window search around the previous face, full frame when lost."""

    def __init__(
        self,
        base: FaceDetector,
        window: float = 1.8,
        window_side: int = 56,
        full_side: int = 160,
        refine_below: int | None = None,
    ) -> None:
        name = getattr(base, "name", "")
        if name in DETECTORS and not DETECTORS.meta(name).get("trackable", True):
            raise ValueError(f"face detector {name!r} cannot be tracked (it finds no location)")
        self.base = base
        self.name = f"{base.name}+track"
        self.window = window
        self.window_side = window_side
        self.full_side = full_side
        #: refine a full-search box at window resolution only when the face was smaller than
        #: this many pixels in the small copy (None: always)
        self.refine_below = refine_below
        self.previous: Face | None = None
        self.full_searches = 0

    def reset(self) -> None:
        self.previous = None

    def _in_window(self, image: np.ndarray, face: Face) -> list[Face]:
        x, y, w, h = face.box
        side = int(round(max(w, h) * self.window))
        cx, cy = x + w / 2.0, y + h / 2.0
        x0, y0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
        x1, y1 = min(image.shape[1], x0 + side), min(image.shape[0], y0 + side)
        if x1 - x0 < 24 or y1 - y0 < 24:
            return []
        scale = self.window_side / float(side)
        patch = _scaled(image[y0:y1, x0:x1], scale, fast=True)
        return _unscale(self.base.detect(patch), scale, x0, y0)

    def _full_scale(self, image: np.ndarray) -> float:
        return min(1.0, self.full_side / float(min(image.shape[:2])))

    def _full(self, image: np.ndarray) -> list[Face]:
        self.full_searches += 1
        scale = self._full_scale(image)
        return _unscale(self.base.detect(_scaled(image, scale)), scale)

    def detect(self, image: np.ndarray) -> list[Face]:
        """The face nearest the previous one (a one-element list), or none."""
        found: Face | None = None
        if self.previous is not None:
            faces = self._in_window(image, self.previous)
            if faces:
                px, py, pw, ph = self.previous.box
                px, py = px + pw / 2.0, py + ph / 2.0
                found = min(
                    faces,
                    key=lambda f: (
                        (f.box[0] + f.box[2] / 2 - px) ** 2 + (f.box[1] + f.box[3] / 2 - py) ** 2
                    ),
                )
        if found is None:
            found = largest(self._full(image))
            if found is None:
                return []
            # the full search ran on a small copy: refine the box at window resolution,
            # unless the face was already as big there as in a window
            small = max(found.box[2], found.box[3]) * self._full_scale(image)
            if self.refine_below is None or small < self.refine_below:
                refined = self._in_window(image, found)
                if refined:
                    found = largest(refined)
        self.previous = found
        return [found]


def video_detector(name: str | None = None, track: bool = True) -> FaceDetector:
    """The detector ``name`` (``None``: the default) for the frames of one clip at a time:
    wrapped in a :class:`TrackingDetector` with its registered search sizes when ``track``
    and the detector can be tracked. Call ``reset()`` (if present) between clips."""
    base = get_detector(name)
    meta = DETECTORS.meta(base.name) if base.name in DETECTORS else {}
    if not track or not meta.get("trackable", True):
        return base
    sizes = {k: meta[k] for k in ("window_side", "full_side", "refine_below") if k in meta}
    return TrackingDetector(base, **sizes)
