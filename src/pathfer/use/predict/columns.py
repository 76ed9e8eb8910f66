"""The columns of a result frame: the fixed ones, then one probability column per label."""

from __future__ import annotations

import pandas as pd

from pathfer.data.emotions import CANONICAL_EMOTIONS

BASE_COLUMNS: tuple[str, ...] = (
    "file",
    "frame",
    "time_s",
    "face_index",
    "track_id",
    "x",
    "y",
    "w",
    "h",
    "face_score",
    "face",
)

#: positions in a row's meta tuple (:data:`BASE_COLUMNS` order, then the landmarks or None)
FACE_INDEX, TRACK_ID, BOX, FACE = 3, 4, slice(5, 9), BASE_COLUMNS.index("face")
LANDMARKS_AT = len(BASE_COLUMNS)


def landmark_columns() -> list[str]:
    """``right_eye_x, right_eye_y, ...``: the five landmarks' columns, in
    :data:`~pathfer.data.faces.LANDMARKS` order (added when the detector gives them)."""
    from pathfer.data.faces import LANDMARKS

    return [f"{name}_{axis}" for name in LANDMARKS for axis in ("x", "y")]


def prob_columns(df: pd.DataFrame) -> list[str]:
    """The per-label probability columns of a result frame (in class order)."""
    labels = df.attrs.get("labels")
    if labels:
        return [c for c in labels if c in df.columns]
    start = list(df.columns).index("face") + 1 if "face" in df.columns else 0
    stop = list(df.columns).index("top_emotion") if "top_emotion" in df.columns else None
    cols = list(df.columns)[start:stop]
    return [c for c in cols if c in CANONICAL_EMOTIONS] or cols
