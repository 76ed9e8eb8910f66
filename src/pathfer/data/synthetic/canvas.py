"""The canonical drawing canvas: soft coverage masks (ellipses, polygons, lines, dots) and
the two ways to apply them (paint a colour, shade by a factor).

A head is drawn on a fixed canvas (face half-height :data:`U` pixels, centre :data:`C`)
with OpenCV's anti-aliased fixed-point primitives, then warped into the frame
(:mod:`.render`). Masks are stored over their bounding box only, which keeps a head cheap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import cv2
import numpy as np

#: face half-height on the canvas (px)
U = 44.0
CANVAS_W, CANVAS_H = 176, 208
C = (88.0, 92.0)  # face centre on the canvas (x, y)
_SHIFT = 4  # fixed-point shift for sub-pixel drawing
_ONE = 1 << _SHIFT


def _p(x: float, y: float) -> tuple[int, int]:
    return (int(round(x * _ONE)), int(round(y * _ONE)))


class Mask:
    """A coverage mask in [0, 1] stored only over its bounding box (``a`` at ``y0, x0``)."""

    __slots__ = ("a", "y0", "x0")

    def __init__(self, a: np.ndarray, y0: int = 0, x0: int = 0) -> None:
        self.a, self.y0, self.x0 = a, y0, x0

    def full(self) -> np.ndarray:
        out = np.zeros((CANVAS_H, CANVAS_W), np.float32)
        h, w = self.a.shape
        out[self.y0 : self.y0 + h, self.x0 : self.x0 + w] = self.a
        return out

    def __mul__(self, other: Mask) -> Mask:
        h, w = self.a.shape
        oh, ow = other.a.shape
        y0, x0 = max(self.y0, other.y0), max(self.x0, other.x0)
        y1, x1 = min(self.y0 + h, other.y0 + oh), min(self.x0 + w, other.x0 + ow)
        if y1 <= y0 or x1 <= x0:
            return Mask(np.zeros((1, 1), np.float32))
        a = self.a[y0 - self.y0 : y1 - self.y0, x0 - self.x0 : x1 - self.x0]
        b = other.a[y0 - other.y0 : y1 - other.y0, x0 - other.x0 : x1 - other.x0]
        return Mask(a * b, y0, x0)


def _finish(m: np.ndarray, blur: float) -> Mask:
    x, y, w, h = cv2.boundingRect(m)
    if w == 0 or h == 0:
        return Mask(np.zeros((1, 1), np.float32))
    pad = int(math.ceil(4 * blur)) + 1 if blur > 0 else 0
    x0, y0 = max(x - pad, 0), max(y - pad, 0)
    x1, y1 = min(x + w + pad, CANVAS_W), min(y + h + pad, CANVAS_H)
    a = m[y0:y1, x0:x1].astype(np.float32) * (1.0 / 255.0)
    if blur > 0:
        a = cv2.GaussianBlur(a, (0, 0), blur)
    return Mask(a, y0, x0)


def ellipse_mask(
    center: tuple[float, float], axes: tuple[float, float], angle: float = 0.0, blur: float = 0.0
) -> Mask:
    m = np.zeros((CANVAS_H, CANVAS_W), np.uint8)
    cv2.ellipse(
        m,
        _p(*center),
        (max(int(round(axes[0] * _ONE)), 1), max(int(round(axes[1] * _ONE)), 1)),
        angle,
        0,
        360,
        255,
        -1,
        cv2.LINE_AA,
        _SHIFT,
    )
    return _finish(m, blur)


def poly_mask(points: np.ndarray, blur: float = 0.0) -> Mask:
    m = np.zeros((CANVAS_H, CANVAS_W), np.uint8)
    pts = np.round(points * _ONE).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(m, [pts], 255, cv2.LINE_AA, _SHIFT)
    return _finish(m, blur)


def line_mask(points: np.ndarray, thickness: float, blur: float = 0.0) -> Mask:
    m = np.zeros((CANVAS_H, CANVAS_W), np.uint8)
    pts = np.round(points * _ONE).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(m, [pts], False, 255, max(int(round(thickness)), 1), cv2.LINE_AA, _SHIFT)
    return _finish(m, blur)


def dots_mask(points: Iterable[tuple[float, float]], radius: float) -> Mask:
    m = np.zeros((CANVAS_H, CANVAS_W), np.uint8)
    r = max(int(round(radius * _ONE)), 1)
    for x, y in points:
        cv2.circle(m, _p(x, y), r, 255, -1, cv2.LINE_AA, _SHIFT)
    return _finish(m, 0.0)


def _roi(img: np.ndarray, mask: Mask | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(mask, np.ndarray):
        return img, mask
    h, w = mask.a.shape
    return img[mask.y0 : mask.y0 + h, mask.x0 : mask.x0 + w], mask.a


def paint(
    img: np.ndarray, mask: Mask | np.ndarray, color: Sequence[float], alpha: float = 1.0
) -> None:
    sub, a = _roi(img, mask)
    m = (a * alpha)[..., None]
    sub += m * (np.asarray(color, np.float32) - sub)


def shade(img: np.ndarray, mask: Mask | np.ndarray, factor: float) -> None:
    sub, a = _roi(img, mask)
    sub *= (1.0 + (factor - 1.0) * a)[..., None]


def curve(x0: float, x1: float, f, n: int = 12) -> np.ndarray:
    xs = np.linspace(x0, x1, n, dtype=np.float32)
    return np.stack([xs, np.array([f(x) for x in xs], np.float32)], axis=1)


#: pixel coordinates of the canvas
YY, XX = np.mgrid[0:CANVAS_H, 0:CANVAS_W].astype(np.float32)
