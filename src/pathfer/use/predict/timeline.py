"""Emotions over time: each label's probability as a line, the top emotion shaded behind.

One panel per input file (the main face of each frame); frames without a face are left
blank (gaps in the lines, hatched grey behind). Rendered off-screen (Agg), no pyplot state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from pathfer.runtime.files import atomic_path
from pathfer.use.predict.columns import prob_columns

#: one colour per emotion, the same in every plot
EMOTION_COLOURS = {
    "anger": "#d62728",
    "disgust": "#6b8e23",
    "fear": "#9467bd",
    "happiness": "#e6a800",
    "sadness": "#1f77b4",
    "surprise": "#17becf",
    "neutral": "#7f7f7f",
    "calm": "#2ca02c",
    "contempt": "#e377c2",
}
_SPARE = ["#8c564b", "#bcbd22", "#ff7f0e", "#393b79", "#637939"]


def colour_of(label: str, i: int = 0) -> str:
    return EMOTION_COLOURS.get(label, _SPARE[i % len(_SPARE)])


def _main_rows(g: pd.DataFrame) -> pd.DataFrame:
    """One row per frame: its main face, or its no-face row."""
    main = g[~g["face"].astype(bool) | (g["face_index"].fillna(0) == 0)]
    return main.drop_duplicates("frame").sort_values("frame")


def plot_timeline(
    df: pd.DataFrame,
    path: str | Path | None = None,
    *,
    file: str | None = None,
    max_files: int = 6,
    width: float = 11.0,
    dpi: int = 110,
) -> Figure:
    """A figure of each emotion's probability over time, the top emotion shaded.

    ``file`` picks one input of a multi-file result (default: up to ``max_files`` panels,
    one per input). ``path`` also saves it as PNG (atomically).
    """
    labels = prob_columns(df)
    if df.empty or not labels:
        raise ValueError("no rows to plot: the result is empty")
    files = list(dict.fromkeys(df["file"]))
    if file is not None:
        if file not in files:
            raise ValueError(f"{file!r} is not in the results; files: {', '.join(files[:5])}")
        files = [file]
    shown = files[:max_files]
    fig = Figure(figsize=(width, 2.6 * len(shown) + 0.6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(shown), 1, squeeze=False)[:, 0]
    for ax, name in zip(axes, shown, strict=True):
        _panel(ax, _main_rows(df[df["file"] == name]), labels, name)
    handles = [
        Patch(facecolor=colour_of(lab, i), alpha=0.85, label=lab) for i, lab in enumerate(labels)
    ]
    handles.append(Patch(facecolor="white", edgecolor="#999999", hatch="///", label="no face"))
    fig.legend(
        handles=handles,
        loc="outside right upper",
        title="emotion\n(line: probability,\nshade: top emotion)",
        fontsize=9,
        title_fontsize=9,
        frameon=False,
    )
    if len(files) > len(shown):
        fig.suptitle(f"first {len(shown)} of {len(files)} inputs", fontsize=9, x=0.01, ha="left")
    if path is not None:
        path = Path(path)
        with atomic_path(path, ".png") as tmp:
            fig.savefig(tmp, format="png")
    return fig


def _panel(ax: Any, rows: pd.DataFrame, labels: list[str], name: str) -> None:
    t = rows["time_s"].to_numpy(float)
    timed = len(t) > 0 and np.isfinite(t).all()
    x = t if timed else rows["frame"].to_numpy(float)
    probs = rows[labels].to_numpy(float)
    face = rows["face"].to_numpy(bool)
    top = rows["top_emotion"].to_numpy(object)
    edges = _edges(x)
    for i, lab in enumerate(labels):
        spans = _spans(top == lab, edges)
        if spans:
            ax.broken_barh(spans, (0, 1), facecolors=colour_of(lab, i), alpha=0.2, linewidth=0)
    spans = _spans(~face, edges)
    if spans:
        ax.broken_barh(
            spans, (0, 1), facecolors="none", edgecolors="#b0b0b0", hatch="///", linewidth=0
        )
    marker = "o" if len(x) <= 30 else None
    for i, lab in enumerate(labels):
        ax.plot(x, probs[:, i], color=colour_of(lab, i), lw=1.5, marker=marker, ms=3)
    ax.set_ylim(0, 1)
    if len(x) > 1:
        ax.set_xlim(x.min(), x.max())
    ax.set_ylabel("probability")
    ax.set_xlabel("time (s)" if timed else "frame")
    ax.set_title(Path(str(name)).name, fontsize=10, loc="left")
    ax.grid(axis="y", alpha=0.3)


def _edges(x: np.ndarray) -> np.ndarray:
    """Where each sample's stretch of the time axis starts and ends (half-way to the
    neighbours; the first and last start and end at their own sample)."""
    if len(x) == 1:
        return np.array([x[0] - 0.5, x[0] + 0.5])
    return np.concatenate([[x[0]], (x[1:] + x[:-1]) / 2.0, [x[-1]]])


def _spans(mask: np.ndarray, edges: np.ndarray) -> list[tuple[float, float]]:
    """``(start, width)`` of each run of True samples, for ``broken_barh``."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    change = np.flatnonzero(padded[1:] != padded[:-1])
    return [(edges[a], edges[b] - edges[a]) for a, b in zip(change[::2], change[1::2], strict=True)]
