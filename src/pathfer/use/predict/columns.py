"""The columns of a result frame: the fixed ones, then one probability column per label."""

from __future__ import annotations

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
    "face_score",
    "face",
)


def prob_columns(df: pd.DataFrame) -> list[str]:
    """The per-label probability columns of a result frame (in class order)."""
    labels = df.attrs.get("labels")
    if labels:
        return [c for c in labels if c in df.columns]
    start = list(df.columns).index("face") + 1 if "face" in df.columns else 0
    stop = list(df.columns).index("top_emotion") if "top_emotion" in df.columns else None
    cols = list(df.columns)[start:stop]
    return [c for c in cols if c in CANONICAL_EMOTIONS] or cols
