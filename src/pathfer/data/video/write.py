"""Writing video: whole clips (the synthetic corpora) and frame by frame (annotated output).

:func:`write_video` writes a list of frames as an MJPG ``.avi``, verifies that it decodes,
and only then renames it into place. :class:`VideoSink` writes frames one at a time, choosing
a codec from the file's extension and falling back to MJPG ``.avi`` where this OpenCV build
has no encoder for it.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from pathfer.data.video.read import VideoError


class VideoWriteWarning(UserWarning):
    """The video was written, but not as asked (another codec or container)."""


class VideoSink:
    """Writes BGR (or grey) frames one at a time; opens on the first frame (its size).

    ``.avi`` is MJPG; other extensions try ``mp4v`` then ``avc1``. Where none opens, the
    frames go to the same name with ``.avi`` (MJPG), with a :class:`VideoWriteWarning`;
    ``path`` then names the file actually written.
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path: Path = Path(path)
        self.fps = fps if fps and fps > 0 else 25.0
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None

    def _open(self, size: tuple[int, int]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        codecs = ["MJPG"] if self.path.suffix.lower() == ".avi" else ["mp4v", "avc1"]
        for codec in codecs:
            w = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*codec), self.fps, size)
            if w.isOpened():
                self._writer = w
                return
            w.release()
        fallback = self.path.with_suffix(".avi")
        w = cv2.VideoWriter(str(fallback), cv2.VideoWriter_fourcc(*"MJPG"), self.fps, size)
        if not w.isOpened():
            raise VideoError(
                f"{self.path}: cannot write a video here (no mp4v or MJPG encoder in this "
                "OpenCV build); choose an .avi path or another folder"
            )
        warnings.warn(
            f"{self.path}: no mp4v encoder available; wrote MJPG video {fallback} instead",
            VideoWriteWarning,
            stacklevel=3,
        )
        self.path, self._writer = fallback, w

    def write(self, frame: np.ndarray) -> None:
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        if self._writer is None:
            self._open((frame.shape[1], frame.shape[0]))
        assert self._writer is not None
        self._writer.write(np.ascontiguousarray(frame, np.uint8))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_all_frames(path: str | os.PathLike[str]) -> list[np.ndarray]:
    """Decode every frame of ``path`` (BGR ``uint8``)."""
    cap = cv2.VideoCapture(str(path))
    out = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            out.append(frame)
    finally:
        cap.release()
    return out


def write_video(
    path: str | os.PathLike[str],
    frames: Sequence[np.ndarray],
    fps: float = 25.0,
    quality: int | None = None,
) -> Path:
    """Write BGR frames as an MJPG ``.avi`` at ``path`` atomically and verify it decodes.

    The video is written to a hidden temporary ``.avi`` in the same folder, read back with
    ``cv2.VideoCapture`` (frame count and size must match) and only then renamed onto
    ``path`` with :func:`os.replace`, so an interrupted run never leaves a half-written file
    under the final name. ``quality`` (1-100) sets the JPEG quality where the backend
    supports it.
    """
    path = Path(path)
    if not frames:
        raise ValueError(f"no frames to write to {path}")
    h, w = frames[0].shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.avi")
    fourcc = cv2.VideoWriter_fourcc(*"MJPG")
    try:
        writer = cv2.VideoWriter(str(tmp), cv2.CAP_OPENCV_MJPEG, fourcc, float(fps), (w, h))
        if not writer.isOpened():
            writer = cv2.VideoWriter(str(tmp), fourcc, float(fps), (w, h))
        if not writer.isOpened():
            raise OSError(f"cv2.VideoWriter could not open {tmp} (MJPG/avi)")
        if quality is not None:
            writer.set(cv2.VIDEOWRITER_PROP_QUALITY, float(quality))
        try:
            for f in frames:
                if f.shape[:2] != (h, w):
                    raise ValueError(f"frame size {f.shape[:2]} differs from {(h, w)} in {path}")
                if f.ndim == 2:
                    f = cv2.cvtColor(f, cv2.COLOR_GRAY2BGR)
                writer.write(np.ascontiguousarray(f, np.uint8))
        finally:
            writer.release()
        back = read_all_frames(tmp)
        if len(back) != len(frames) or back[0].shape[:2] != (h, w):
            raise OSError(
                f"video {path} did not read back: {len(back)} of {len(frames)} frames decoded"
            )
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
