"""PNG figures: the super-network with each task's path, and evolution curves.

Figures are built on ``matplotlib.figure.Figure`` (Agg canvas, no pyplot state), sized to
be read at 100 % zoom: :func:`supernet_figure` about 5-6 inches wide for the usual 10
modules (it sits beside the evolution curves in the run report), text of 9 points or more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.patches as mpatches
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .genotype import active_modules

if TYPE_CHECKING:
    from .model import PathNet

COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
FONT = 10
RADIUS = 0.35


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def _task_paths(pn: PathNet, tasks: Sequence[str] | None) -> dict[str, np.ndarray]:
    from .model import PathNetStateError

    paths: dict[str, np.ndarray] = {}
    for name in tasks if tasks is not None else pn.tasks:
        try:
            paths[name] = pn.best_path(name)
        except PathNetStateError:  # a task with no path yet is simply not drawn
            continue
    return paths


def supernet_figure(
    pn: PathNet, *, tasks: Sequence[str] | None = None, title: str | None = None
) -> Figure:
    """The L x M grid of modules (layer 0, the input side, at the bottom); each task's best
    path in its own colour (a module used by several tasks is split into wedges), lines
    between the path's modules of consecutive layers, frozen modules with a thick black
    edge, and on a module a path uses that restarted as a copy of a frozen one
    (``free_init="copy"``) the number of that frozen module. Tasks are in training order
    (``tasks`` picks and orders them)."""
    cfg = pn.config
    L, M = cfg.layers, cfg.modules
    paths = _task_paths(pn, tasks)
    fig = Figure(figsize=(0.45 * M + 1.3, 0.5 * L + 1.6))
    ax = fig.add_subplot()
    _draw_lines(ax, paths, L)
    copies_drawn = _draw_modules(ax, pn, paths)
    _legend(ax, paths, copies_drawn)
    ax.set_xlim(-0.6, M - 0.4)
    ax.set_ylim(-0.6, L - 0.4)
    ax.set_aspect("equal")
    ax.set_xticks(range(M))
    ax.set_yticks(range(L))
    ax.set_yticklabels([f"layer {i}" for i in range(L)], fontsize=FONT - 1)
    ax.tick_params(axis="x", labelsize=FONT - 1)
    ax.set_xlabel("module", fontsize=FONT - 1)
    ax.set_title(title or f"PathNet (L={L}, M={M}, N={cfg.max_active})", fontsize=FONT)
    return fig


def _draw_lines(ax: Any, paths: dict[str, np.ndarray], layers: int) -> None:
    """Each path's lines between its modules of consecutive layers (under the modules)."""
    for ti, g in enumerate(paths.values()):
        act = active_modules(g)
        off = (ti - (len(paths) - 1) / 2) * 0.06
        for layer in range(layers - 1):
            for a in act[layer]:
                for b in act[layer + 1]:
                    ax.plot(
                        [a + off, b + off],
                        [layer + RADIUS, layer + 1 - RADIUS],
                        color=COLOURS[ti % len(COLOURS)],
                        lw=1.0,
                        alpha=0.6,
                    )


def _draw_modules(ax: Any, pn: PathNet, paths: dict[str, np.ndarray]) -> bool:
    """Every module, in wedges of the tasks using it; True when a copy's origin was drawn."""
    frozen, origins = pn.frozen, pn.copy_origins
    users: dict[tuple[int, int], list[int]] = {}
    for ti, g in enumerate(paths.values()):
        for layer, rows in enumerate(active_modules(g)):
            for m in rows:
                users.setdefault((layer, int(m)), []).append(ti)
    copies_drawn = False
    for layer in range(pn.config.layers):
        for m in range(pn.config.modules):
            who = users.get((layer, m), [])
            edge = "black" if frozen[layer, m] else "0.6"
            lw = 2.5 if frozen[layer, m] else 0.8
            if not who:
                ax.add_patch(
                    mpatches.Circle((m, layer), RADIUS, facecolor="white", edgecolor=edge, lw=lw)
                )
                continue
            step = 360.0 / len(who)
            for k, ti in enumerate(who):
                wedge = mpatches.Wedge(
                    (m, layer), RADIUS, k * step, (k + 1) * step, edgecolor=edge, lw=lw
                )
                wedge.set_facecolor(COLOURS[ti % len(COLOURS)])
                ax.add_patch(wedge)
            if origins[layer, m] >= 0:
                ax.text(m, layer, str(origins[layer, m]), ha="center", va="center",
                        fontsize=FONT - 2, color="white", fontweight="bold")  # fmt: skip
                copies_drawn = True
    return copies_drawn


def _legend(ax: Any, paths: dict[str, np.ndarray], copies_drawn: bool) -> None:
    handles: list[Any] = [
        mpatches.Patch(color=COLOURS[i % len(COLOURS)], label=n) for i, n in enumerate(paths)
    ]
    handles.append(mpatches.Patch(facecolor="white", edgecolor="black", lw=2.5, label="frozen"))
    if copies_drawn:
        handles.append(
            Line2D([], [], ls="", marker="$k$", color="0.3", label="started as a copy of frozen k")
        )
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.28),
        ncols=min(len(handles), 4),
        fontsize=FONT - 1,
    )


def plot_supernet(
    pn: PathNet,
    path: str | Path,
    *,
    tasks: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Write :func:`supernet_figure` as a PNG to ``path``; returns the path."""
    return _save(supernet_figure(pn, tasks=tasks, title=title), path)


def evolution_figure(
    histories: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    title: str = "PathNet evolution",
) -> Figure:
    """Per generation: best and mean fitness (0-1) on the top axis; the distinct paths of
    the population and the frozen modules on the best path (counts) on the bottom axis.
    ``histories`` is one task's history (per-generation dicts, e.g.
    ``TaskResult.history``) or ``{task: history}``."""
    series = dict(histories) if isinstance(histories, Mapping) else {"": list(histories)}
    fig = Figure(figsize=(6.0, 4.6))
    ax_fit, ax_count = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    for i, (name, hist) in enumerate(series.items()):
        if not hist:
            continue
        gen = [h["generation"] for h in hist]
        c = COLOURS[i % len(COLOURS)]
        label = f"{name}: " if name else ""
        ax_fit.plot(gen, [h["best_fitness"] for h in hist], color=c, lw=2, label=f"{label}best")
        ax_fit.plot(
            gen, [h["mean_fitness"] for h in hist], color=c, lw=1, ls="--", label=f"{label}mean"
        )
        for key, ls in (("diversity", "-"), ("frozen_reused", ":")):
            if all(key in h for h in hist):
                ax_count.plot(gen, [h[key] for h in hist], color=c, lw=1.5, ls=ls)
    ax_fit.set_ylabel("fitness (val. accuracy)", fontsize=FONT)
    ax_fit.set_ylim(0, 1.02)
    ax_fit.legend(fontsize=FONT - 1)
    ax_fit.set_title(title, fontsize=FONT + 1)
    ax_count.legend(
        handles=[
            Line2D([], [], color="0.3", ls="-", label="distinct paths in the population"),
            Line2D([], [], color="0.3", ls=":", label="frozen modules on the best path"),
        ],
        fontsize=FONT - 1,
    )
    ax_count.set_ylabel("count", fontsize=FONT)
    ax_count.set_xlabel("generation (tournament)", fontsize=FONT)
    for ax in (ax_fit, ax_count):
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=FONT - 1)
    ax_count.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_count.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def plot_evolution(
    histories: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]],
    path: str | Path,
    *,
    title: str = "PathNet evolution",
) -> Path:
    """Write :func:`evolution_figure` as a PNG to ``path``; returns the path."""
    return _save(evolution_figure(histories, title=title), path)
