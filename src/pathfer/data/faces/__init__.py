"""Face detection and cropping.

The detector is an interface (:class:`FaceDetector`) with a small registry; the default is
OpenCV's frontal Haar cascade, which ships with ``opencv-python-headless<5`` and so needs no
download. Add a better detector with :func:`register_detector`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels

DETECTED, PREVIOUS, NONE = "detected", "previous", "none"


@runtime_checkable
class FaceDetector(Protocol):
    name: str

    def detect(self, grey: np.ndarray) -> list[Box]:
        """All faces found in a grey uint8 frame."""
        ...


class HaarDetector:
    """OpenCV's frontal-face Haar cascade (``cv2.data.haarcascades``)."""

    name = "haar"

    def __init__(
        self,
        cascade: str = "haarcascade_frontalface_default.xml",
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size_fraction: float = 0.1,
    ) -> None:
        self.cascade_name = cascade
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size_fraction = min_size_fraction
        self._cascade = _load_cascade(cascade)

    def detect(self, grey: np.ndarray) -> list[Box]:
        side = max(20, int(min(grey.shape[:2]) * self.min_size_fraction))
        found = self._cascade.detectMultiScale(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(side, side),
        )
        return [tuple(int(v) for v in b) for b in found]  # type: ignore[misc]


@cache
def _load_cascade(name: str) -> cv2.CascadeClassifier:
    data = getattr(cv2, "data", None)
    if data is None:
        raise RuntimeError(
            "this OpenCV build ships no Haar cascades (cv2.data is missing); "
            "install opencv-python-headless<5"
        )
    cascade = cv2.CascadeClassifier(data.haarcascades + name)
    if cascade.empty():
        raise RuntimeError(f"could not load Haar cascade {name!r} from {data.haarcascades}")
    return cascade


_DETECTORS: dict[str, Callable[[], FaceDetector]] = {"haar": HaarDetector}


def register_detector(name: str, factory: Callable[[], FaceDetector]) -> None:
    """Make a detector available by name (to ``prepare``, ``predict`` and configs)."""
    _DETECTORS[name] = factory


def available_detectors() -> list[str]:
    return sorted(_DETECTORS)


def get_detector(name: str = "haar") -> FaceDetector:
    try:
        return _DETECTORS[name]()
    except KeyError:
        raise ValueError(
            f"unknown face detector {name!r}; available: {', '.join(available_detectors())}"
        ) from None


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


def largest(boxes: Sequence[Box]) -> Box | None:
    if len(boxes) == 0:
        return None
    return max(boxes, key=lambda b: (b[2] * b[3], -b[0], -b[1]))


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
) -> list[tuple[Box | None, str]]:
    """The largest face per frame; a frame with no detection borrows a neighbour's box.

    A miss takes the previous frame's box; misses before the first detection take the
    first detected box. Each result says where its box came from (``detected``,
    ``previous`` or ``none`` when the clip has no face at all).
    """
    found = [largest(detector.detect(to_grey(f))) for f in frames]
    first = next((b for b in found if b is not None), None)
    out: list[tuple[Box | None, str]] = []
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
