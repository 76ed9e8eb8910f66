"""What users hand to ``predict`` and ``stream``, turned into frames pathfer reads.

- numpy arrays (``color="bgr"|"rgb"|"grey"``): one image ``(H, W)``, ``(H, W, 3|4)`` or a
  stack ``(N, H, W, 3|4)`` (``(N, H, W)`` with ``color="grey"``);
- PIL images (read by their own mode, whatever ``color`` says; 16-bit and 32-bit grey
  modes are scaled to 8 bits as OpenCV reads the same file: ``I;16`` and 16-bit ``I`` by
  ``>> 8``, other ``I`` and ``F`` images by their own range);
- torch tensors (:func:`from_tensor`): ``uint8`` in 0-255 or floats in [0, 1], RGB unless
  ``color`` says otherwise; ``(H, W)``, ``(C, H, W)`` or ``(H, W, C)`` for one image, a
  batch ``(N, C, H, W)`` / ``(N, H, W, C)`` for several;
- iterables of such frames (lists, generators); a list may also mix paths with them;
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
from pathfer.data.video.native_log import NativeLog

COLORS = ("bgr", "rgb", "grey")
_COLOR_ALIASES = {"gray": "grey", "l": "grey", "greyscale": "grey", "grayscale": "grey"}

#: what a list handed to ``predict`` may hold, for the message when it holds something else
LIST_HOLDS = (
    "a list may hold paths (images or videos), numpy arrays, PIL images or torch tensors "
    "(an in-memory image as a frame)"
)

Frames = Iterator[tuple[int, float, np.ndarray]]  # (frame index, time in s, BGR or grey frame)


def check_color(color: str | None) -> str | None:
    """The colour order's canonical name (None: the input's own default, BGR for arrays
    and RGB for tensors)."""
    if color is None:
        return None
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


def is_tensor(x: Any) -> bool:
    """Whether ``x`` is a torch tensor (without importing torch)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach") and hasattr(x, "ndim")


def from_pil(img: Any) -> np.ndarray:
    """A PIL image as a BGR (or, for grey modes, a 2-D grey) uint8 array."""
    if img.mode in {"L", "1"}:
        return np.asarray(img.convert("L"), dtype=np.uint8).copy()
    if img.mode.startswith("I") or img.mode == "F":
        return _grey_to_8bit(np.asarray(img), img.mode)
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _grey_to_8bit(a: np.ndarray, mode: str) -> np.ndarray:
    """A 16/32-bit or float grey image in 8 bits: 16-bit values as OpenCV reads a 16-bit
    file (the high byte), wider ints and floats stretched over their own range."""
    sixteen = a.dtype.kind in "iu" and a.size and 0 <= a.min() and a.max() < 65536
    if mode.startswith("I;16") or sixteen:
        return (a.astype(np.uint32) >> 8).astype(np.uint8)
    a = a.astype(np.float64)
    finite = a[np.isfinite(a)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if a.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
        lo, hi = 0.0, 1.0  # a float image in [0, 1]
    scaled = (np.nan_to_num(a, nan=lo) - lo) * (255.0 / (hi - lo) if hi > lo else 0.0)
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def from_tensor(t: Any) -> list[np.ndarray] | np.ndarray:
    """A torch tensor as one image (an array) or a batch (a list of arrays), channels last
    (their order is the caller's ``color``, RGB by default: torch's convention).

    Shape rule: a 2-D tensor is grey ``(H, W)``; a 3-D tensor whose first dimension is 1
    or 3 is ``(C, H, W)``, whose last is 1, 3 or 4 is ``(H, W, C)`` (a shape that fits
    both, or neither, is refused); a 4-D tensor is a batch of such 3-D images. ``uint8``
    pixels are 0-255; float pixels are in [0, 1] (anything else is refused)."""
    a = t.detach().to("cpu").numpy()
    if a.dtype.kind == "f":
        finite = np.isfinite(a).all()
        if not finite or (a.size and (a.min() < 0.0 or a.max() > 1.0)):
            raise ValueError(
                f"a float tensor of shape {tuple(a.shape)} with values outside [0, 1]: pass "
                "floats in [0, 1] or uint8 pixels in 0-255"
            )
        a = np.round(a * 255.0).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise ValueError(f"a tensor of dtype {t.dtype}: pass uint8 (0-255) or float ([0, 1])")
    if a.ndim == 4:
        return [_hwc(f, tuple(a.shape)) for f in a]
    if a.ndim in (2, 3):
        return _hwc(a, tuple(a.shape))
    raise ValueError(
        f"a tensor of shape {tuple(a.shape)}: expected (H, W), (C, H, W), (H, W, C) or a "
        "batch (N, C, H, W) / (N, H, W, C)"
    )


def _hwc(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if a.ndim == 2:
        return a
    chw, hwc = a.shape[0] in (1, 3), a.shape[2] in (1, 3, 4)
    if chw == hwc:
        raise ValueError(
            f"a tensor of shape {shape}: cannot tell channels-first from channels-last "
            "(a 3-D image is (C, H, W) with C 1 or 3, or (H, W, C) with C 1, 3 or 4); pass "
            "a numpy array (H, W, C) instead"
        )
    return np.ascontiguousarray(a.transpose(1, 2, 0) if chw else a)


def _check_pixels(a: np.ndarray) -> None:
    if a.dtype.kind in "OUSV":
        raise TypeError(
            f"not an image: an array of {a.dtype} values (shape {a.shape}); {LIST_HOLDS}"
        )
    if a.dtype != np.uint8:
        raise ValueError(
            f"an image array of dtype {a.dtype}: pass uint8 pixels in 0-255 "
            "(for floats in [0, 1]: (x * 255).round().astype(np.uint8))"
        )
    if a.size == 0:
        raise ValueError(f"an empty image array (shape {a.shape})")


def to_frame(image: Any, color: str | None = None) -> np.ndarray:
    """One image (array or tensor in ``color`` order, or a PIL image) as BGR or 2-D grey
    uint8."""
    if is_pil_image(image):
        return from_pil(image)
    if is_tensor(image):
        one = from_tensor(image)
        if isinstance(one, list):
            raise ValueError(f"a batch tensor of shape {tuple(image.shape)} where one image goes")
        image, color = one, (color or "rgb")
    if is_path_like(image) or not hasattr(image, "__array__") and not isinstance(image, list):
        raise TypeError(f"not an image: {type(image).__name__}; {LIST_HOLDS}")
    a = np.asarray(image)
    _check_pixels(a)
    color = check_color(color) or "bgr"
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


def array_frames(
    a: np.ndarray, color: str | None
) -> tuple[list[np.ndarray] | None, np.ndarray | None]:
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


def numbered(frames: Iterable[Any], color: str | None, fps: float | None) -> Frames:
    """``(index, time_s, frame)`` for in-memory frames; ``time_s`` NaN unless ``fps``."""
    color = check_color(color)
    for i, f in enumerate(frames):
        yield i, (i / fps if fps else math.nan), to_frame(f, color)


def check_camera(index: int) -> int:
    """A camera index OpenCV may be given (a negative one crashes some of its backends)."""
    if index < 0:
        raise ValueError(f"camera index {index}: cameras are numbered 0, 1, ...; try --camera 0")
    return int(index)


def open_capture(source: int | str) -> cv2.VideoCapture:
    """An opened OpenCV capture for a camera index or a URL; VideoError if it will not open.

    What OpenCV and FFmpeg print while opening is captured, not shown."""
    if isinstance(source, int):
        check_camera(source)
    with NativeLog():
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
                with NativeLog():  # decoder messages are not the user's business here
                    ok, frame = cap.read()
                if not ok:
                    break
                now = time.monotonic()
                start = now if start is None else start
                yield idx, now - start, frame
            else:
                with NativeLog():
                    ok = cap.grab()
                if not ok:
                    break
            idx += 1
    finally:
        with NativeLog():
            cap.release()


def source_name(source: Any) -> str:
    if isinstance(source, int):
        return f"camera:{source}"
    if is_path_like(source):
        return str(source)
    return "<frames>"


def stream_frames(
    source: Any, *, every: int = 1, color: str | None = None, fps: float | None = None
) -> Frames:
    """Frames of any stream source: camera index, URL, video file, or an iterable of frames."""
    if isinstance(source, (bool, np.bool_)):
        raise TypeError(f"not a video source: {source!r}")
    if isinstance(source, (int, np.integer)):
        return capture_frames(check_camera(int(source)), every)
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
