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
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from pathfer.data.faces import CropSettings, Face, FaceDetector, crop_face, get_detector, to_grey
from pathfer.data.video import is_image, iter_frames, probe
from pathfer.use.bundle import load_bundle
from pathfer.use.predict.annotate import Annotator
from pathfer.use.predict.results import BASE_COLUMNS


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

    def faces(self, frame: np.ndarray, all_faces: bool = False) -> list[Face]:
        """Detected faces, largest first (only the largest unless ``all_faces``)."""
        faces = sorted(self.detector.detect(frame), key=lambda f: (-f.area, f.box[0], f.box[1]))
        return faces if all_faces else faces[:1]

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
            sink = Annotator(Path(annotate), fps / every, self.labels, still=is_image(path))
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
        sink: Annotator | None = None,
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
            faces = self.faces(frame, all_faces)
            rows: list[int] = []
            if not faces:
                rows.append(len(meta_rows))
                meta_rows.append((file, idx, t, None, None, None, None, None, False))
                probs.append(nan_row)
            for j, face in enumerate(faces):
                rows.append(len(meta_rows))
                pending_rows.append(len(meta_rows))
                pending_crops.append(crop_face(grey, face.box, self.crop))
                meta_rows.append((file, idx, t, j, *face.box, True))
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
