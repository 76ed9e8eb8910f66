"""What users hand to ``predict`` and ``stream``, turned into frames pathfer reads.

- numpy arrays (``color="bgr"|"rgb"|"grey"``): one image ``(H, W)``, ``(H, W, 3|4)`` or a
  stack ``(N, H, W, 3|4)`` (``(N, H, W)`` with ``color="grey"``);
- PIL images (read by their own mode, whatever ``color`` says);
- iterables of such frames (lists, generators);
- OpenCV captures: a camera index, a URL, or a video file, read as frames arrive.

Frames come out as BGR ``(H, W, 3)`` or grey ``(H, W)`` ``uint8``, the two forms the face
detectors and the crop take.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pathfer.data.video import VideoError, iter_frames

COLORS = ("bgr", "rgb", "grey")
_COLOR_ALIASES = {"gray": "grey", "l": "grey", "greyscale": "grey", "grayscale": "grey"}

Frames = Iterator[tuple[int, float, np.ndarray]]  # (frame index, time in s, BGR or grey frame)


def check_color(color: str) -> str:
    c = _COLOR_ALIASES.get(str(color).lower(), str(color).lower())
    if c not in COLORS:
        raise ValueError(f"color must be one of {', '.join(COLORS)}, not {color!r}")
    return c


def is_pil_image(x: Any) -> bool:
    """Whether ``x`` is a PIL image (without importing PIL)."""
    return type(x).__module__.startswith("PIL.") and hasattr(x, "mode") and hasattr(x, "convert")


def is_path_like(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def is_url(x: Any) -> bool:
    return isinstance(x, str) and "://" in x


def from_pil(img: Any) -> np.ndarray:
    """A PIL image as a BGR (or, for grey modes, a 2-D grey) uint8 array."""
    if img.mode in {"L", "1", "I", "I;16", "F"}:
        grey = img.convert("L")
        return np.asarray(grey, dtype=np.uint8).copy()
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _check_pixels(a: np.ndarray) -> None:
    if a.dtype != np.uint8:
        raise ValueError(
            f"an image array of dtype {a.dtype}: pass uint8 pixels in 0-255 "
            "(for floats in [0, 1]: (x * 255).round().astype(np.uint8))"
        )
    if a.size == 0:
        raise ValueError(f"an empty image array (shape {a.shape})")


def to_frame(image: Any, color: str = "bgr") -> np.ndarray:
    """One image (array in ``color`` order, or a PIL image) as BGR or 2-D grey uint8."""
    if is_pil_image(image):
        return from_pil(image)
    a = np.asarray(image)
    _check_pixels(a)
    color = check_color(color)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        return a
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(
            f"an image of shape {a.shape}: expected (H, W) grey or (H, W, 3|4) colour pixels"
        )
    if color == "grey":
        raise ValueError(
            f"an image of shape {a.shape} with color='grey': grey images are (H, W); "
            "pass color='bgr' or 'rgb' for colour pixels"
        )
    if a.shape[2] == 4:
        code = cv2.COLOR_RGBA2BGR if color == "rgb" else cv2.COLOR_BGRA2BGR
        return cv2.cvtColor(a, code)
    if color == "rgb":
        return cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(a)


def array_frames(a: np.ndarray, color: str) -> tuple[list[np.ndarray] | None, np.ndarray | None]:
    """Split an array into ``(stack of frames, None)`` or ``(None, one image)``."""
    _check_pixels(a)
    color = check_color(color)
    if a.ndim == 4 or (a.ndim == 3 and color == "grey" and a.shape[2] != 1):
        return [to_frame(f, color) for f in a], None
    if a.ndim in (2, 3):
        return None, to_frame(a, color)
    raise ValueError(
        f"an image array of shape {a.shape}: expected (H, W), (H, W, 3|4), a stack "
        "(N, H, W, 3|4), or (N, H, W) with color='grey'"
    )


def numbered(frames: Iterable[Any], color: str, fps: float | None) -> Frames:
    """``(index, time_s, frame)`` for in-memory frames; ``time_s`` NaN unless ``fps``."""
    color = check_color(color)
    for i, f in enumerate(frames):
        yield i, (i / fps if fps else math.nan), to_frame(f, color)


def open_capture(source: int | str) -> cv2.VideoCapture:
    """An opened OpenCV capture for a camera index or a URL; VideoError if it will not open."""
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        cap.release()
        what = f"camera {source}" if isinstance(source, int) else str(source)
        fix = (
            "check that a camera is connected and free, or try another index"
            if isinstance(source, int)
            else "check the address and that OpenCV's FFmpeg backend can read it"
        )
        raise VideoError(f"{what}: cannot be opened; {fix}")
    return cap


def capture_frames(source: int | str, every: int = 1) -> Frames:
    """Frames of a camera or URL as they arrive; ``time_s`` is seconds since the first frame.

    Ends when the source ends (or stops delivering frames).
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, not {every}")
    cap = open_capture(source)
    try:
        start: float | None = None
        idx = 0
        while True:
            if idx % every == 0:
                ok, frame = cap.read()
                if not ok:
                    break
                now = time.monotonic()
                start = now if start is None else start
                yield idx, now - start, frame
            elif not cap.grab():
                break
            idx += 1
    finally:
        cap.release()


def source_name(source: Any) -> str:
    if isinstance(source, int):
        return f"camera:{source}"
    if is_path_like(source):
        return str(source)
    return "<frames>"


def stream_frames(source: Any, *, every: int = 1, color: str = "bgr", fps: float | None = None):
    """Frames of any stream source: camera index, URL, video file, or an iterable of frames."""
    if isinstance(source, (bool, np.bool_)):
        raise TypeError(f"not a video source: {source!r}")
    if isinstance(source, (int, np.integer)):
        return capture_frames(int(source), every)
    if is_url(source):
        return capture_frames(str(source), every)
    if is_path_like(source):
        if not Path(source).exists():
            raise VideoError(f"{source}: file not found; check the path")
        return iter_frames(source, every=every)
    if isinstance(source, np.ndarray) or is_pil_image(source):
        raise TypeError("stream() reads a video source; use predict() for an image or array")
    if isinstance(source, Iterable):
        it = numbered(source, color, fps)
        return ((i, t, f) for i, t, f in it if i % every == 0)
    raise TypeError(
        f"not a video source: {type(source).__name__}; pass a camera index, a URL, a video "
        "file or an iterable of frames"
    )
