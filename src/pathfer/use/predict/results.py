"""Result frames: their columns, the :class:`Predictions` DataFrame, a per-file summary, and
writing them to disk (atomically, through :mod:`pathfer.runtime.files`)."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pathfer.runtime.files import atomic_path
from pathfer.use.predict.columns import BASE_COLUMNS, landmark_columns, prob_columns

RESULT_FORMATS = (".csv", ".json", ".parquet")


class PredictWarning(UserWarning):
    """An input that was skipped (unreadable, missing, not media); names the file."""


class PredictInterrupted(KeyboardInterrupt):
    """Ctrl-C during prediction; ``partial`` holds the rows finished before it."""

    def __init__(self, partial: Predictions) -> None:
        super().__init__("interrupted")
        self.partial = partial


class Predictions(pd.DataFrame):
    """Per-frame (per-face) results: a pandas DataFrame with a few helpers, like py-feat's Fex.

    Columns: :data:`BASE_COLUMNS`, one probability column per label (:attr:`labels`), then
    ``top_emotion`` and ``top_prob``. Slices and copies stay :class:`Predictions`.
    """

    @property
    def _constructor(self) -> type[Predictions]:
        return Predictions

    @property
    def labels(self) -> list[str]:
        """The probability columns, in class order."""
        return prob_columns(self)

    def summary(self) -> pd.DataFrame:
        """One row per input: frames, face share, mean probabilities (see :func:`summarize`)."""
        return summarize(self)

    def to_file(self, path: str | Path) -> Path:
        """Write the rows as ``.csv``, ``.json`` (records) or ``.parquet``."""
        return write_results(self, path)

    def plot_timeline(self, path: str | Path | None = None, **kwargs: Any) -> Any:
        """Each emotion's probability over time, top emotion shaded (a matplotlib Figure);
        ``path`` also saves it as PNG. See :func:`pathfer.use.predict.timeline.plot_timeline`."""
        from pathfer.use.predict.timeline import plot_timeline

        return plot_timeline(self, path, **kwargs)


def to_predictions(
    meta_rows: list[tuple],
    probs: list[np.ndarray],
    labels: Sequence[str],
    landmarks: bool = False,
) -> Predictions:
    """A :class:`Predictions` frame from rows of :data:`BASE_COLUMNS` values (then the
    face's landmarks or None) and their probabilities (NaN rows for frames without a face).
    ``landmarks`` adds the five points' columns at the end (NaN where a face has none)."""
    labels = list(labels)
    n_base = len(BASE_COLUMNS)
    df = pd.DataFrame.from_records([m[:n_base] for m in meta_rows], columns=list(BASE_COLUMNS))
    df = df.astype(
        {
            "file": object,
            "frame": "int64",
            "time_s": "float64",
            "face_index": "Int64",
            "track_id": "Int64",
            "x": "Int64",
            "y": "Int64",
            "w": "Int64",
            "h": "Int64",
            "face_score": "float64",
            "face": bool,
        }
    )
    p = np.stack(probs) if probs else np.zeros((0, len(labels)), np.float32)
    p = p.astype(np.float64)
    for i, label in enumerate(labels):
        df[label] = p[:, i]
    has = df["face"].to_numpy(bool)
    top = np.argmax(np.nan_to_num(p, nan=-1.0), axis=1) if len(p) else np.zeros(0, int)
    names = np.asarray(labels, dtype=object)
    df["top_emotion"] = pd.Series(np.where(has, names[top] if len(p) else [], None), dtype=object)
    df["top_prob"] = np.where(has, p[np.arange(len(p)), top] if len(p) else [], np.nan)
    if landmarks:
        points = np.full((len(meta_rows), 10), np.nan)
        for i, m in enumerate(meta_rows):
            if len(m) > n_base and m[n_base] is not None:
                points[i] = np.asarray(m[n_base], np.float64).reshape(-1)[:10]
        for j, column in enumerate(landmark_columns()):
            df[column] = points[:, j]
    out = Predictions(df)
    out.attrs["labels"] = labels
    return out


#: the label a clip's "peak" score looks past: the frame furthest from it is the peak
NEUTRAL = "neutral"


def peak_row(main: pd.DataFrame, labels: Sequence[str]) -> tuple[int, str, float] | None:
    """The peak of a clip: ``(row position in main, emotion, its probability)``.

    Among the main face's rows, the frame whose highest probability over the labels other
    than ``neutral`` is the largest (the earliest on a tie): an onset-to-apex sequence is
    mostly neutral frames, and its apex is the frame furthest from neutral. Its emotion is
    that non-neutral label (all labels where there is no ``neutral``)."""
    others = [c for c in labels if c != NEUTRAL] or list(labels)
    if main.empty:
        return None
    p = main[others].to_numpy(np.float64)
    best = np.nanmax(p, axis=1)
    i = int(np.nanargmax(best))
    k = int(np.nanargmax(p[i]))
    return i, others[k], float(p[i, k])


def summarize(
    df: pd.DataFrame, labels: Sequence[str] | None = None, peak: bool = False
) -> pd.DataFrame:
    """One row per file: frames, frames with a face, face share, mean probabilities.

    Means are over the rows of the main (largest, ``face_index == 0``) face of each frame
    with a face; ``top_emotion`` is the argmax of those means (None if no face at all):
    the clip's "mean" score. ``peak`` adds its "peak" score (:func:`peak_row`):
    ``peak_frame``, ``peak_emotion``, ``peak_prob`` and the peak frame's probabilities as
    ``peak_<label>``.
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
    if peak:
        out = _with_peaks(df, out, labels)
    out.attrs["labels"] = labels
    return out


def _with_peaks(df: pd.DataFrame, out: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    frames, emotions, probs, rows = [], [], [], []
    for _, g in df.groupby("file", sort=False):
        main = g[g["face"].astype(bool) & (g["face_index"].fillna(-1) == 0)]
        found = peak_row(main, labels)
        if found is None:
            frames.append(pd.NA)
            emotions.append(None)
            probs.append(math.nan)
            rows.append([math.nan] * len(labels))
            continue
        i, emotion, prob = found
        frames.append(int(main["frame"].iloc[i]))
        emotions.append(emotion)
        probs.append(prob)
        rows.append(main[labels].iloc[i].astype(float).tolist())
    out = out.copy()
    out["peak_frame"] = pd.array(frames, dtype="Int64")
    out["peak_emotion"] = pd.Series(emotions, dtype=object, index=out.index)
    out["peak_prob"] = probs
    for j, label in enumerate(labels):
        out[f"peak_{label}"] = [r[j] for r in rows]
    return out


def check_format(path: str | Path, what: str = "results") -> Path:
    """``path`` if its extension is a result format, else a ValueError naming it."""
    path = Path(path)
    if path.suffix.lower() not in RESULT_FORMATS:
        raise ValueError(
            f"{path}: unknown {what} format {path.suffix or '(none)'}; use .csv, .json or .parquet"
        )
    return path


def check_writable(path: str | Path, folder: bool = False) -> Path:
    """``path`` if a file (``folder``: files inside a folder) can be written there; else a
    ValueError naming the folder. Run before any work, so a bad ``--out`` fails at once."""
    path = Path(path)
    if not folder and path.is_dir():
        raise ValueError(f"{path}: is a folder; give a file name")
    if folder and path.exists() and not path.is_dir():
        raise ValueError(f"{path}: is a file; give a folder")
    where = path if folder else path.parent
    while not where.exists() and where != where.parent:
        where = where.parent  # the nearest folder that exists: the rest will be created
    if not where.is_dir():
        raise ValueError(f"{path}: cannot write here: {where} is a file, not a folder")
    try:  # a real probe: permission bits say nothing for root or on read-only mounts
        fd, probe = tempfile.mkstemp(dir=where, prefix=".pathfer-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(
            f"{path}: cannot write in {where} ({exc.strerror or exc}); choose another folder"
        ) from None
    return path


def write_results(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a result (or summary) frame as ``.csv``, ``.json`` (records) or ``.parquet``.

    The file appears whole or not at all (written beside it, then renamed).
    """
    path = check_format(path)
    suffix = path.suffix.lower()
    plain = pd.DataFrame(df)
    plain.attrs = {}
    with atomic_path(path, suffix) as tmp:
        if suffix == ".csv":
            plain.to_csv(tmp, index=False)
        elif suffix == ".json":
            plain.to_json(tmp, orient="records", indent=1)
        else:
            plain.to_parquet(tmp, index=False)
    return path
