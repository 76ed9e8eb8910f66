"""Frame sampling and decoding.

Videos are decoded with OpenCV; a still image is a one-frame clip. Every failure
raises :class:`VideoError` with a message that names the file and says what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

VIDEO_EXTENSIONS = frozenset(
    {".avi", ".mp4", ".mpg", ".mpeg", ".mov", ".mkv", ".webm", ".m4v", ".flv", ".wmv"}
)
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm"})
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS


class VideoError(RuntimeError):
    """A clip that cannot be read; the message names the file and the fix."""


@dataclass(frozen=True)
class FrameSampling:
    """Which frames of a clip to use.

    - ``uniform``: ``n`` frames spread evenly over the clip (the default: 16 frames
      cover the onset and apex of a 2-4 s emotion clip without near-duplicates);
    - ``every``: every ``k``-th frame;
    - ``all``: every frame.
    """

    mode: str = "uniform"
    n: int = 16
    k: int = 5

    def __post_init__(self) -> None:
        if self.mode not in {"uniform", "every", "all"}:
            raise ValueError(
                f"frame sampling mode must be uniform, every or all, not {self.mode!r}"
            )
        if self.n < 1:
            raise ValueError(f"frames per clip (n) must be >= 1, not {self.n}")
        if self.k < 1:
            raise ValueError(f"frame step (k) must be >= 1, not {self.k}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VideoInfo:
    n_frames: int
    fps: float
    width: int
    height: int


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_media(path: str | Path) -> bool:
    return Path(path).suffix.lower() in MEDIA_EXTENSIONS


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(f"{path}: file not found; check the path")
    if not path.is_file():
        raise VideoError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes); re-copy or re-download it")


def _read_image(path: Path) -> np.ndarray:
    _check_file(path)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise VideoError(f"{path}: not a readable image; the file is corrupt or not an image")
    return img


def _open(path: Path) -> cv2.VideoCapture:
    _check_file(path)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise VideoError(
            f"{path}: cannot be decoded as video; the file is corrupt or not a video "
            "(re-copy it, or exclude it from the corpus)"
        )
    return cap


def probe(path: str | Path) -> VideoInfo:
    """Frame count, rate and size of a clip (a still image is one frame)."""
    path = Path(path)
    if is_image(path):
        img = _read_image(path)
        return VideoInfo(1, 0.0, img.shape[1], img.shape[0])
    cap = _open(path)
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if n <= 0:  # some containers do not store a count: count by decoding
            n = 0
            while cap.grab():
                n += 1
    finally:
        cap.release()
    if n <= 0:
        raise VideoError(f"{path}: the video holds no frames; re-copy it or exclude it")
    return VideoInfo(n, fps, w, h)


def sample_indices(n_frames: int, sampling: FrameSampling) -> list[int]:
    """Frame indices to keep from a clip of ``n_frames`` frames (sorted, unique)."""
    if n_frames <= 0:
        return []
    if sampling.mode == "all":
        return list(range(n_frames))
    if sampling.mode == "every":
        return list(range(0, n_frames, sampling.k))
    if sampling.n >= n_frames:
        return list(range(n_frames))
    # centres of n equal segments: avoids the very first/last frame (often blank or cut)
    pos = (np.arange(sampling.n) + 0.5) * n_frames / sampling.n
    return sorted({min(int(p), n_frames - 1) for p in pos})


def read_frames(
    path: str | Path, sampling: FrameSampling | None = None
) -> list[tuple[int, np.ndarray]]:
    """Decode the sampled frames of a clip as ``(frame_index, BGR frame)`` pairs.

    Frames are decoded sequentially (grab without retrieve for skipped frames), which is
    both exact and faster than seeking in most codecs.
    """
    path = Path(path)
    sampling = sampling or FrameSampling()
    if is_image(path):
        return [(0, _read_image(path))]
    cap = _open(path)  # opened once: the container's frame count comes with it
    out: list[tuple[int, np.ndarray]] = []
    try:
        n_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if n_frames <= 0:  # no stored count: probe counts by decoding
            n_frames = probe(path).n_frames
        wanted = sample_indices(n_frames, sampling)
        wanted_set = set(wanted)
        last = wanted[-1] if wanted else -1
        idx = 0
        while idx <= last:
            if idx in wanted_set:
                ok, frame = cap.read()
                if not ok:
                    break
                out.append((idx, frame))
            elif not cap.grab():
                break
            idx += 1
    finally:
        cap.release()
    if not out:
        raise VideoError(f"{path}: no frame could be decoded; the file is corrupt")
    return out


def iter_frames(path: str | Path, every: int = 1) -> Iterator[tuple[int, float, np.ndarray]]:
    """Lazily yield ``(frame_index, time_s, BGR frame)`` for every ``every``-th frame.

    Memory stays flat on long videos: one frame is held at a time.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, not {every}")
    path = Path(path)
    if is_image(path):
        yield 0, 0.0, _read_image(path)
        return
    cap = _open(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0
        idx = 0
        produced = False
        while True:
            if idx % every == 0:
                ok, frame = cap.read()
                if not ok:
                    break
                produced = True
                yield idx, idx / fps, frame
            elif not cap.grab():
                break
            idx += 1
    finally:
        cap.release()
    if not produced:
        raise VideoError(f"{path}: no frame could be decoded; the file is corrupt or empty")
