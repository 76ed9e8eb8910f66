"""A prediction job from typed options (what ``pathfer predict`` runs): check the outputs,
load the model, predict over files or a camera, write the results.

The command line parses the options into :class:`PredictOptions` and reports; every step
here raises ``ValueError`` (or ``OSError``, ``VideoError``, ``BundleError``) with a message
for the user, and nothing here prints.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TextIO

import pandas as pd

from pathfer.data.faces import FALLBACK, PREFERRED, WHOLE_IMAGE, yunet_available
from pathfer.data.video import VideoError
from pathfer.data.video.read import MAX_PIXELS
from pathfer.use.predict.inputs import skip_reason
from pathfer.use.predict.recognizer import Recognizer
from pathfer.use.predict.results import (
    PredictInterrupted,
    Predictions,
    PredictWarning,
    check_format,
    check_writable,
    summarize,
    write_results,
)
from pathfer.use.predict.sources import check_camera


@dataclass(frozen=True)
class PredictOptions:
    """What to predict on, with which model, and where the results go.

    ``inputs`` (files, folders, globs) or ``camera`` (an index such as ``"0"`` or a stream
    URL), not both; the output paths that are ``None`` are not written. ``threads=0``
    keeps torch's default thread count.
    """

    inputs: Sequence[str] = ()
    camera: str | None = None
    model: Path | None = None
    out: Path | None = None
    summary: Path | None = None
    timeline: Path | None = None
    annotate: Path | None = None
    max_frames: int | None = None
    every: int = 1
    all_faces: bool = False
    detector: str | None = None
    track: bool = True
    device: str = "cpu"
    workers: int = 1
    batch_size: int = 64
    threads: int = 1
    max_pixels: int | None = MAX_PIXELS
    sequence: bool = False
    progress: bool = True
    #: a task of a multi-task model file (``"all"``: every task's); None: the model's own
    #: task (a bundle), or a model file's most recently learnt one
    task: str | None = None

    @property
    def live(self) -> bool:
        return self.camera is not None

    @property
    def camera_source(self) -> int | str | None:
        """The camera as OpenCV opens it: an index, else a URL or path."""
        if self.camera is None:
            return None
        text = self.camera.strip()
        return int(text) if text.lstrip("-").isdigit() else self.camera


@dataclass
class PredictRun:
    """What a job predicted: every row (the rows so far when ``interrupted``) and the
    recogniser that made them."""

    recognizer: Recognizer
    frames: Predictions
    interrupted: bool = False
    #: the inputs were sequences (folders of frames): the summary gives the peak too
    sequence: bool = False

    @property
    def labels(self) -> list[str]:
        return self.recognizer.labels

    @cached_property
    def summary(self) -> pd.DataFrame:
        """One row per input (:func:`~pathfer.use.predict.results.summarize`)."""
        return summarize(self.frames, self.labels, peak=self.sequence)


def check_options(options: PredictOptions) -> None:
    """Refuse a job with nothing to do, or with an output that cannot be written (before
    the model is loaded or a frame is read)."""
    if not options.inputs and not options.live:
        raise ValueError("nothing to predict: give INPUT files or folders, or --camera 0")
    if options.inputs and options.live:
        raise ValueError("give INPUT files or --camera, not both")
    if isinstance(options.camera_source, int):
        check_camera(options.camera_source)
    if options.sequence:
        if options.live:
            raise ValueError("--sequence reads folders of frames, not a camera")
        files = [x for x in options.inputs if not Path(x).is_dir()]
        if files:
            raise ValueError(
                f"{files[0]}: --sequence takes folders, each holding one sequence's frames"
            )
    for path, what in ((options.out, "results"), (options.summary, "summary")):
        if path is not None:
            check_writable(check_format(path, what))
    if options.timeline is not None:
        if options.timeline.suffix.lower() != ".png":
            raise ValueError(f"{options.timeline}: the timeline is a PNG; name it with .png")
        check_writable(options.timeline)
    if options.annotate is not None:
        annotate = options.annotate
        check_writable(annotate, folder=annotate.suffix == "" or annotate.is_dir())


def load_recognizer(options: PredictOptions) -> Recognizer:
    """The model of ``options`` with its detector: a bundle (the built-in one by default),
    or a task of a multi-task model file (``options.task``, or a model file named)."""
    from pathfer.use.model_file import BUILTIN, is_model_file

    kw = {
        "threads": options.threads or None,
        "device": options.device,
        "detector": options.detector,
        "track": options.track,
        "max_pixels": options.max_pixels,
    }
    if options.task is None and not is_model_file(options.model):
        return Recognizer.from_bundle(options.model, **kw)
    if options.model is not None and not is_model_file(options.model):
        raise ValueError(
            f"{options.model}: --task needs a multi-task model file (pathfer learn) or "
            "builtin; a bundle has one task"
        )
    return Recognizer.from_model(options.model or BUILTIN, task=options.task, **kw)


def detector_line(rec: Recognizer) -> str:
    """One line saying which face detector finds the faces, and why."""
    used, trained = rec.detector.name, rec.training_detector
    if used == WHOLE_IMAGE:
        return "face detector: none (each image is the face crop: no detection, no margin)"
    best = PREFERRED if yunet_available() else FALLBACK
    why = "the best installed" if used == best else "as asked"
    if trained not in (used, WHOLE_IMAGE):
        why += f"; the model's training crops came from {trained}"
    return f"face detector: {used} ({why})"


def no_face_hint(rec: Recognizer, frames: pd.DataFrame) -> str | None:
    """What to do when Haar found no face somewhere while YuNet is not installed."""
    if rec.detector.name != FALLBACK or yunet_available() or frames.empty:
        return None
    missed = frames.loc[~frames["face"].astype(bool), ["file", "frame"]].drop_duplicates()
    if missed.empty:
        return None
    return (
        f"no face found in {len(missed)} frame(s) with the Haar detector (frontal, upright "
        "faces only); YuNet finds more: pip install yuface (CPython <= 3.11, x86_64)"
    )


def run_predict(
    rec: Recognizer,
    options: PredictOptions,
    on_skip: Callable[[str, str], None] | None = None,
    rows_out: TextIO | None = None,
) -> PredictRun:
    """Predict over the inputs (or the camera). Ctrl-C keeps the rows done
    (``interrupted``). A camera without a display writes its rows as CSV to ``rows_out``
    (default: standard output) as frames arrive."""
    try:
        if options.live:
            frames = _live(rec, options, rows_out)
        elif options.sequence:
            frames = _sequences(rec, options, on_skip)
        else:
            frames = rec.predict_paths(
                list(options.inputs),
                every=options.every,
                all_faces=options.all_faces,
                batch_size=options.batch_size,
                annotate=options.annotate,
                workers=options.workers,
                progress=options.progress,
                on_skip=on_skip,
            )
    except PredictInterrupted as exc:
        return PredictRun(rec, exc.partial, interrupted=True, sequence=options.sequence)
    return PredictRun(rec, frames, sequence=options.sequence)


def _sequences(
    rec: Recognizer, options: PredictOptions, on_skip: Callable[[str, str], None] | None
) -> Predictions:
    """Each input folder as one sequence of frames (:meth:`Recognizer.predict_sequence`).

    An unreadable frame is skipped (reported through ``on_skip``) and its sequence kept; a
    folder with no readable frame is skipped; when every folder is, the first one's message
    is the error."""
    parts: list[Predictions] = []
    failed: list[tuple[str, VideoError]] = []
    for folder in options.inputs:
        try:
            parts.append(
                rec.predict_sequence(
                    folder,
                    all_faces=options.all_faces,
                    batch_size=options.batch_size,
                    on_skip=on_skip,
                )
            )
        except VideoError as exc:
            failed.append((folder, exc))
    if not parts:  # the first folder's reason is the error, the others are reported
        failed, first = failed[1:], failed[0][1]
    skipped = []
    for folder, exc in failed:
        reason = skip_reason(exc, Path(folder))
        skipped.append((folder, reason))
        if on_skip is not None:
            on_skip(folder, reason)
        else:
            warnings.warn(f"{folder}: {reason}; skipped", PredictWarning, stacklevel=3)
    if not parts:
        raise first
    skipped += [s for part in parts for s in part.attrs.get("skipped", [])]
    out = Predictions(pd.concat(parts, ignore_index=True))
    out.attrs = {"labels": list(rec.labels), "skipped": skipped}
    return out


def _live(rec: Recognizer, options: PredictOptions, rows_out: TextIO | None) -> Predictions:
    from pathfer.use.predict.live import CsvRows, has_display, run_live

    window = has_display()
    rows = None if window else CsvRows(rows_out or sys.stdout)
    return run_live(
        rec,
        options.camera_source,
        every=options.every,
        all_faces=options.all_faces,
        window=window,
        on_rows=rows,
        max_frames=options.max_frames,
    )


def write_outputs(run: PredictRun, options: PredictOptions) -> list[str]:
    """Write the results the options ask for; one line per file written, saying what it
    holds."""
    written = []
    df = run.frames
    if options.out is not None:
        written.append(f"per-frame results ({len(df)} rows) -> {write_results(df, options.out)}")
    if options.summary is not None:
        summary = run.summary
        written.append(
            f"summary ({len(summary)} rows) -> {write_results(summary, options.summary)}"
        )
    if options.timeline is not None and not df.empty:
        df.plot_timeline(options.timeline)
        written.append(f"timeline -> {options.timeline}")
    return written
