"""Face detectors: the :class:`FaceDetector` interface, its registry, and OpenCV's Haar
cascade (ships with ``opencv-python-headless<5``, so it needs no download).

Add a detector with ``@DETECTORS.register("name")`` (or :func:`register_detector`); it is then
available by name to ``prepare``, ``predict``, configs and bundles.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from pathfer.runtime.registry import Registry, RegistryError

Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels


DETECTED, PREVIOUS, NONE = "detected", "previous", "none"


#: name -> detector factory (a class or function taking no arguments)
DETECTORS: Registry[Callable[[], FaceDetector]] = Registry("face detector")


@runtime_checkable
class FaceDetector(Protocol):
    name: str

    def detect(self, grey: np.ndarray) -> list[Box]:
        """All faces found in a grey uint8 frame."""
        ...


@DETECTORS.register("haar", landmarks=False)
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
