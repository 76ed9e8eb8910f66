"""Face detectors: the :class:`FaceDetector` interface, its registry and the default choice.

Registered detectors:

- ``yunet``: YuNet (libfacedetection, through the ``yuface`` wheel): boxes, a confidence and
  five landmarks; finds three-quarter faces. The default where ``yuface`` is installed
  (its wheels exist for CPython <= 3.11 on x86_64 Linux and Windows); see
  :mod:`pathfer.data.faces.yunet`.
- ``haar``: OpenCV's frontal Haar cascade (ships with ``opencv-python-headless<5``): boxes
  only. The default where ``yuface`` is missing.
- ``none``: the whole image is the face, for folders of already-cropped faces.

Add a detector with ``@DETECTORS.register("name")`` (or :func:`register_detector`); it is then
available by name to ``prepare``, ``predict``, configs and bundles. Registry metadata used by
the pipeline: ``landmarks`` (gives five points), ``trackable`` (may be wrapped by
:class:`~pathfer.data.faces.track.TrackingDetector`, default true), ``window_side`` and
``full_side`` (the tracker's search sizes for this detector), ``refine_below`` (see the
tracker).
"""

from __future__ import annotations

import importlib.util
import math
import warnings
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


@DETECTORS.register("haar", landmarks=False, window_side=56, full_side=160)
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


@DETECTORS.register("none", landmarks=False, trackable=False)
class WholeImageDetector:
    """For images that are already face crops: the whole image is the face (score NaN).

    The crop then uses the whole image with no margin (see
    :func:`~pathfer.data.faces.crop.crop_face`), and nothing is tracked."""

    name = "none"

    def detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        return [Face((0, 0, int(w), int(h)))]


# the module imports ``yuface`` only when the detector is asked for
DETECTORS.register(
    "yunet",
    "pathfer.data.faces.yunet:YuNetDetector",
    landmarks=True,
    window_side=64,
    full_side=64,
    refine_below=32,
)

#: the default detector, and the one used where it cannot be
PREFERRED, FALLBACK = "yunet", "haar"


class DetectorFallbackWarning(UserWarning):
    """The default detector is not installed here; another one is used instead."""


_warned_fallback = False


def yunet_available() -> bool:
    """Whether the ``yuface`` package (YuNet) is installed."""
    return importlib.util.find_spec("yuface") is not None


def default_detector() -> str:
    """``yunet`` where ``yuface`` is installed, else ``haar`` (saying so once per process)."""
    global _warned_fallback
    if yunet_available():
        return PREFERRED
    if not _warned_fallback:
        _warned_fallback = True
        warnings.warn(
            DetectorFallbackWarning(
                "face detector: using 'haar' (frontal faces only, no landmarks) because the "
                "default 'yunet' needs the yuface package, which is not installed (its wheels "
                "exist for CPython <= 3.11 on x86_64 Linux and Windows: pip install yuface); "
                "pass --detector haar (or detector: haar) to choose it explicitly"
            ),
            stacklevel=2,
        )
    return FALLBACK


def register_detector(name: str, factory: Callable[[], FaceDetector], **meta: Any) -> None:
    """Make a detector available by name (to ``prepare``, ``predict``, configs, bundles)."""
    DETECTORS.register(name, factory, **meta)


def available_detectors() -> list[str]:
    return DETECTORS.list()


def detector_key(name: str | None) -> str:
    """The registered name for ``name`` (``None``: the default detector)."""
    if name is None:
        return default_detector()
    try:
        return DETECTORS.key(name)
    except RegistryError as exc:
        raise ValueError(str(exc)) from None


def get_detector(name: str | None = None) -> FaceDetector:
    """A new detector instance of the registered ``name`` (``None``: the default)."""
    try:
        factory = DETECTORS.get(detector_key(name))
    except RegistryError as exc:
        raise ValueError(str(exc)) from None
    return factory()
