"""Frame sampling and decoding.

Videos are decoded with OpenCV; a still image is a one-frame clip. Every failure
raises :class:`VideoError` with a message that names the file and says what to do.
What FFmpeg prints while decoding is captured (:mod:`~pathfer.data.video.native_log`), not
leaked to the terminal: :func:`decode_frames` uses it, with the frame count the container
announces, to tell a clip that ends early (truncated or damaged) from a whole one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pathfer.data.video.native_log import NativeLog, first_message

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
    if path.is_symlink() and not path.exists():
        try:
            path.resolve(strict=True)
        except FileNotFoundError:
            raise VideoError(
                f"{path}: broken link (it points to {os.readlink(path)}, which does not "
                "exist); fix or remove the link"
            ) from None
        except (RuntimeError, OSError):  # ELOOP (Python < 3.13 raises RuntimeError)
            raise VideoError(
                f"{path}: symbolic link loop (the link points back to itself, directly or "
                "through other links); replace it with the real file"
            ) from None
    if not path.exists():
        raise VideoError(f"{path}: file not found; check the path")
    if not path.is_file():
        raise VideoError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes); re-copy or re-download it")


#: the decoded size ``predict`` accepts by default (50 megapixels: a BGR frame of 150 MB);
#: a larger image is refused before it is decoded, naming the option that raises it
MAX_PIXELS = 50_000_000
_PIL_LOCK = threading.Lock()


def image_size(path: str | Path) -> tuple[int, int] | None:
    """``(width, height)`` of an image file from its header, without decoding its pixels
    (None where the header cannot be read: the decoder then says what is wrong)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return None
    with _PIL_LOCK:  # Pillow's own size guard is a module global; lifted to read the size
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(path) as im:
                return int(im.size[0]), int(im.size[1])
        except Exception:
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def check_pixels(path: str | Path, max_pixels: int | None) -> None:
    """Refuse an image whose decoded size exceeds ``max_pixels`` (None: no limit)."""
    if max_pixels is None:
        return
    size = image_size(path)
    if size is not None and size[0] * size[1] > max_pixels:
        w, h = size
        raise VideoError(
            f"{path}: the image is {w}x{h} ({w * h / 1e6:.0f} megapixels, "
            f"{w * h * 3 / 2**20:,.0f} MiB decoded), over the limit of {max_pixels / 1e6:g} "
            "megapixels; raise the limit with --max-pixels N (Recognizer(max_pixels=N)) where "
            "the memory is there, or shrink the image"
        )


#: OpenCV's flags for a decode at 1/2, 1/4 or 1/8 size, in colour and in grey
_REDUCED = {
    2: (cv2.IMREAD_REDUCED_COLOR_2, cv2.IMREAD_REDUCED_GRAYSCALE_2),
    4: (cv2.IMREAD_REDUCED_COLOR_4, cv2.IMREAD_REDUCED_GRAYSCALE_4),
    8: (cv2.IMREAD_REDUCED_COLOR_8, cv2.IMREAD_REDUCED_GRAYSCALE_8),
}


def reduction(path: str | Path, min_side: int) -> int:
    """The factor (1, 2, 4 or 8) by which an image file may be decoded smaller while its
    longer side stays at least ``min_side`` pixels (1: decode it whole; also for a video,
    or where the header cannot be read)."""
    size = image_size(path) if is_image(path) else None
    if size is None:
        return 1
    return next((f for f in (8, 4, 2) if max(size) // f >= min_side), 1)


def _is_jpeg(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(3) == b"\xff\xd8\xff"


def _read_image(path: Path, max_pixels: int | None = None, reduce: int = 1) -> np.ndarray:
    """The image's pixels, BGR; ``reduce`` 2, 4 or 8: at that fraction of its size. A JPEG
    is then decoded small (libjpeg scales while decoding: colour kept); OpenCV decodes any
    other format whole before scaling it, so it is decoded in grey (a third of the memory
    of colour), the frame coming back 2-D."""
    _check_file(path)
    check_pixels(path, max_pixels)
    flags = cv2.IMREAD_COLOR
    if reduce != 1:
        if reduce not in _REDUCED:
            raise ValueError(f"reduce must be 1, 2, 4 or 8, not {reduce}")
        colour, grey = _REDUCED[reduce]
        flags = colour if _is_jpeg(path) else grey
    with NativeLog() as log:  # libpng/libjpeg complaints become the message, not noise
        img = cv2.imread(str(path), flags)
    if img is None:
        said = first_message(log.text())
        raise VideoError(
            f"{path}: not a readable image; the file is corrupt or not an image"
            f"{f' (the decoder says: {said})' if said else ''}"
        )
    return img


def _open(path: Path) -> cv2.VideoCapture:
    _check_file(path)
    with NativeLog() as log:
        cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        said = first_message(log.text())
        raise VideoError(
            f"{path}: cannot be decoded as video; the file is corrupt or not a video"
            f"{f' (the decoder says: {said})' if said else ''} "
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
            with NativeLog():
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


#: a container may announce a few frames more than it holds (an estimated count): missing
#: up to this many frames (or this share of the count) is not called truncation
COUNT_SLACK, COUNT_SLACK_SHARE = 2, 0.05


@dataclass
class DecodedClip:
    """The sampled frames of a clip and what decoding them showed."""

    frames: list[tuple[int, np.ndarray]]
    n_counted: int  # frames the container announces
    n_decoded: int  # frames decoded before the read stopped (the stream's end, if it ended)
    decoder_note: str = ""  # the decoder's errors in a clip that was still usable
    wanted: list[int] = field(default_factory=list)


def ends_early(
    path: Path, decoded: int, n_frames: int, ended: bool, errors: list[int], said: str
) -> str | None:
    """What is wrong with a clip whose read stopped (``ended``) after ``decoded`` frames of
    the ``n_frames`` its container announces, the decoder having complained at ``errors``
    (``said``: its first message); None when the clip is whole."""
    short = ended and n_frames - decoded > max(COUNT_SLACK, COUNT_SLACK_SHARE * n_frames)
    damaged_end = ended and errors and errors[-1] >= decoded - 2
    if not (short or damaged_end):
        return None
    said_at = f"'{said}' at frame {errors[0]}" if errors else ""
    if short:
        what = f"only {decoded} of the {n_frames} frames its container announces decode"
        what += f" (the decoder reported {said_at})" if said_at else ""
    else:
        what = f"its stream stops in a damaged frame (the decoder reported {said_at})"
    return f"{path}: the file ends early, truncated or damaged: {what}"


def decode_frames(path: str | Path, sampling: FrameSampling | None = None) -> DecodedClip:
    """Decode the sampled frames of a clip, checking that the clip is whole.

    Frames are decoded sequentially (grab without retrieve for skipped frames), which is
    both exact and faster than seeking in most codecs. A clip that ends before the frames
    its container announces (beyond :data:`COUNT_SLACK`), or whose stream ends in a frame
    the decoder reports as damaged, raises :class:`VideoError` ("ends early"): a cut file's
    frames would all come from its beginning. Decoder errors in the middle of a clip that
    then decodes to its end are kept as ``decoder_note``.
    """
    path = Path(path)
    sampling = sampling or FrameSampling()
    if is_image(path):
        return DecodedClip([(0, _read_image(path))], 1, 1, wanted=[0])
    cap = _open(path)  # opened once: the container's frame count comes with it
    out: list[tuple[int, np.ndarray]] = []
    errors: list[int] = []  # frame indices at which the decoder printed something
    try:
        n_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if n_frames <= 0:  # no stored count: probe counts by decoding
            n_frames = probe(path).n_frames
        wanted = sample_indices(n_frames, sampling)
        wanted_set = set(wanted)
        last = wanted[-1] if wanted else -1
        with NativeLog() as log:
            mark = log.size()
            idx = 0
            ended = False
            while idx <= last or (errors and not ended):
                # after a decoder error, read on to the end: is the damage where it stops?
                if idx in wanted_set:
                    ok, frame = cap.read()
                    if ok:
                        out.append((idx, frame))
                else:
                    ok = cap.grab()
                if log.size() != mark:
                    errors.append(idx)
                    mark = log.size()
                if not ok:
                    ended = True
                    break
                idx += 1
            said = first_message(log.text())
    finally:
        cap.release()
    if not out:
        raise VideoError(
            f"{path}: no frame could be decoded; the file is corrupt"
            f"{f' (the decoder says: {said})' if said else ''}"
        )
    decoded = idx
    message = ends_early(path, decoded, n_frames, ended, errors, said)
    if message:
        raise VideoError(f"{message}; re-copy it, or exclude it from the corpus")
    note = ""
    if errors:
        note = (
            f"the decoder reported errors at frame(s) {errors[0]}-{errors[-1]} ('{said}'); "
            "the clip decodes to its end and was kept"
        )
    return DecodedClip(out, n_frames, decoded, note, wanted)


def read_frames(
    path: str | Path, sampling: FrameSampling | None = None
) -> list[tuple[int, np.ndarray]]:
    """Decode the sampled frames of a clip as ``(frame_index, BGR frame)`` pairs
    (:func:`decode_frames` without the report)."""
    return decode_frames(path, sampling).frames


def iter_frames(
    path: str | Path,
    every: int = 1,
    *,
    max_pixels: int | None = None,
    on_note: Callable[[str], None] | None = None,
    reduce: int = 1,
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Lazily yield ``(frame_index, time_s, BGR frame)`` for every ``every``-th frame.

    Memory stays flat on long videos: one frame is held at a time. ``max_pixels`` refuses
    an image larger than that before decoding it (:func:`check_pixels`). ``reduce`` (2, 4
    or 8) decodes an image at that fraction of its size (see :func:`reduction`): a JPEG in
    colour, other formats in grey; videos ignore it. A video that ends
    before the frames its container announces (as :func:`decode_frames` tells it) is
    reported through ``on_note(message)`` after its last frame; the frames read stand.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, not {every}")
    path = Path(path)
    if is_image(path):
        yield 0, 0.0, _read_image(path, max_pixels, reduce)
        return
    cap = _open(path)
    errors: list[int] = []
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0
        n_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        idx = 0
        produced = False
        said = ""
        while True:
            # decoder messages are evidence, not the user's business; captured per read
            # only, so that the caller's own writes to stderr still show between frames
            with NativeLog() as log:
                if idx % every == 0:
                    ok, frame = cap.read()
                else:
                    ok, frame = cap.grab(), None
            if log.text():
                errors.append(idx)
                said = said or first_message(log.text())
            if not ok:
                break
            if frame is not None:
                produced = True
                yield idx, idx / fps, frame
            idx += 1
    finally:
        cap.release()
    if not produced:
        raise VideoError(f"{path}: no frame could be decoded; the file is corrupt or empty")
    message = ends_early(path, idx, n_frames, True, errors, said) if n_frames > 0 else None
    if message and on_note is not None:
        on_note(message)
