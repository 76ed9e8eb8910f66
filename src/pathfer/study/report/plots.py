"""Report figures rendered off-screen (Agg) to PNG bytes; no pyplot global state.

Every figure is sized for the HTML report's 1,100-pixel column at 100 % zoom (at most
10.5 inches at 100 dpi) with text of at least 9 points, and shows one panel per
experiment, whose methods are named without their run prefix.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from pathfer.study.report.curves import curve_points

BAR_METRICS = (
    ("clip_acc", "clip accuracy"),
    ("clip_peak_acc", "peak clip accuracy"),
    ("clip_uar", "clip UAR"),
    ("clip_peak_uar", "peak clip UAR"),
    ("frame_acc", "frame accuracy"),
    ("frame_uar", "frame UAR"),
)
#: evolution history fields: fitness (a validation accuracy, 0-1) and counts (0-modules)
FITNESS_FIELDS = (("best_fitness", "best path"), ("mean_fitness", "population mean"))
COUNT_FIELDS = (
    ("diversity", "distinct paths in the population"),
    ("frozen_reused", "frozen modules on the best path"),
)
MAX_WIDTH_IN = 10.5
FONT = 10


@dataclass(frozen=True)
class Panel:
    """One experiment's data for a figure: its title and what to draw."""

    title: str
    data: Any
    chance: float | None = None  # accuracy of always guessing (1 / classes), if known


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _colors(n: int) -> list:
    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = max(1, min(max_cols, n))
    return math.ceil(n / cols), cols


def methods_figure(panels: Sequence[Panel], shown: Sequence[str] | None = None) -> bytes:
    """Mean ± sample std of each metric per method: horizontal bars, one panel per
    experiment (``Panel.data`` is its summary table with a ``label`` column); ``shown``:
    the metrics drawn (default: every one of ``BAR_METRICS`` the tables hold)."""
    rows, cols = _grid(len(panels), 2)
    n_methods = max(len(p.data) for p in panels)
    height = 0.75 + 0.62 * n_methods
    fig = Figure(figsize=(MAX_WIDTH_IN if cols > 1 else 7.0, height * rows + 0.6))
    metrics = [
        (m, name)
        for m, name in BAR_METRICS
        if f"{m}_mean" in panels[0].data and (shown is None or m in shown)
    ]
    colors = _colors(len(metrics))
    width = 0.8 / max(len(metrics), 1)
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        summary = panel.data
        y = np.arange(len(summary))
        for j, ((m, name), color) in enumerate(zip(metrics, colors, strict=True)):
            mean = summary[f"{m}_mean"].to_numpy(float)
            std = np.nan_to_num(summary[f"{m}_std"].to_numpy(float))
            offset = (j - (len(metrics) - 1) / 2) * width
            ax.barh(y + offset, mean, width, xerr=std, capsize=2, color=color, label=name)
        ax.set_yticks(y)
        ax.set_yticklabels(
            [f"{m} (n={n})" for m, n in zip(summary["label"], summary["n"], strict=True)],
            fontsize=FONT,
        )
        ax.invert_yaxis()  # first method on top, as in the tables
        ax.set_xlim(0, 1)
        ax.set_xlabel("score (mean ± sample std over runs)", fontsize=FONT)
        ax.set_title(panel.title, fontsize=FONT + 1)
        ax.tick_params(axis="x", labelsize=FONT - 1)
        ax.grid(axis="x", alpha=0.3)
        if panel.chance is not None:
            ax.axvline(panel.chance, color="0.3", ls="--", lw=1, label="chance (1 / classes)")
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncols=len(labels), fontsize=FONT)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / (height * rows + 0.6)))
    return _png(fig)


def confusion_figure(matrices: Mapping[str, tuple[np.ndarray, Sequence[str], int]]) -> bytes:
    """One panel per method of one experiment: ``{label: (counts, class names, n_runs)}``;
    colour is the row-normalised recall, numbers are clip counts."""
    rows, cols = _grid(len(matrices), 3)
    side = min(3.5, MAX_WIDTH_IN / cols)
    fig = Figure(figsize=(side * cols, (side + 0.1) * rows))
    for i, (label, (cm, names, n_runs)) in enumerate(matrices.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        support = cm.sum(axis=1, keepdims=True)
        norm = np.divide(cm, support, out=np.zeros(cm.shape, float), where=support > 0)
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        k = len(names)
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=FONT - 1)
        ax.set_yticklabels(names, fontsize=FONT - 1)
        ax.set_xlabel("predicted", fontsize=FONT - 1)
        ax.set_ylabel("true", fontsize=FONT - 1)
        ax.set_title(f"{label} ({n_runs} runs)", fontsize=FONT)
        if k <= 10:
            for r in range(k):
                for c in range(k):
                    ax.text(
                        c,
                        r,
                        str(int(cm[r, c])),
                        ha="center",
                        va="center",
                        fontsize=FONT - 1,
                        color="white" if norm[r, c] > 0.5 else "black",
                    )
    fig.tight_layout()
    return _png(fig)


def learning_curves_figure(panels: Sequence[Panel], key: str | None) -> bytes:
    """Accuracy versus wall-clock time: one panel per experiment (``Panel.data`` is
    ``{method label: [curve, ...]}``), one colour per method, one line per run."""
    rows, cols = _grid(len(panels), 2)
    fig = Figure(figsize=(MAX_WIDTH_IN if cols > 1 else 7.0, 3.8 * rows + 0.8))
    methods = list(dict.fromkeys(m for p in panels for m in p.data))
    color = dict(zip(methods, _colors(len(methods)), strict=True))
    legend: dict[str, Any] = {}
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        for label, runs in panel.data.items():
            for curve in runs:
                t, a = curve_points(curve, key)
                (line,) = ax.plot(t, a, color=color[label], alpha=0.7, lw=1.2, marker=".", ms=3)
                legend.setdefault(label, line)
        if panel.chance is not None:
            legend.setdefault(
                "chance (1 / classes)", ax.axhline(panel.chance, color="0.3", ls="--", lw=1)
            )
        ax.set_xlabel("wall-clock training time (s)", fontsize=FONT)
        ax.set_ylabel(f"accuracy ({key})" if key else "accuracy", fontsize=FONT)
        ax.set_ylim(0, 1.02)
        ax.set_title(panel.title, fontsize=FONT + 1)
        ax.tick_params(labelsize=FONT - 1)
        ax.grid(alpha=0.3)
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncols=4, fontsize=FONT - 1)
    n_legend_rows = math.ceil(len(legend) / 4)
    fig.tight_layout(rect=(0, 0.06 * n_legend_rows / rows, 1, 1))
    return _png(fig)


def evolution_figure(runs: Mapping[str, list[Mapping[str, Any]]], title: str) -> bytes:
    """One PathNet method's evolution, ``{run label: history}``: fitness (0-1) on the
    top axis, the population's distinct paths and the frozen modules its best path
    reuses on the bottom axis (counts), per tournament; one line style per run. The
    legend sits below the axes, clear of the lines."""
    fig = Figure(figsize=(4.6, 5.6))
    ax_fit, ax_count = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    styles = ["-", "--", ":", "-."]
    handles = []
    colors = iter(_colors(len(FITNESS_FIELDS) + len(COUNT_FIELDS)))
    for ax, fields in ((ax_fit, FITNESS_FIELDS), (ax_count, COUNT_FIELDS)):
        for field, name in fields:
            color = next(colors)
            for j, hist in enumerate(runs.values()):
                pts = [(p["generation"], p[field]) for p in hist if field in p]
                if pts:
                    xs, ys = zip(*pts, strict=True)
                    style = styles[j % len(styles)]
                    ax.plot(xs, ys, color=color, ls=style, lw=1.3, alpha=0.85)
            handles.append(Line2D([], [], color=color, lw=1.5, label=name))
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=FONT - 1)
    ax_fit.set_ylim(0, 1.02)
    ax_fit.set_ylabel("fitness (val. accuracy)", fontsize=FONT - 1)
    ax_count.set_ylabel("count", fontsize=FONT - 1)
    ax_count.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_count.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_count.set_xlabel("generation (tournament)", fontsize=FONT - 1)
    ax_fit.set_title(title, fontsize=FONT)
    if len(runs) > 1:
        handles += [
            Line2D([], [], color="0.35", ls=styles[j % len(styles)], label=run)
            for j, run in enumerate(runs)
        ]
    fig.legend(handles=handles, loc="lower center", ncols=2, fontsize=FONT - 2)
    legend_rows = math.ceil(len(handles) / 2)
    fig.tight_layout(rect=(0, 0.035 * legend_rows + 0.01, 1, 1))
    return _png(fig)


def chance_level(records: Sequence[Mapping[str, Any]]) -> float | None:
    """1 / number of classes when every record has the same classes, else None."""
    sizes = {len(r.get("labels") or ()) for r in records}
    return 1.0 / sizes.pop() if len(sizes) == 1 and 0 not in sizes else None


def labels_frame(summary: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """``summary`` with a ``label`` column (the method name as shown in a panel)."""
    return summary.assign(label=list(labels))


#: one marker per method beside its colour, so lines stay apart in grey print too
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")


def subjects_figure(panels: Sequence[Panel], metric_name: str) -> bytes:
    """Accuracy against the number of target training subjects: one panel per experiment
    (``Panel.data`` is its :class:`~.sizes.Sizes`), one line per method (colour and
    marker), a 95 % band over folds where it has one; x on a log2 scale, the full fold
    ('all') at the right. The legend sits below the panels, clear of the lines."""
    rows, cols = _grid(len(panels), 2)
    methods = list(dict.fromkeys(m for p in panels for m in p.data.points["method"]))
    n_entries = len(methods) + any(p.data.chance is not None for p in panels)
    ncols = min(4, max(1, n_entries))
    legend_in = 0.22 * math.ceil(n_entries / ncols) + 0.1
    height = 4.2 * rows + legend_in
    fig = Figure(figsize=(MAX_WIDTH_IN if cols > 1 else 7.5, height))
    color = dict(zip(methods, _colors(len(methods)), strict=True))
    marker = {m: MARKERS[i % len(MARKERS)] for i, m in enumerate(methods)}
    legend: dict[str, Any] = {}
    for i, panel in enumerate(panels):
        sz = panel.data
        ax = fig.add_subplot(rows, cols, i + 1)
        for method, pts in sz.points.groupby("method", sort=False):
            pts = pts.sort_values("x")
            x, mean = pts["x"].to_numpy(float), pts["mean"].to_numpy(float)
            lo, hi = pts["ci_low"].to_numpy(float), pts["ci_high"].to_numpy(float)
            style = {"color": color[method], "marker": marker[method], "ms": 5, "lw": 1.5}
            if sz.all_measured:
                (line,) = ax.plot(x, mean, **style)
            else:  # 'all' is not at its true count: its segment is dashed
                sized = pts["size"].to_numpy() != "all"
                (line,) = ax.plot(x[sized], mean[sized], **style)
                if not sized[-1] and len(x) > 1:
                    ax.plot(x[-2:], mean[-2:], **(style | {"ls": "--"}))
            if np.isfinite(lo).any():
                ax.fill_between(x, lo, hi, color=color[method], alpha=0.13, lw=0)
            legend.setdefault(method, line)
        if sz.chance is not None:
            legend.setdefault(
                "chance (1 / classes)",
                ax.axhline(100 * sz.chance, color="0.3", ls="--", lw=1),
            )
        ticks = [*map(float, sz.ns), sz.x_all]
        all_label = f"all\n(≈{sz.x_all:.0f})" if sz.all_measured else "all\n(full fold)"
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks)
        ax.set_xticklabels([*map(str, sz.ns), all_label])
        ax.minorticks_off()
        ax.set_xlim(ticks[0] / 1.25, ticks[-1] * 1.25)
        ax.set_xlabel("target training subjects per fold (N, log scale)", fontsize=FONT)
        ax.set_ylabel(f"test {metric_name} (%)", fontsize=FONT)
        ax.set_title(panel.title, fontsize=FONT + 1)
        ax.tick_params(labelsize=FONT - 1)
        ax.grid(alpha=0.3)
    fig.legend(
        list(legend.values()), list(legend), loc="lower center", ncols=ncols, fontsize=FONT - 1
    )
    fig.tight_layout(rect=(0, legend_in / height, 1, 1))
    return _png(fig)
