"""Writing video: whole clips (the synthetic corpora) and frame by frame (annotated output).

:func:`write_video` writes a list of frames as an MJPG ``.avi``, verifies that it decodes,
and only then renames it into place. :class:`VideoSink` writes frames one at a time: H.264
through PyAV (FFmpeg's libx264, the codec browsers and notebooks play) for ``.mp4``, ``.mov``,
``.mkv`` and ``.m4v``, MJPG through OpenCV for ``.avi``; where H.264 is not available it falls
back, with a warning, to OpenCV's ``mp4v`` and then to MJPG ``.avi``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pathfer.data.video.read import VideoError
from pathfer.runtime.files import atomic_path

H264_CONTAINERS = frozenset({".mp4", ".mov", ".mkv", ".m4v"})
H264_ENCODERS = ("libx264", "h264", "libopenh264")


class VideoWriteWarning(UserWarning):
    """The video was written, but not as asked (another codec or container)."""


def h264_encoder() -> str | None:
    """The name of an H.264 encoder in PyAV's FFmpeg, or None (no PyAV, or no encoder)."""
    try:
        import av
    except ImportError:
        return None
    for name in H264_ENCODERS:
        try:
            av.codec.Codec(name, "w")
        except Exception:  # UnknownCodecError, or a build without it
            continue
        return name
    return None


class _H264Writer:
    """Frames -> H.264 (yuv420p, ``+faststart`` so players start before the download ends)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], encoder: str) -> None:
        import av

        self._av = av
        self.size = size
        self._container = av.open(str(path), mode="w", options={"movflags": "+faststart"})
        self._stream = self._container.add_stream(
            encoder, rate=Fraction(fps).limit_denominator(1001)
        )
        # yuv420p halves the chroma resolution: the encoder needs even sides
        self._stream.width, self._stream.height = size[0] + size[0] % 2, size[1] + size[1] % 2
        self._stream.pix_fmt = "yuv420p"
        if encoder == "libx264":
            self._stream.options = {"crf": "20", "preset": "veryfast"}

    def write(self, frame: np.ndarray) -> None:
        w, h = self._stream.width, self._stream.height
        if frame.shape[1] != w or frame.shape[0] != h:
            frame = cv2.copyMakeBorder(
                frame, 0, h - frame.shape[0], 0, w - frame.shape[1], cv2.BORDER_REPLICATE
            )
        vf = self._av.VideoFrame.from_ndarray(frame, format="bgr24")
        for packet in self._stream.encode(vf):
            self._container.mux(packet)

    def release(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()


class VideoSink:
    """Writes BGR (or grey) frames one at a time; opens on the first frame (its size).

    ``.mp4``/``.mov``/``.mkv``/``.m4v`` are H.264 through PyAV; ``.avi`` is MJPG; other
    extensions try OpenCV's ``mp4v``. Without PyAV's H.264 encoder the H.264 containers get
    ``mp4v`` (which browsers do not play) with a :class:`VideoWriteWarning`; where no OpenCV
    encoder opens either, the frames go to the same name with ``.avi`` (MJPG), with a
    warning; ``path`` then names the file actually written and ``codec`` the codec used.
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path: Path = Path(path)
        self.fps = fps if fps and fps > 0 else 25.0
        self.frames = 0
        self.codec: str | None = None
        self._writer: Any = None

    def _open(self, size: tuple[int, int]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        suffix = self.path.suffix.lower()
        if suffix in H264_CONTAINERS:
            encoder = h264_encoder()
            if encoder is not None:
                self._writer, self.codec = _H264Writer(self.path, self.fps, size, encoder), "h264"
                return
            warnings.warn(
                f"{self.path}: no H.264 encoder (install PyAV: pip install av); writing mp4v, "
                "which most browsers and notebooks do not play",
                VideoWriteWarning,
                stacklevel=4,
            )
        codecs = ["MJPG"] if suffix == ".avi" else ["mp4v", "avc1"]
        for codec in codecs:
            w = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*codec), self.fps, size)
            if w.isOpened():
                self._writer, self.codec = w, codec
                return
            w.release()
        fallback = self.path.with_suffix(".avi")
        w = cv2.VideoWriter(str(fallback), cv2.VideoWriter_fourcc(*"MJPG"), self.fps, size)
        if not w.isOpened():
            raise VideoError(
                f"{self.path}: cannot write a video here (no H.264, mp4v or MJPG encoder "
                "available, or the folder is not writable); choose an .avi path or another folder"
            )
        warnings.warn(
            f"{self.path}: no mp4v encoder available; wrote MJPG video {fallback} instead",
            VideoWriteWarning,
            stacklevel=4,
        )
        self.path, self._writer, self.codec = fallback, w, "MJPG"

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

    The video is written to a hidden temporary ``.avi`` in the same folder
    (:func:`~pathfer.runtime.files.atomic_path`), read back with ``cv2.VideoCapture`` (frame
    count and size must match) and only then renamed onto ``path``, so an interrupted run
    never leaves a half-written file under the final name. ``quality`` (1-100) sets the
    JPEG quality where the backend supports it.
    """
    path = Path(path)
    if not frames:
        raise ValueError(f"no frames to write to {path}")
    h, w = frames[0].shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*"MJPG")
    with atomic_path(path, suffix=".avi") as tmp:  # the suffix tells OpenCV the container
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
    return path
