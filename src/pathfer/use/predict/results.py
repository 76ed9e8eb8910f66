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
from pathfer.use.predict.columns import BASE_COLUMNS, prob_columns

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
    meta_rows: list[tuple], probs: list[np.ndarray], labels: Sequence[str]
) -> Predictions:
    """A :class:`Predictions` frame from rows of :data:`BASE_COLUMNS` values and their
    probabilities (NaN rows for frames without a face)."""
    labels = list(labels)
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
    out = Predictions(df)
    out.attrs["labels"] = labels
    return out


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
