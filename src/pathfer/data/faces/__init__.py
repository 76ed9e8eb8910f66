"""Faces: detectors (``detect``), crops (``crop``) and tracking within a clip (``track``)."""

from pathfer.data.faces.crop import CropSettings, crop_face, largest, locate_faces, to_grey
from pathfer.data.faces.detect import (
    DETECTED,
    DETECTORS,
    LANDMARKS,
    NONE,
    PREVIOUS,
    Box,
    Face,
    FaceDetector,
    HaarDetector,
    available_detectors,
    get_detector,
    register_detector,
)

__all__ = [
    "DETECTED",
    "DETECTORS",
    "NONE",
    "PREVIOUS",
    "LANDMARKS",
    "Box",
    "Face",
    "CropSettings",
    "FaceDetector",
    "HaarDetector",
    "available_detectors",
    "crop_face",
    "get_detector",
    "largest",
    "locate_faces",
    "register_detector",
    "to_grey",
]
