"""Many inputs at once: files, folders and globs -> one result frame; unreadable inputs are
skipped with a reason naming the file."""

from __future__ import annotations

import glob
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import pandas as pd

from pathfer.data.video import VideoError, is_image, is_media
from pathfer.use.predict.recognizer import Recognizer
from pathfer.use.predict.results import PredictWarning


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
