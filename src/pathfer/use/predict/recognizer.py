# Over 400 lines: the Recognizer is one class whose methods are the call forms users see.
"""Use a trained model: images, arrays, videos and streams -> one row per frame (and face).

:class:`Recognizer` pairs a bundle's model with its crop settings and face detector.
Frames are read lazily, faces found per frame (within a clip through
:class:`~pathfer.data.faces.track.TrackingDetector`, as ``prepare`` does: near the previous
face first, on a downscaled frame when lost), cropped with the bundle's
:class:`~pathfer.data.faces.CropSettings`, and classified in batches under
``torch.inference_mode``; at most ``batch_size`` crops (and, when annotating, their frames)
are held at once, so memory stays flat on long videos.

Result columns (:data:`~pathfer.use.predict.results.BASE_COLUMNS`, one probability column
per label, ``top_emotion``, ``top_prob``)::

    file, frame, time_s, face_index, track_id, x, y, w, h, face_score, face, <label>...,
    top_emotion, top_prob[, right_eye_x, right_eye_y, ..., mouth_left_y]

A frame without a detected face gives one row with ``face=False``, ``face_index``/box
``<NA>``, NaN probabilities and ``top_emotion=None``: no label is invented. With several
faces the largest is used (``face_index=0``); ``all_faces=True`` gives one row per face,
``face_index`` 0, 1, ... in order of decreasing box area. ``track_id`` follows a face from
frame to frame within a clip (box overlap, :mod:`~pathfer.use.predict.tracks`).
``face_score`` is the detector's confidence (NaN for detectors that give none, such as
Haar); detectors with landmarks (YuNet) add their five points as the last ten columns.
"""

from __future__ import annotations

import dataclasses
import glob
import math
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from torch import nn

from pathfer.data.faces import (
    DETECTORS,
    WHOLE_IMAGE,
    CropSettings,
    Face,
    FaceDetector,
    crop_face,
    default_detector,
    detector_key,
    get_detector,
)
from pathfer.data.faces.track import TrackingDetector
from pathfer.data.video import VideoError, is_image, iter_frames, probe
from pathfer.data.video.read import MAX_PIXELS, reduction
from pathfer.use.bundle import load_bundle
from pathfer.use.predict import inputs, sources
from pathfer.use.predict.annotate import Annotator
from pathfer.use.predict.classifier import FaceClassifier
from pathfer.use.predict.columns import FACE
from pathfer.use.predict.device import resolve_device
from pathfer.use.predict.progress import Advance, frame_progress
from pathfer.use.predict.results import (
    PredictInterrupted,
    Predictions,
    PredictWarning,
    to_predictions,
)
from pathfer.use.predict.tracks import IouTracker

#: shorter side (pixels) of the downscaled frame searched when the tracked face is lost. At
#: 240 px Haar's smallest face (10% of the shorter side) is the same as at full size.
SEARCH_SIDE = 240
#: longer side (pixels) above which faces are searched on a copy of the frame scaled to it
#: (boxes mapped back): a 20000-pixel-wide image costs the detector what a 4K frame does
DETECT_SIDE = 4096

Row = tuple[tuple, np.ndarray]  # (BASE_COLUMNS values, landmarks or None), probabilities


class Recognizer(FaceClassifier):
    """A model plus the crop settings and face detector it was trained with.

    - ``device``: ``"cpu"`` (default), ``"cuda"`` or ``"mps"``; the model and every batch
      of crops are moved there, probabilities come back to the CPU.
    - ``threads``: torch intra-op threads while classifying on the CPU (default 1; ``None``
      keeps torch's global setting). Per-frame time is dominated by face detection, and on
      small or shared machines multi-threaded inference on 64x64 crops loses more to thread
      synchronisation than it gains.
    - ``detector``: a detector instance or a registered name. Default: for a bundle trained
      on detected faces, the best detector installed (:func:`default_detector`: ``yunet``
      where installed, else ``haar``), whatever detector its training crops came from; for
      a bundle trained on whole images (``none``), none. ``"none"`` makes every image the
      crop (no detection, no margin), as :meth:`classify_faces` does.
    - ``track``: within a clip, search near the previous face first and on a frame scaled
      to ``search_side`` pixels when it is lost (as ``prepare`` does); ``False`` runs the
      detector on every full frame. ``all_faces`` always searches full frames.
    - ``max_pixels``: an image file that decodes to more pixels than this (default 50
      megapixels, :data:`~pathfer.data.video.read.MAX_PIXELS`) is refused before it is
      decoded; ``None`` lifts the limit. Frames wider or taller than :data:`DETECT_SIDE`
      are searched for faces on a scaled copy (boxes mapped back to the frame). An image
      file at least twice that size is decoded at 1/2, 1/4 or 1/8 of it (its longer side
      staying >= ``DETECT_SIDE``; a JPEG in colour, other formats in grey) and its faces
      cropped from that (boxes in the file's pixels), unless it is annotated.
    """

    def __init__(
        self,
        model: nn.Module,
        labels: Sequence[str],
        crop: CropSettings | None = None,
        *,
        detector: FaceDetector | str | None = None,
        meta: dict[str, Any] | None = None,
        source: Path | None = None,
        threads: int | None = 1,
        device: str | torch.device | None = "cpu",
        track: bool = True,
        search_side: int = SEARCH_SIDE,
        max_pixels: int | None = MAX_PIXELS,
    ) -> None:
        super().__init__(model, labels, crop, threads=threads, device=device)
        #: the detector the model's training crops came from (``none``: whole images)
        self.training_detector = str(self.crop.detector)
        self._detector_name = detector_for(self.crop, detector)
        self.detector: FaceDetector = (
            get_detector(self._detector_name) if self._detector_name else detector  # type: ignore[assignment]
        )
        self.crop = crop_for(self.crop, self.detector.name)
        self.meta = dict(meta or {})
        self.source = source
        self.track = track
        self.search_side = search_side
        if max_pixels is not None and max_pixels < 1:
            raise ValueError(f"max_pixels must be >= 1 or None, not {max_pixels}")
        self.max_pixels = max_pixels

    @classmethod
    def from_bundle(
        cls,
        path: str | Path | None = None,
        *,
        detector: FaceDetector | str | None = None,
        trusted_modules: Sequence[str] = (),
        threads: int | None = 1,
        device: str | torch.device | None = "cpu",
        track: bool = True,
        max_pixels: int | None = MAX_PIXELS,
    ) -> Recognizer:
        """Load a bundle (``None``: the built-in FER2013 mini-Xception).

        ``detector``: an instance or a registered name (default: see :class:`Recognizer`).
        """
        dev = resolve_device(device)
        b = load_bundle(path, trusted_modules=trusted_modules, device=dev)
        return cls(
            b.model,
            b.labels,
            b.crop,
            detector=detector,
            meta=b.meta,
            source=b.path,
            threads=threads,
            device=dev,
            track=track,
            max_pixels=max_pixels,
        )

    @classmethod
    def from_model(
        cls,
        path: str | Path = "builtin",
        *,
        task: str | None = None,
        detector: FaceDetector | str | None = None,
        threads: int | None = 1,
        device: str | torch.device | None = "cpu",
        track: bool = True,
        max_pixels: int | None = MAX_PIXELS,
    ) -> Recognizer:
        """A task of a multi-task model file (``"builtin"``: the shipped FER2013 model, task
        ``fer2013``) with that task's crop. ``task`` None: the most recently learnt one;
        ``"all"``: every task's probabilities side by side, columns ``<task>:<label>``."""
        from pathfer.use.model_file import load_model

        dev = resolve_device(device)
        m = load_model(path)
        names = m.names if task == "all" else [m.resolve(task)]
        crop = m.crop(names[-1])
        kw = {
            "detector": detector,
            "source": m.path,
            "threads": threads,
            "device": dev,
            "max_pixels": max_pixels,
        }
        meta = {"architecture": "pathnet", "tasks": names, "model_file": str(m.path or path)}
        if task != "all":
            return cls(
                m.task_model(names[0]), m.labels(names[0]), crop, meta=meta, track=track, **kw
            )
        parts = [
            FaceClassifier(m.task_model(n), m.labels(n), crop, threads=threads, device=dev)
            for n in names
        ]
        labels = [f"{n}:{label}" for n in names for label in m.labels(n)]
        return _EveryTask(parts, labels, crop, meta=meta, track=track, **kw)

    # pickling (worker processes): a registry detector is made anew
    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        if self._detector_name:
            state.pop("detector")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if self._detector_name:
            self.detector = get_detector(self._detector_name)

    @property
    def whole_image(self) -> bool:
        """Whether each image is a face already (a bundle prepared with ``detector: none``)."""
        return self.crop.whole_image

    # ----------------------------------------------------------------- building blocks

    def faces(self, frame: np.ndarray, all_faces: bool = False) -> list[Face]:
        """Faces in one whole frame, largest first (only the largest unless ``all_faces``)."""
        return _order(self.detector.detect(frame), all_faces)

    def _clip_finder(self, all_faces: bool) -> Callable[[np.ndarray], list[Face]]:
        """A face finder for one clip (the tracker keeps per-clip state)."""
        meta = DETECTORS.meta(self.detector.name) if self.detector.name in DETECTORS else {}
        if self.track and not all_faces and not self.whole_image and meta.get("trackable", True):
            # the detector's registered window sizes; a lost face is searched for on the frame
            # scaled to search_side (prepare's smaller full search suits corpus close-ups,
            # not any video a user brings)
            sizes = {k: meta[k] for k in ("window_side", "refine_below") if k in meta}
            sizes["full_side"] = self.search_side
            return _scaled(TrackingDetector(self.detector, **sizes).detect)
        return _scaled(lambda frame: self.faces(frame, all_faces))

    # ----------------------------------------------------------------------- predict

    def predict(
        self,
        x: Any,
        *,
        color: str | None = None,
        every: int = 1,
        all_faces: bool = False,
        batch_size: int = 64,
        fps: float | None = None,
        name: str | None = None,
        annotate: str | Path | None = None,
        workers: int = 1,
        progress: Any = False,
        on_skip: Callable[[str, str], None] | None = None,
    ) -> Predictions:
        """Rows for any input, with the same columns whatever it is:

        - a path to an image or video (a missing or unreadable file raises VideoError);
        - a folder, a glob, or a list of paths (unreadable ones are skipped with a
          :class:`PredictWarning`; ``workers`` > 1 reads several files at once);
        - a numpy array (``color`` says its channel order): one image or a stack of frames;
        - a PIL image (16-bit modes scaled to 8 bits as OpenCV reads the file);
        - a torch tensor, ``uint8`` or float in [0, 1], RGB unless ``color``: ``(H, W)``,
          ``(C, H, W)`` when the first dimension is 1 or 3, ``(H, W, C)`` when the last is
          1, 3 or 4 (a shape that fits both is refused), or a batch ``(N, ...)`` of those;
        - an iterable of frames (arrays, PIL images or tensors), e.g. a generator;
        - a list mixing paths with in-memory images: each path is read as a file, each
          in-memory item is one image named ``<list>[i]``.

        ``color``: the channel order of arrays and tensors (``bgr``, ``rgb`` or ``grey``;
        default BGR for numpy arrays, as OpenCV gives them, and RGB for tensors).

        ``fps`` times in-memory frames (``time_s`` is NaN without it; images get 0).
        ``annotate`` writes the frames with boxes and labels (a folder for several files).
        ``progress``: True for a progress bar on long inputs, or ``callback(done, total)``.
        """
        if isinstance(x, (bool, int, np.integer)):
            raise TypeError(f"{x!r} is not an image or video; for a camera use stream({x!r})")
        if sources.is_url(x):
            frames = sources.capture_frames(x, every)
            return self._predict_frames(frames, x, all_faces, batch_size, annotate, fps, progress)
        if sources.is_path_like(x):
            if Path(x).is_file():
                return self.predict_video(
                    x, every, all_faces, batch_size, annotate=annotate, progress=progress
                )
            if not Path(x).exists() and not glob.has_magic(str(x)):
                raise VideoError(f"{x}: file not found; check the path")
            x = [x]  # a folder or a glob
        if isinstance(x, (list, tuple)) and any(sources.is_path_like(p) for p in x):
            if not all(sources.is_path_like(p) for p in x):
                return self._predict_mixed(x, color, all_faces, batch_size, progress, on_skip)
            return self.predict_paths(
                x,
                every=every,
                all_faces=all_faces,
                batch_size=batch_size,
                annotate=annotate,
                workers=workers,
                progress=progress,
                on_skip=on_skip,
            )
        if isinstance(x, np.ndarray):
            stack, one = sources.array_frames(x, color)
            if one is not None:
                return self._predict_still(one, name or "<array>", all_faces, annotate)
            frames = sources.numbered(stack, "bgr", fps)
            return self._predict_frames(
                frames, name or "<array>", all_faces, batch_size, annotate, fps, progress, every
            )
        if sources.is_pil_image(x):
            return self._predict_still(sources.from_pil(x), name or "<image>", all_faces, annotate)
        if sources.is_tensor(x):
            t = sources.from_tensor(x)
            if isinstance(t, list):  # a batch: frames of one sequence
                frames = sources.numbered(t, color or "rgb", fps)
                name = name or "<tensor>"
                return self._predict_frames(
                    frames, name, all_faces, batch_size, annotate, fps, progress, every
                )
            one = sources.to_frame(t, color or "rgb")
            return self._predict_still(one, name or "<tensor>", all_faces, annotate)
        if isinstance(x, Iterable) and not isinstance(x, (str, bytes)):
            frames = sources.numbered(x, color, fps)
            return self._predict_frames(
                frames, name or "<frames>", all_faces, batch_size, annotate, fps, progress, every
            )
        raise TypeError(
            f"cannot predict on {type(x).__name__}; pass a path, a list of paths, a numpy "
            "array, a PIL image or an iterable of frames"
        )

    def _predict_mixed(
        self,
        items: Sequence[Any],
        color: str | None,
        all_faces: bool,
        batch_size: int,
        progress: Any,
        on_skip: Callable[[str, str], None] | None,
    ) -> Predictions:
        """A list mixing paths and in-memory images: each item read by its own kind."""
        parts = []
        for i, item in enumerate(items):
            if sources.is_path_like(item):
                kw = {"batch_size": batch_size, "progress": progress, "on_skip": on_skip}
                parts.append(self.predict_paths([item], all_faces=all_faces, **kw))
            else:
                name = f"<list>[{i}]"
                frame = sources.to_frame(item, color)
                parts.append(self._predict_still(frame, name, all_faces, None))
        out = Predictions(pd.concat(parts, ignore_index=True))
        out.attrs = {"labels": list(self.labels)}
        out.attrs["skipped"] = [s for p in parts for s in p.attrs.get("skipped", [])]
        return out

    def predict_sequence(
        self,
        frames: str | Path | Sequence[Any],
        *,
        all_faces: bool = False,
        batch_size: int = 64,
        fps: float | None = None,
        name: str | None = None,
        on_skip: Callable[[str, str], None] | None = None,
    ) -> Predictions:
        """Rows for one sequence of frames: a folder of images (read in name order, numbers
        compared as numbers: ``frame2`` before ``frame10``) or a list of image paths or
        in-memory images, analysed as one clip (``file`` is the folder, ``frame`` the
        position; faces are tracked from frame to frame as in a video).

        An image file that cannot be read is left out (``frame`` keeps counting positions)
        and reported through ``on_skip(file, reason)`` (default: a
        :class:`~pathfer.use.predict.results.PredictWarning` naming the file); it is listed
        in ``df.attrs["skipped"]``. A sequence with no readable frame raises VideoError.

        Its clip scores: ``summarize(df, peak=True)`` (the mean and the peak frame)."""
        if sources.is_path_like(frames):
            folder = Path(frames)
            if not folder.is_dir():
                raise VideoError(f"{folder}: a sequence is a folder of frames (images)")
            items: list[Any] = sorted(
                (f for f in folder.iterdir() if f.is_file() and is_image(f)),
                key=lambda f: natural_key(f.name),
            )
            if not items:
                raise VideoError(f"{folder}: the folder holds no images (a sequence's frames)")
            name = name or str(folder)
        else:
            items = list(frames)
        skipped: list[tuple[str, str]] = []
        read = 0

        def stream() -> Iterator[tuple[int, float, np.ndarray]]:
            nonlocal read
            for i, item in enumerate(items):
                try:
                    frame = self._sequence_frame(item)
                except (VideoError, cv2.error, OSError) as exc:
                    if not sources.is_path_like(item):
                        raise
                    skipped.append((str(item), inputs.skip_reason(exc, Path(item))))
                    continue
                read += 1
                yield i, (i / fps if fps else math.nan), frame

        name = name or "<sequence>"
        df = self._predict_frames(stream(), name, all_faces, batch_size, None, fps, False)
        if items and not read:
            first, reason = skipped[0]
            what = (
                "its only frame could not be read"
                if len(items) == 1
                else f"none of its {len(items)} frames could be read (the first shown)"
            )
            raise VideoError(
                f"{name}: {what}: {Path(first).name}: {reason}; check the images, or leave "
                "the folder out"
            )
        # reported once the sequence stands, so that a sequence refused whole says it once
        for item, reason in skipped:
            if on_skip is not None:
                on_skip(item, reason)
            else:
                message = f"{item}: {reason}; skipped, the sequence goes on without it"
                warnings.warn(message, PredictWarning, stacklevel=2)
        df.attrs["skipped"] = skipped
        return df

    def _sequence_frame(self, item: Any) -> np.ndarray:
        if sources.is_path_like(item):
            return next(iter_frames(item, max_pixels=self.max_pixels))[2]
        return sources.to_frame(item)

    def predict_frames(
        self,
        frames: Iterable[Any],
        *,
        all_faces: bool = False,
        batch_size: int = 64,
        fps: float | None = None,
        name: str = "<frames>",
        color: str | None = None,
    ) -> Predictions:
        """Rows for in-memory frames (BGR unless ``color``); ``time_s`` is NaN unless ``fps``."""
        stream = sources.numbered(frames, color, fps)
        return self._predict_frames(stream, name, all_faces, batch_size, None, fps, False)

    def predict_image(self, path: str | Path, *, all_faces: bool = False) -> Predictions:
        """Rows for one still image file (``frame=0``, ``time_s=0``)."""
        f = reduction(path, DETECT_SIDE)
        frames = iter_frames(path, max_pixels=self.max_pixels, reduce=f)
        return self._collect(self._analysed(frames, str(path), all_faces, 64, scale=f))

    def predict_video(
        self,
        path: str | Path,
        every: int = 1,
        all_faces: bool = False,
        batch_size: int = 64,
        annotate: str | Path | None = None,
        *,
        progress: Any = False,
    ) -> Predictions:
        """Rows for every ``every``-th frame of a video (an image works too).

        ``annotate``: also write the analysed frames with boxes and labels drawn to this
        video file (an image file for an image input). With ``every=K`` it holds every
        K-th frame at ``fps / K``, so its duration matches the source. The path written
        (the extension may change on a fallback) is in ``df.attrs["annotated"]``.
        """
        with frame_progress(
            inputs.frames_in(path, every) if progress else None,
            progress,
            description=Path(path).name,
        ) as advance:
            return self._predict_file(path, every, all_faces, batch_size, annotate, advance)

    def predict_paths(self, paths: Iterable[str | Path], **kwargs: Any) -> Predictions:
        """Rows for many files, folders and globs (see :func:`predict_paths`)."""
        return inputs.run_paths(self, paths, **kwargs)

    def stream(
        self,
        source: Any,
        *,
        every: int = 1,
        all_faces: bool = False,
        color: str | None = None,
        fps: float | None = None,
    ) -> Iterator[Predictions]:
        """Yield each analysed frame's rows as the frame arrives (one row per face, or one
        no-face row).

        ``source``: a camera index (``0``), a URL OpenCV can open, a video file, or an
        iterable of frames (a generator works: nothing is read ahead). For cameras and URLs
        ``time_s`` is seconds since the first frame. Stop by leaving the loop.
        """
        frames = sources.stream_frames(source, every=every, color=color, fps=fps)
        name = sources.source_name(source)
        for _, rows in self._analysed(frames, name, all_faces, batch_frames=1):
            yield self._frame([m for m, _ in rows], [p for _, p in rows])

    def stream_with_frames(
        self, source: Any, *, every: int = 1, all_faces: bool = False, color: str | None = None
    ) -> Iterator[tuple[np.ndarray, list[Row]]]:
        """Like :meth:`stream`, with each frame and its raw rows (for live display)."""
        frames = sources.stream_frames(source, every=every, color=color)
        yield from self._analysed(frames, sources.source_name(source), all_faces, batch_frames=1)

    # --------------------------------------------------------------------- internals

    def _predict_file(
        self,
        path: str | Path,
        every: int,
        all_faces: bool,
        batch_size: int,
        annotate: str | Path | None,
        advance: Advance | None = None,
    ) -> Predictions:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        path = Path(path)
        sink = None
        if annotate is not None:
            fps = 0.0 if is_image(path) else probe(path).fps or 25.0
            sink = Annotator(Path(annotate), fps / every, self.labels, still=is_image(path))
        notes: list[str] = []  # a video that ends early: its frames stand, the note says so
        # an image far larger than the detector's search is decoded smaller (not when it is
        # annotated: the copy with boxes drawn has the image's own size)
        f = reduction(path, DETECT_SIDE) if sink is None else 1
        frames = iter_frames(
            path, every=every, max_pixels=self.max_pixels, on_note=notes.append, reduce=f
        )
        try:
            analysed = self._analysed(frames, str(path), all_faces, batch_size, scale=f)
            df = self._collect(analysed, sink, advance)
        finally:
            if sink is not None:
                sink.close()
        if sink is not None:
            df.attrs["annotated"] = [str(sink.path)] if sink.path else []
        df.attrs["notes"] = notes
        return df

    def _predict_still(
        self, frame: np.ndarray, name: str, all_faces: bool, annotate: str | Path | None
    ) -> Predictions:
        sink = Annotator(Path(annotate), 0.0, self.labels, still=True) if annotate else None
        df = self._collect(self._analysed(iter([(0, 0.0, frame)]), name, all_faces, 1), sink)
        if sink is not None:
            sink.close()
            df.attrs["annotated"] = [str(sink.path)] if sink.path else []
        return df

    def _predict_frames(
        self,
        frames: Iterator[tuple[int, float, np.ndarray]],
        name: str,
        all_faces: bool,
        batch_size: int,
        annotate: str | Path | None,
        fps: float | None,
        progress: Any,
        every: int = 1,
    ) -> Predictions:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        if every < 1:
            raise ValueError(f"every must be >= 1, not {every}")
        if every > 1:
            frames = (f for f in frames if f[0] % every == 0)
        sink = None
        if annotate is not None:
            sink = Annotator(Path(annotate), (fps or 25.0) / every, self.labels, still=False)
        try:
            with frame_progress(None, progress, description=name) as advance:
                df = self._collect(
                    self._analysed(frames, name, all_faces, batch_size), sink, advance
                )
        finally:
            if sink is not None:
                sink.close()
        if sink is not None:
            df.attrs["annotated"] = [str(sink.path)] if sink.path else []
        return df

    def _analysed(
        self,
        frames: Iterable[tuple[int, float, np.ndarray]],
        file: str,
        all_faces: bool,
        batch_frames: int,
        scale: int = 1,
    ) -> Iterator[tuple[np.ndarray, list[Row]]]:
        """``(frame, rows)`` per frame, in order, classified in batches of crops.

        ``scale``: the frames were decoded at ``1 / scale`` of the file's size; faces are
        cropped from them, their boxes and landmarks given in the file's pixels.

        On Ctrl-C the frames already read are classified and yielded before it propagates.
        """
        find = self._clip_finder(all_faces)
        tracks = IouTracker()
        nan_row = np.full(len(self.labels), np.nan, np.float32)
        pending: list[tuple[np.ndarray, list[tuple], list[np.ndarray]]] = []
        n_crops = 0

        def flush() -> Iterator[tuple[np.ndarray, list[Row]]]:
            nonlocal n_crops
            crops = [c for _, _, cs in pending for c in cs]
            probs = iter(self.classify(np.stack(crops)) if crops else [])
            done = [
                (frame, [(m, next(probs) if m[FACE] else nan_row) for m in metas])
                for frame, metas, _ in pending
            ]
            pending.clear()
            n_crops = 0
            yield from done

        try:
            for idx, t, frame in frames:
                faces = [] if frame.size == 0 else find(frame)
                if not all_faces:
                    faces = faces[:1]
                metas: list[tuple] = []
                crops: list[np.ndarray] = []
                if not faces:
                    no_face = (None,) * 6
                    metas.append((file, idx, t, *no_face, math.nan, False, None))
                ids = tracks.update([face.box for face in faces])
                for j, (face, tid) in enumerate(zip(faces, ids, strict=True)):
                    shown = face if scale == 1 else face.moved(1 / scale)
                    box, score = shown.box, float(face.score)
                    metas.append((file, idx, t, j, tid, *box, score, True, shown.landmarks))
                    # the Face, not only its box: with crop.align the eyes are levelled
                    crops.append(crop_face(frame, face, self.crop))
                pending.append((frame, metas, crops))
                n_crops += len(crops)
                if n_crops >= batch_frames or len(pending) >= batch_frames:
                    yield from flush()
        except KeyboardInterrupt:
            yield from flush()
            raise
        yield from flush()

    def _collect(
        self,
        analysed: Iterator[tuple[np.ndarray, list[Row]]],
        sink: Annotator | None = None,
        advance: Advance | None = None,
    ) -> Predictions:
        metas: list[tuple] = []
        probs: list[np.ndarray] = []
        try:
            for frame, rows in analysed:
                if sink is not None:
                    sink.write(frame, rows)
                for m, p in rows:
                    metas.append(m)
                    probs.append(p)
                if advance is not None:
                    advance(1)
        except KeyboardInterrupt:
            raise PredictInterrupted(self._frame(metas, probs)) from None
        return self._frame(metas, probs)

    def _frame(self, meta_rows: list[tuple], probs: list[np.ndarray]) -> Predictions:
        return to_predictions(meta_rows, probs, self.labels, landmarks=self.gives_landmarks)

    @property
    def gives_landmarks(self) -> bool:
        """Whether the detector gives five landmarks (then they are result columns)."""
        name = self.detector.name
        return name in DETECTORS and bool(DETECTORS.meta(name).get("landmarks", False))

    def empty_result(self) -> Predictions:
        return self._frame([], [])


def predict_paths(
    paths: Iterable[str | Path],
    recognizer: Recognizer | None = None,
    *,
    model: str | Path | None = None,
    **kwargs: Any,
) -> Predictions:
    """Predict over images, videos, folders and globs; skip unreadable inputs.

    Each skipped input is reported through ``on_skip(input, reason)`` (default: a
    :class:`PredictWarning` naming the file) and recorded in ``df.attrs["skipped"]``; the
    rest goes on. ``annotate`` is a file for a single input, else a folder receiving
    ``<stem>.annotated.mp4`` (``.png`` for images); written paths are in
    ``df.attrs["annotated"]``. ``workers`` > 1 reads that many files at once (processes).
    """
    rec = recognizer or Recognizer.from_bundle(model)
    return inputs.run_paths(rec, paths, **kwargs)


def _scaled(find: Callable[[np.ndarray], list[Face]]) -> Callable[[np.ndarray], list[Face]]:
    """``find`` run on frames scaled down to :data:`DETECT_SIDE` when larger (boxes and
    landmarks mapped back to the frame's pixels); smaller frames are searched as they are."""

    def scaled(frame: np.ndarray) -> list[Face]:
        side = max(frame.shape[:2])
        if side <= DETECT_SIDE:
            return find(frame)
        f = DETECT_SIDE / side
        small = cv2.resize(frame, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        return [face.moved(f) for face in find(small)]

    return scaled


def detector_for(crop: CropSettings, detector: FaceDetector | str | None) -> str | None:
    """The registered name of the detector to build (None: ``detector`` is an instance).

    A bundle's crops come from a kind of detector: ``none`` (the images were the crops) or
    a face detector. For the latter the best detector installed is used: the box it gives
    is cropped with the bundle's margin, so the crop is of the same kind."""
    if isinstance(detector, str):
        return detector_key(detector)
    if detector is not None:
        return None
    return WHOLE_IMAGE if crop.whole_image else default_detector()


def crop_for(crop: CropSettings, detector: str) -> CropSettings:
    """The bundle's crop with the detector in use: ``none`` makes the whole image the crop
    (no margin); a face detector on a whole-image bundle crops its box without a margin."""
    if detector == crop.detector or (detector != WHOLE_IMAGE and not crop.whole_image):
        return crop
    return dataclasses.replace(crop, detector=detector)


def natural_key(name: str) -> list[Any]:
    """Sort key comparing the digits in a name as numbers (``f2`` before ``f10``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _order(faces: list[Face], all_faces: bool) -> list[Face]:
    faces = sorted(faces, key=lambda f: (-f.area, f.box[0], f.box[1]))
    return faces if all_faces else faces[:1]


class _EveryTask(Recognizer):
    """Every task of a multi-task model: each task's probabilities (its own softmax), side
    by side in the order the tasks were learnt."""

    def __init__(
        self, parts: list[FaceClassifier], labels: list[str], crop: CropSettings, **kw: Any
    ) -> None:
        super().__init__(parts[-1].model, labels, crop, **kw)
        self.parts = parts

    def classify(self, crops: np.ndarray) -> np.ndarray:
        return np.concatenate([p.classify(crops) for p in self.parts], axis=1)
