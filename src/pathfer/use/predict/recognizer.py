"""Use a trained model: images and videos -> one row per frame (and face).

:class:`Recognizer` pairs a bundle's model with its crop settings and face detector.
Frames are decoded lazily (:func:`pathfer.data.video.iter_frames`), faces detected per frame,
cropped with the bundle's :class:`~pathfer.data.faces.CropSettings`, and classified in batches
under ``torch.inference_mode``; at most ``batch_size`` crops (and, when annotating,
their frames) are held at once, so memory stays flat on long videos.

Result columns (:data:`BASE_COLUMNS`, then one probability column per label, then
``top_emotion``, ``top_prob``)::

    file, frame, time_s, face_index, x, y, w, h, face, <label>..., top_emotion, top_prob

A frame without a detected face gives one row with ``face=False``, ``face_index``/box
``<NA>``, NaN probabilities and ``top_emotion=None``: no label is invented. With several
faces the largest is used (``face_index=0``); ``all_faces=True`` gives one row per face,
``face_index`` 0, 1, ... in order of decreasing box area.
"""

from __future__ import annotations

import copy
import glob
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from torch import nn

from pathfer.data.emotions import CANONICAL_EMOTIONS
from pathfer.data.faces import Box, CropSettings, FaceDetector, crop_face, get_detector, to_grey
from pathfer.data.video import VideoError, is_image, is_media, iter_frames, probe
from pathfer.use.bundle import load_bundle

BASE_COLUMNS: tuple[str, ...] = (
    "file",
    "frame",
    "time_s",
    "face_index",
    "x",
    "y",
    "w",
    "h",
    "face",
)
RESULT_FORMATS = (".csv", ".json", ".parquet")


class PredictWarning(UserWarning):
    """An input that was skipped (unreadable, missing, not media); names the file."""


class Recognizer:
    """A model plus the crop settings and face detector it was trained with.

    ``threads``: torch intra-op threads while classifying (default 1; ``None`` keeps
    torch's global setting). Per-frame time is dominated by face detection, and on small
    or shared machines multi-threaded inference on 64x64 crops loses more to thread
    synchronisation than it gains (see docs/predict.md, Benchmark).
    """

    def __init__(
        self,
        model: nn.Module,
        labels: Sequence[str],
        crop: CropSettings | None = None,
        *,
        detector: FaceDetector | None = None,
        meta: dict[str, Any] | None = None,
        source: Path | None = None,
        threads: int | None = 1,
    ) -> None:
        self.model = model.eval()
        self._infer = _inference_copy(self.model)
        self.labels = list(labels)
        self.crop = crop or CropSettings()
        self.detector = detector or get_detector(self.crop.detector)
        self.meta = dict(meta or {})
        self.source = source
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 or None, not {threads}")
        self.threads = threads

    @classmethod
    def from_bundle(
        cls,
        path: str | Path | None = None,
        *,
        detector: FaceDetector | None = None,
        trusted_modules: Sequence[str] = (),
        threads: int | None = 1,
    ) -> Recognizer:
        """Load a bundle (``None``: the built-in FER2013 mini-Xception)."""
        b = load_bundle(path, trusted_modules=trusted_modules)
        return cls(
            b.model,
            b.labels,
            b.crop,
            detector=detector,
            meta=b.meta,
            source=b.path,
            threads=threads,
        )

    # ----------------------------------------------------------------- building blocks

    def classify(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, C)`` (float32) for uint8 face crops ``(N, S, S)``."""
        crops = np.asarray(crops)
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(crops, dtype=np.uint8))
        x = x.to(torch.float32).unsqueeze(1).div_(255.0)
        previous = torch.get_num_threads()
        if self.threads is not None and self.threads != previous:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                p = torch.softmax(self._infer(x), dim=1)
        finally:
            if self.threads is not None and self.threads != previous:
                torch.set_num_threads(previous)
        return p.numpy().astype(np.float32, copy=False)

    def faces(self, grey: np.ndarray, all_faces: bool = False) -> list[Box]:
        """Detected boxes, largest first (only the largest unless ``all_faces``)."""
        boxes = sorted(self.detector.detect(grey), key=lambda b: (-b[2] * b[3], b[0], b[1]))
        return boxes if all_faces else boxes[:1]

    # ----------------------------------------------------------------------- predict

    def predict_frames(
        self,
        frames: Iterable[np.ndarray],
        *,
        all_faces: bool = False,
        batch_size: int = 64,
        fps: float | None = None,
        name: str = "<frames>",
    ) -> pd.DataFrame:
        """Rows for in-memory BGR (or grey) frames; ``time_s`` is NaN unless ``fps``."""
        stream = ((i, i / fps if fps else math.nan, f) for i, f in enumerate(frames))
        return self._run(stream, name, all_faces=all_faces, batch_size=batch_size)

    def predict_image(self, path: str | Path, *, all_faces: bool = False) -> pd.DataFrame:
        """Rows for one still image (``frame=0``, ``time_s=0``)."""
        return self._run(iter_frames(path), str(path), all_faces=all_faces, batch_size=64)

    def predict_video(
        self,
        path: str | Path,
        every: int = 1,
        all_faces: bool = False,
        batch_size: int = 64,
        annotate: str | Path | None = None,
    ) -> pd.DataFrame:
        """Rows for every ``every``-th frame of a video (an image works too).

        ``annotate``: also write the analysed frames with boxes and labels drawn to this
        video file (an image file for an image input). With ``every=K`` it holds every
        K-th frame at ``fps / K``, so its duration matches the source. The path written
        (the extension may change on the MJPG fallback) is in ``df.attrs["annotated"]``.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        path = Path(path)
        sink = None
        if annotate is not None:
            fps = 0.0 if is_image(path) else probe(path).fps or 25.0
            sink = _Annotator(Path(annotate), fps / every, self.labels, still=is_image(path))
        try:
            df = self._run(
                iter_frames(path, every=every),
                str(path),
                all_faces=all_faces,
                batch_size=batch_size,
                sink=sink,
            )
        finally:
            if sink is not None:
                sink.close()
        if sink is not None:
            df.attrs["annotated"] = [str(sink.path)] if sink.path else []
        return df

    def _run(
        self,
        stream: Iterator[tuple[int, float, np.ndarray]] | Iterable,
        file: str,
        *,
        all_faces: bool,
        batch_size: int,
        sink: _Annotator | None = None,
    ) -> pd.DataFrame:
        meta_rows: list[tuple] = []
        probs = []  # per row: array of C floats (NaN rows for frames with no face)
        nan_row = np.full(len(self.labels), np.nan, np.float32)
        pending_crops: list[np.ndarray] = []
        pending_rows: list[int] = []
        pending_frames: list[tuple[np.ndarray, list[int]]] = []

        def flush() -> None:
            if pending_crops:
                p = self.classify(np.stack(pending_crops))
                for r, row in zip(pending_rows, p, strict=True):
                    probs[r] = row
            if sink is not None:
                for frame, rows in pending_frames:
                    sink.write(frame, [(meta_rows[r], probs[r]) for r in rows])
            pending_crops.clear()
            pending_rows.clear()
            pending_frames.clear()

        for idx, t, frame in stream:
            grey = to_grey(frame)
            boxes = self.faces(grey, all_faces)
            rows: list[int] = []
            if not boxes:
                rows.append(len(meta_rows))
                meta_rows.append((file, idx, t, None, None, None, None, None, False))
                probs.append(nan_row)
            for j, box in enumerate(boxes):
                rows.append(len(meta_rows))
                pending_rows.append(len(meta_rows))
                pending_crops.append(crop_face(grey, box, self.crop))
                meta_rows.append((file, idx, t, j, *box, True))
                probs.append(nan_row)
            if sink is not None:
                pending_frames.append((frame, rows))
            if len(pending_crops) >= batch_size or len(pending_frames) >= batch_size:
                flush()
        flush()
        return self._frame(meta_rows, probs)

    def _frame(self, meta_rows: list[tuple], probs: list[np.ndarray]) -> pd.DataFrame:
        df = pd.DataFrame.from_records(meta_rows, columns=list(BASE_COLUMNS))
        df = df.astype(
            {
                "file": object,
                "frame": "int64",
                "time_s": "float64",
                "face_index": "Int64",
                "x": "Int64",
                "y": "Int64",
                "w": "Int64",
                "h": "Int64",
                "face": bool,
            }
        )
        p = np.stack(probs) if probs else np.zeros((0, len(self.labels)), np.float32)
        p = p.astype(np.float64)
        for i, label in enumerate(self.labels):
            df[label] = p[:, i]
        has = df["face"].to_numpy(bool)
        top = np.argmax(np.nan_to_num(p, nan=-1.0), axis=1) if len(p) else np.zeros(0, int)
        labels = np.asarray(self.labels, dtype=object)
        df["top_emotion"] = pd.Series(
            np.where(has, labels[top] if len(p) else [], None), dtype=object
        )
        df["top_prob"] = np.where(has, p[np.arange(len(p)), top] if len(p) else [], np.nan)
        df.attrs["labels"] = list(self.labels)
        return df

    def empty_result(self) -> pd.DataFrame:
        return self._frame([], [])


def _inference_copy(model: nn.Module) -> nn.Module:
    """The model prepared for fast CPU inference (BN folded if the model offers it, and
    channels-last weights, ~2-3x faster for small conv nets); ``model`` is not modified."""
    fuse = getattr(model, "fused_for_inference", None)
    fast = fuse() if callable(fuse) else copy.deepcopy(model)
    return fast.eval().to(memory_format=torch.channels_last)


# ------------------------------------------------------------------- annotated output


class _Annotator:
    """Writes analysed frames with boxes and labels (video, or one image for stills)."""

    def __init__(self, path: Path, fps: float, labels: Sequence[str], still: bool) -> None:
        self.path: Path | None = path
        self.fps = fps if fps and fps > 0 else 25.0
        self.labels = list(labels)
        self.still = still
        self._writer: cv2.VideoWriter | None = None
        self.frames = 0

    def _open(self, size: tuple[int, int]) -> None:
        assert self.path is not None
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
            PredictWarning,
            stacklevel=3,
        )
        self.path, self._writer = fallback, w

    def write(self, frame: np.ndarray, rows: list[tuple[tuple, np.ndarray]]) -> None:
        img = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame.copy()
        draw(img, rows, self.labels)
        if self.still:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(self.path), img):
                raise VideoError(f"{self.path}: cannot write the annotated image")
        else:
            if self._writer is None:
                self._open((img.shape[1], img.shape[0]))
            assert self._writer is not None
            self._writer.write(img)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self.frames == 0:
            self.path = None


def draw(img: np.ndarray, rows: list[tuple[tuple, np.ndarray]], labels: Sequence[str]) -> None:
    """Draw each face's box and ``label prob`` on a BGR image in place."""
    scale = max(0.4, img.shape[0] / 600)
    thick = max(1, int(round(scale * 2)))
    for meta, p in rows:
        face = meta[-1]
        if not face:
            cv2.putText(
                img,
                "no face",
                (8, int(24 * scale)),
                cv2.FONT_HERSHEY_SIMPLEX,
                scale,
                (0, 0, 255),
                thick,
                cv2.LINE_AA,
            )
            continue
        x, y, w, h = (int(v) for v in meta[4:8])
        k = int(np.argmax(p))
        colour = (0, 200, 0) if meta[3] == 0 else (0, 200, 255)
        cv2.rectangle(img, (x, y), (x + w, y + h), colour, thick)
        text = f"{labels[k]} {p[k]:.2f}"
        ty = y - 6 if y - 6 > 12 * scale else y + h + int(18 * scale)
        cv2.putText(img, text, (x, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


# ------------------------------------------------------------------ many inputs, summary


def expand_inputs(inputs: Iterable[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files named by ``inputs`` (files, folders searched recursively for media, globs).

    Returns ``(files, problems)`` where ``problems`` lists ``(input, reason)`` for inputs
    that name nothing usable. Order is preserved and duplicates dropped.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            files.append(p)

    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and is_media(f))
            if not found:
                problems.append((str(item), "folder holds no images or videos"))
            for f in found:
                add(f)
        elif p.exists():
            add(p)
        elif glob.has_magic(str(item)):
            found = sorted(
                Path(f) for f in glob.glob(str(item), recursive=True) if Path(f).is_file()
            )
            found = [f for f in found if is_media(f)]
            if not found:
                problems.append((str(item), "no image or video matches this pattern"))
            for f in found:
                add(f)
        else:
            problems.append((str(item), "file not found"))
    return files, problems


def _annotation_target(annotate: Path, file: Path, several: bool, used: set[Path]) -> Path:
    folder_mode = several or annotate.is_dir() or annotate.suffix == ""
    if not folder_mode:
        return annotate
    ext = ".png" if is_image(file) else ".mp4"
    target = annotate / f"{file.stem}.annotated{ext}"
    n = 1
    while target in used:
        target = annotate / f"{file.stem}.annotated-{n}{ext}"
        n += 1
    used.add(target)
    return target


def predict_paths(
    inputs: Iterable[str | Path],
    recognizer: Recognizer | None = None,
    *,
    model: str | Path | None = None,
    every: int = 1,
    all_faces: bool = False,
    batch_size: int = 64,
    annotate: str | Path | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> pd.DataFrame:
    """Predict over images, videos, folders and globs; skip unreadable inputs.

    Each skipped input is reported through ``on_skip(input, reason)`` (default: a
    :class:`PredictWarning` naming the file) and recorded in ``df.attrs["skipped"]``; the
    rest goes on. ``annotate`` is a file for a single input, else a folder receiving
    ``<stem>.annotated.mp4`` (``.png`` for images); written paths are in
    ``df.attrs["annotated"]``.
    """
    rec = recognizer or Recognizer.from_bundle(model)
    files, problems = expand_inputs(inputs)

    def skip(item: str, reason: str) -> None:
        problems_out.append((item, reason))
        if on_skip is not None:
            on_skip(item, reason)
        else:
            warnings.warn(f"{item}: {reason}; skipped", PredictWarning, stacklevel=3)

    problems_out: list[tuple[str, str]] = []
    for item, reason in problems:
        skip(item, reason)
    annotate_path = Path(annotate) if annotate is not None else None
    several = len(files) + len(problems) > 1
    if (
        annotate_path is not None
        and several
        and annotate_path.suffix
        and not annotate_path.is_dir()
    ):
        raise ValueError(
            f"{annotate_path}: with several inputs --annotate must be a folder, not a file"
        )
    used: set[Path] = set()
    frames: list[pd.DataFrame] = []
    annotated: list[str] = []
    for f in files:
        target = _annotation_target(annotate_path, f, several, used) if annotate_path else None
        try:
            df = rec.predict_video(
                f, every=every, all_faces=all_faces, batch_size=batch_size, annotate=target
            )
        except (VideoError, cv2.error, OSError) as exc:
            msg = str(exc)
            reason = msg.split(": ", 1)[1] if msg.startswith(str(f)) else msg
            skip(str(f), reason.strip() or type(exc).__name__)
            continue
        annotated.extend(df.attrs.get("annotated", []))
        frames.append(df)
    out = pd.concat(frames, ignore_index=True) if frames else rec.empty_result()
    out.attrs = {"labels": list(rec.labels), "skipped": problems_out, "annotated": annotated}
    return out


def prob_columns(df: pd.DataFrame) -> list[str]:
    """The per-label probability columns of a result frame (in class order)."""
    labels = df.attrs.get("labels")
    if labels:
        return [c for c in labels if c in df.columns]
    start = list(df.columns).index("face") + 1 if "face" in df.columns else 0
    stop = list(df.columns).index("top_emotion") if "top_emotion" in df.columns else None
    cols = list(df.columns)[start:stop]
    return [c for c in cols if c in CANONICAL_EMOTIONS] or cols


def summarize(df: pd.DataFrame, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per file: frames, frames with a face, face share, mean probabilities.

    Means are over the rows of the main (largest, ``face_index == 0``) face of each frame
    with a face; ``top_emotion`` is the argmax of those means (None if no face at all).
    """
    labels = list(labels) if labels else prob_columns(df)
    cols = ["file", "frames", "face_frames", "face_share", *labels, "top_emotion", "top_prob"]
    rows = []
    for file, g in df.groupby("file", sort=False):
        n = int(g["frame"].nunique())
        main = g[g["face"].astype(bool) & (g["face_index"].fillna(-1) == 0)]
        nf = int(main["frame"].nunique())
        means = main[labels].astype(float).mean() if nf else pd.Series(np.nan, index=labels)
        top = str(means.idxmax()) if nf else None
        rows.append(
            [
                file,
                n,
                nf,
                nf / n if n else math.nan,
                *means.tolist(),
                top,
                float(means.max()) if nf else math.nan,
            ]
        )
    out = pd.DataFrame(rows, columns=cols)
    # object dtype keeps None for "no face" (pandas 3's string dtype would turn it into NaN)
    out["top_emotion"] = pd.Series([r[-2] for r in rows], dtype=object, index=out.index)
    out.attrs["labels"] = labels
    return out


def write_results(df: pd.DataFrame, path: str | Path) -> Path:
    """Write per-frame results as ``.csv``, ``.json`` (records) or ``.parquet``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in RESULT_FORMATS:
        raise ValueError(
            f"{path}: unknown results format {suffix or '(none)'}; use .csv, .json or .parquet"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = pd.DataFrame(df)
    plain.attrs = {}
    if suffix == ".csv":
        plain.to_csv(path, index=False)
    elif suffix == ".json":
        plain.to_json(path, orient="records", indent=1)
    else:
        plain.to_parquet(path, index=False)
    return path
