"""From a frame and a face to a model input: the crop settings, the crop itself (optionally
rotated so the eyes are level), and the choice of one face per frame of a clip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Annotated, Any

import cv2
import numpy as np
from pydantic import Field

from pathfer.data.faces.align import face_roll
from pathfer.data.faces.detect import (
    DETECTED,
    DETECTORS,
    NONE,
    PREVIOUS,
    Box,
    Face,
    FaceDetector,
    default_detector,
)
from pathfer.runtime.validation import Float, Int

#: the detector name for images that are already face crops
WHOLE_IMAGE = "none"

#: the crop's ranges, written once: every settings class with a crop field uses these
MIN_SIZE, MAX_SIZE = 8, 512
CropSize = Annotated[Int, Field(ge=MIN_SIZE, le=MAX_SIZE)]
CropMargin = Annotated[Float, Field(ge=0, le=1)]


@dataclass(frozen=True)
class CropSettings:
    """How a face becomes a model input: detector, margin around the box, size,
    equalisation, and whether to rotate the crop so the eyes are level.

    ``detector=None`` picks the default (``yunet`` where installed, else ``haar``) and
    records its name. With ``detector="none"`` (images that are already faces) the whole
    image is the crop: the margin is 0 and nothing is aligned. ``align`` needs a detector
    with landmarks; with others it changes nothing.
    """

    size: int = 48
    #: margin and equalisation chosen on real photos' validation subjects (docs/tuning.md)
    margin: float = 0.1
    equalize: bool = False
    detector: str | None = None
    align: bool = False

    def __post_init__(self) -> None:
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ValueError(
                f"crop size must be between {MIN_SIZE} and {MAX_SIZE} pixels, not {self.size}"
            )
        if not 0.0 <= self.margin <= 1.0:
            raise ValueError(
                f"crop margin must be between 0 and 1 (a fraction of the box), not {self.margin}"
            )
        name = default_detector() if self.detector is None else str(self.detector)
        if name in DETECTORS:  # the registered spelling; an unknown name fails when used
            name = DETECTORS.key(name)
        object.__setattr__(self, "detector", name)
        if name == WHOLE_IMAGE:
            object.__setattr__(self, "margin", 0.0)
            object.__setattr__(self, "align", False)

    @property
    def whole_image(self) -> bool:
        return self.detector == WHOLE_IMAGE

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CropSettings:
        """The settings :meth:`as_dict` wrote (a bundle's ``crop``, a card), checked.

        Keys left out take their defaults (bundles written before ``align`` existed have
        none). An unknown key or a value of the wrong type is a ``ValueError`` naming it;
        ranges are checked as for any :class:`CropSettings`.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"crop settings must be a mapping, not {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(
                f"unknown crop setting(s) {', '.join(map(repr, unknown))}; known: "
                f"{', '.join(known)}"
            )
        for key, value in data.items():
            if not _CROP_TYPES[key](value):
                raise ValueError(f"crop setting {key!r}: {_CROP_KINDS[key]}, not {value!r}")
        values = dict(data)
        if "margin" in values:
            values["margin"] = float(values["margin"])
        return cls(**values)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return _is_int(v) or isinstance(v, float)


#: the type each crop setting holds in a dict (JSON), and how an error names it
_CROP_TYPES = {
    "size": _is_int,
    "margin": _is_number,
    "equalize": lambda v: isinstance(v, bool),
    "detector": lambda v: v is None or isinstance(v, str),
    "align": lambda v: isinstance(v, bool),
}
_CROP_KINDS = {
    "size": "an integer number of pixels",
    "margin": "a number",
    "equalize": "true or false",
    "detector": "a detector name",
    "align": "true or false",
}


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


def resize_face(image: np.ndarray, settings: CropSettings) -> np.ndarray:
    """An image that is already a face, as a model input: grey, resized to
    ``settings.size`` square (the whole image, no margin), equalised if set."""
    grey = to_grey(image)
    s = settings.size
    shrink = grey.shape[0] * grey.shape[1] > s * s
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    crop = cv2.resize(grey, (s, s), interpolation=interp)
    return cv2.equalizeHist(crop) if settings.equalize else crop


def crop_face(
    frame: np.ndarray,
    face: Face | Box,
    settings: CropSettings,
    roll: float | None = None,
) -> np.ndarray:
    """A square grey crop around the face with a margin, resized to ``settings.size``.

    Parts of the enlarged box outside the frame are filled by replicating the border,
    so faces near the edge keep their scale. With ``settings.align`` and a face with
    landmarks, the crop is rotated about the box centre so the eyes are level (``roll``, in
    degrees, overrides the face's own eye-line angle, e.g. one smoothed over a clip). With
    ``settings.detector == "none"`` the whole frame is the crop (:func:`resize_face`).
    """
    if settings.whole_image:
        return resize_face(frame, settings)
    box = face.box if isinstance(face, Face) else face
    if settings.align and roll is None and isinstance(face, Face):
        roll = face_roll(face)
    if settings.align and roll:
        return _rotated_crop(to_grey(frame), box, roll, settings)
    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * settings.margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(1, int(round(side)))
    # cut first (rows and columns outside the frame repeat its edge), then make the patch grey
    fh, fw = frame.shape[:2]
    if x0 >= 0 and y0 >= 0 and x0 + s <= fw and y0 + s <= fh:
        patch = frame[y0 : y0 + s, x0 : x0 + s]
    else:
        rows = np.clip(np.arange(y0, y0 + s), 0, fh - 1)
        cols = np.clip(np.arange(x0, x0 + s), 0, fw - 1)
        patch = frame[np.ix_(rows, cols)]
    patch = to_grey(patch)
    interp = cv2.INTER_AREA if s > settings.size else cv2.INTER_LINEAR
    crop = cv2.resize(patch, (settings.size, settings.size), interpolation=interp)
    if settings.equalize:
        crop = cv2.equalizeHist(crop)
    return crop


def _rotated_crop(grey: np.ndarray, box: Box, roll: float, settings: CropSettings) -> np.ndarray:
    """The crop of :func:`crop_face` turned by ``roll`` degrees about the box centre: one
    affine warp (borders replicated); big faces are shrunk first, as warpAffine has no
    area interpolation."""
    x, y, w, h = box
    size = settings.size
    side = max(w, h) * (1.0 + 2.0 * settings.margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    m = cv2.getRotationMatrix2D((cx, cy), roll, size / side)
    m[0, 2] += size / 2.0 - cx
    m[1, 2] += size / 2.0 - cy
    if side > 2 * size:
        f = 2 * size / side
        grey = cv2.resize(grey, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        m[:, :2] /= f  # the linear part now maps the shrunk image; the offset is unchanged
    crop = cv2.warpAffine(
        grey, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
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
