"""Many inputs at once: files, folders and globs -> one result frame; unreadable inputs are
skipped with a reason naming the file. ``workers`` > 1 reads several files at once, each in
its own process; Ctrl-C keeps what is finished (:class:`PredictInterrupted`)."""

from __future__ import annotations

import glob
import multiprocessing
import os
import pickle
import signal
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import cv2
import pandas as pd

from pathfer.data.video import VideoError, is_image, is_media, probe
from pathfer.use.predict.progress import Advance, frame_progress
from pathfer.use.predict.results import PredictInterrupted, Predictions, PredictWarning


def expand_inputs(inputs: Iterable[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files named by ``inputs`` (files, folders searched recursively for media, globs).

    Returns ``(files, problems)`` where ``problems`` lists ``(input, reason)`` for inputs
    that name nothing usable. Order is preserved and duplicates dropped. A single string
    or path counts as one input.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
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


def annotation_targets(annotate: Path, files: list[Path], several: bool) -> list[Path]:
    """Where each file's annotated copy goes: ``annotate`` itself for a single input,
    else ``annotate/<stem>.annotated.mp4`` (``.png`` for images), numbered when stems repeat."""
    folder_mode = several or annotate.is_dir() or annotate.suffix == ""
    if not folder_mode:
        return [annotate] * len(files)
    if annotate.suffix and not annotate.is_dir():
        raise ValueError(f"{annotate}: with several inputs --annotate must be a folder, not a file")
    used: set[Path] = set()
    out = []
    for file in files:
        ext = ".png" if is_image(file) else ".mp4"
        target = annotate / f"{file.stem}.annotated{ext}"
        n = 1
        while target in used:
            target = annotate / f"{file.stem}.annotated-{n}{ext}"
            n += 1
        used.add(target)
        out.append(target)
    return out


def frames_in(path: str | Path, every: int = 1) -> int | None:
    """Frames ``predict`` will analyse in a file (None if it cannot tell)."""
    if is_image(path):  # one, read from nothing: probing would decode the whole image
        return 1
    try:
        return -(-probe(path).n_frames // every)
    except VideoError:
        return None


def skip_reason(exc: BaseException, file: Path) -> str:
    """Why ``file`` was skipped: the error's message without the file name it starts with."""
    msg = str(exc)
    reason = msg.split(": ", 1)[1] if msg.startswith(str(file)) else msg
    return reason.strip() or type(exc).__name__


def run_paths(
    rec: Any,
    inputs: Iterable[str | Path],
    *,
    every: int = 1,
    all_faces: bool = False,
    batch_size: int = 64,
    annotate: str | Path | None = None,
    workers: int = 1,
    progress: Any = False,
    on_skip: Callable[[str, str], None] | None = None,
) -> Predictions:
    """``rec`` (a :class:`~pathfer.use.predict.Recognizer`) over many files; see
    :func:`~pathfer.use.predict.predict_paths`."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, not {workers}")
    files, problems = expand_inputs(inputs)
    skipped: list[tuple[str, str]] = []

    def skip(item: str, reason: str) -> None:
        skipped.append((item, reason))
        if on_skip is not None:
            on_skip(item, reason)
        else:
            warnings.warn(f"{item}: {reason}; skipped", PredictWarning, stacklevel=4)

    for item, reason in problems:
        skip(item, reason)
    several = len(files) + len(problems) > 1
    targets: list[Path | None] = [None] * len(files)
    if annotate is not None:
        targets = list(annotation_targets(Path(annotate), files, several))
    jobs = [(f, every, all_faces, batch_size, t) for f, t in zip(files, targets, strict=True)]
    results: dict[int, pd.DataFrame] = {}

    def finish(interrupted: bool = False) -> Predictions:
        frames = [results[i] for i in sorted(results)]
        out = Predictions(pd.concat(frames, ignore_index=True)) if frames else rec.empty_result()
        annotated = [p for df in frames for p in df.attrs.get("annotated", [])]
        notes = [n for df in frames for n in df.attrs.get("notes", [])]
        if on_skip is None:
            for note in notes:
                warnings.warn(f"{note}; the frames read are kept", PredictWarning, stacklevel=4)
        out.attrs = {
            "labels": list(rec.labels),
            "skipped": skipped,
            "annotated": annotated,
            "notes": notes,
            "interrupted": interrupted,
        }
        return out

    total = None
    if progress is not False and progress is not None:
        counts = [frames_in(f, every) for f in files]
        total = None if any(c is None for c in counts) else sum(c or 0 for c in counts)
    try:
        with frame_progress(total, progress, description="predict") as advance:
            if workers > 1 and len(jobs) > 1:
                _run_pool(rec, jobs, min(workers, len(jobs)), results, skip, advance)
            else:
                for i, (f, *job) in enumerate(jobs):
                    try:
                        results[i] = rec._predict_file(f, *job, advance)
                    except PredictInterrupted as exc:
                        results[i] = exc.partial
                        raise
                    except (VideoError, cv2.error, OSError) as exc:
                        skip(str(f), skip_reason(exc, f))
    except KeyboardInterrupt:
        raise PredictInterrupted(finish(interrupted=True)) from None
    return finish()


# ----------------------------------------------------------------------------- workers

_WORKER: dict[str, Any] = {}


def _init_worker(rec: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    cv2.setNumThreads(1)  # parallelism comes from the processes
    _WORKER["rec"] = rec


def _file_job(job: tuple) -> tuple[str, Any]:
    path, *rest = job
    try:
        return "ok", _WORKER["rec"]._predict_file(path, *rest)
    except (VideoError, cv2.error, OSError) as exc:
        return "skip", skip_reason(exc, path)


def _run_pool(
    rec: Any,
    jobs: list[tuple],
    workers: int,
    results: dict[int, pd.DataFrame],
    skip: Callable[[str, str], None],
    advance: Advance,
) -> None:
    """Run file jobs on ``workers`` processes; fill ``results`` as they finish.

    Workers start from a clean process (forkserver, else spawn: forking a process that ran
    OpenCV's or torch's thread pools can deadlock). On Ctrl-C the finished files are kept and
    the workers are stopped.
    """
    try:
        pickle.dumps(rec)
    except (TypeError, pickle.PicklingError, AttributeError) as exc:
        raise ValueError(
            f"workers > 1 sends the recogniser to other processes, and it cannot be pickled "
            f"({exc}); give the detector by name (detector='haar'), or use workers=1"
        ) from None
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":  # import torch once, fork the workers from it
        ctx.set_forkserver_preload(["pathfer.use.predict"])
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(rec,))
    pending: dict[Future, int] = {pool.submit(_file_job, job): i for i, job in enumerate(jobs)}
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                status, value = fut.result()
                if status == "ok":
                    results[i] = value
                    advance(int(value["frame"].nunique()))
                else:
                    skip(str(jobs[i][0]), value)
    except BaseException:
        for fut in pending:
            fut.cancel()
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
