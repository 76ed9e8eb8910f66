"""Face detectors: the :class:`FaceDetector` interface, its registry, and OpenCV's Haar
cascade (ships with ``opencv-python-headless<5``, so it needs no download).

Add a detector with ``@DETECTORS.register("name")`` (or :func:`register_detector`); it is then
available by name to ``prepare``, ``predict``, configs and bundles.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from pathfer.runtime.registry import Registry, RegistryError

Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels

#: the order of the five landmarks a detector may give (the subject's right eye is on the
#: image's left in a frontal face)
LANDMARKS = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face: its box, the detector's confidence and, if the detector gives
    them, five landmarks (:data:`LANDMARKS` order, ``(5, 2)`` float32 image pixels)."""

    box: Box
    score: float = math.nan  # NaN: the detector gives no confidence (Haar)
    landmarks: np.ndarray | None = None

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]

    def moved(self, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> Face:
        """The face in another frame's pixels: ``p / scale + (dx, dy)``."""
        x, y, w, h = self.box
        box = (
            int(round(x / scale + dx)),
            int(round(y / scale + dy)),
            int(round(w / scale)),
            int(round(h / scale)),
        )
        lm = None
        if self.landmarks is not None:
            lm = (self.landmarks / scale + np.array([dx, dy], np.float32)).astype(np.float32)
        return Face(box, self.score, lm)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Face):
            return NotImplemented
        same_lm = (self.landmarks is None and other.landmarks is None) or (
            self.landmarks is not None
            and other.landmarks is not None
            and np.array_equal(self.landmarks, other.landmarks)
        )
        scores = self.score == other.score or (math.isnan(self.score) and math.isnan(other.score))
        return self.box == other.box and scores and same_lm

    __hash__ = None  # type: ignore[assignment]


DETECTED, PREVIOUS, NONE = "detected", "previous", "none"


#: name -> detector factory (a class or function taking no arguments)
DETECTORS: Registry[Callable[[], FaceDetector]] = Registry("face detector")


@runtime_checkable
class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Face]:
        """All faces found in a frame (BGR or grey ``uint8``)."""
        ...


@DETECTORS.register("haar", landmarks=False)
class HaarDetector:
    """OpenCV's frontal-face Haar cascade (``cv2.data.haarcascades``): boxes only, no
    confidence (``score`` NaN) and no landmarks."""

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

    def detect(self, image: np.ndarray) -> list[Face]:
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        side = max(20, int(min(grey.shape[:2]) * self.min_size_fraction))
        found = self._cascade.detectMultiScale(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(side, side),
        )
        return [Face(tuple(int(v) for v in b)) for b in found]  # type: ignore[arg-type]


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


def register_detector(name: str, factory: Callable[[], FaceDetector], **meta: Any) -> None:
    """Make a detector available by name (to ``prepare``, ``predict``, configs, bundles)."""
    DETECTORS.register(name, factory, **meta)


def available_detectors() -> list[str]:
    return DETECTORS.list()


def get_detector(name: str = "haar") -> FaceDetector:
    """A new detector instance of the registered ``name``."""
    try:
        factory = DETECTORS.get(name)
    except RegistryError as exc:
        raise ValueError(str(exc)) from None
    return factory()
