"""Result frames: their probability columns, a per-file summary, and writing them to disk."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pathfer.data.emotions import CANONICAL_EMOTIONS

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


class PredictWarning(UserWarning):
    """An input that was skipped (unreadable, missing, not media); names the file."""


RESULT_FORMATS = (".csv", ".json", ".parquet")


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
