"""Report figures rendered off-screen (Agg) to PNG bytes; no pyplot global state."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pathfer.study.report.metrics import curve_points

BAR_METRICS = (
    ("clip_acc", "clip acc"),
    ("clip_uar", "clip UAR"),
    ("frame_acc", "frame acc"),
    ("frame_uar", "frame UAR"),
)


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def bar_chart(summary: pd.DataFrame) -> bytes:
    """Grouped bars: one group per method, mean with sample-std error bars per metric."""
    metrics = [(m, name) for m, name in BAR_METRICS if f"{m}_mean" in summary]
    methods = list(summary["method"])
    x = np.arange(len(methods))
    width = 0.8 / max(len(metrics), 1)
    fig = Figure(figsize=(max(6.0, 1.3 * len(methods) + 2), 4.0))
    ax = fig.add_subplot()
    for i, ((m, name), color) in enumerate(zip(metrics, _colors(len(metrics)), strict=True)):
        mean = summary[f"{m}_mean"].to_numpy(float)
        std = np.nan_to_num(summary[f"{m}_std"].to_numpy(float))
        ax.bar(
            x + (i - (len(metrics) - 1) / 2) * width,
            mean,
            width,
            yerr=std,
            capsize=3,
            label=name,
            color=color,
        )
    ax.set_xticks(x)
    ax.set_xticklabels(
        [f"{m}\n(n={n})" for m, n in zip(methods, summary["n"], strict=True)], fontsize=8
    )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (mean ± sample std over runs)")
    ax.legend(fontsize=8, ncols=len(metrics), loc="upper center", bbox_to_anchor=(0.5, 1.12))
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def confusion_grid(matrices: Mapping[str, tuple[np.ndarray, Sequence[str], int]]) -> bytes:
    """One panel per method: ``{method: (counts, labels, n_runs)}``, colour = row-normalised."""
    n = len(matrices)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.3 * cols, 4.0 * rows))
    for i, (method, (cm, labels, n_runs)) in enumerate(matrices.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        support = cm.sum(axis=1, keepdims=True)
        norm = np.divide(cm, support, out=np.zeros(cm.shape, float), where=support > 0)
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        k = len(labels)
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
        ax.set_title(f"{method} (clips, {n_runs} runs)", fontsize=9)
        if k <= 12:
            for r in range(k):
                for c in range(k):
                    ax.text(
                        c,
                        r,
                        str(int(cm[r, c])),
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if norm[r, c] > 0.5 else "black",
                    )
    fig.tight_layout()
    return _png(fig)


def learning_curves(curves: Mapping[str, list[list[dict[str, Any]]]], key: str | None) -> bytes:
    """Accuracy versus wall-clock time, one colour per method, one line per run."""
    fig = Figure(figsize=(7.0, 4.0))
    ax = fig.add_subplot()
    for (method, runs), color in zip(curves.items(), _colors(len(curves)), strict=True):
        for j, curve in enumerate(runs):
            t, a = curve_points(curve, key)
            ax.plot(
                t,
                a,
                color=color,
                alpha=0.6,
                lw=1,
                marker=".",
                ms=3,
                label=f"{method} ({len(runs)} runs)" if j == 0 else None,
            )
    ax.set_xlabel("wall-clock time (s)")
    ax.set_ylabel(key or "accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def evolution_curves(histories: Mapping[str, list[list[dict[str, Any]]]]) -> bytes:
    """Per method: each numeric history field versus generation, one line per run."""
    n = len(histories)
    fig = Figure(figsize=(6.0, 3.2 * n))
    for i, (method, runs) in enumerate(histories.items()):
        ax = fig.add_subplot(n, 1, i + 1)
        fields: list[str] = []
        for hist in runs:
            for point in hist:
                for k, v in point.items():
                    if (
                        k not in ("generation", "gen", "step")
                        and k not in fields
                        and isinstance(v, (int, float))
                        and not isinstance(v, bool)
                    ):
                        fields.append(k)
        for field, color in zip(fields[:6], _colors(len(fields[:6])), strict=True):
            for j, hist in enumerate(runs):
                xs = [
                    p.get("generation", p.get("gen", p.get("step", idx)))
                    for idx, p in enumerate(hist)
                    if field in p
                ]
                ys = [p[field] for p in hist if field in p]
                ax.plot(xs, ys, color=color, alpha=0.6, lw=1, label=field if j == 0 else None)
        ax.set_title(f"{method} ({len(runs)} runs)", fontsize=9)
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
        if fields:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)
