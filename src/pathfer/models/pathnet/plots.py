"""PNG figures: the super-network with each task's path, and evolution curves (Agg backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches as mpatches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .genotype import active_modules  # noqa: E402

if TYPE_CHECKING:
    from .model import PathNet

COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]


def plot_supernet(
    pn: PathNet,
    path: str | Path,
    *,
    tasks: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Draw the L x M grid of modules; each task's best path in its own colour (modules
    used by several tasks are split into wedges), frozen modules with a thick black edge."""
    cfg = pn.config
    L, M = cfg.layers, cfg.modules
    from .model import PathNetStateError

    names = list(tasks) if tasks is not None else list(pn.tasks)
    paths: dict[str, np.ndarray] = {}
    for n in names:
        try:
            paths[n] = pn.best_path(n)
        except PathNetStateError:  # a task with no path yet is simply not drawn
            continue
    frozen = pn.frozen
    fig, ax = plt.subplots(figsize=(max(4.0, 0.55 * M + 2), max(3.0, 0.7 * L + 1.5)))
    users: dict[tuple[int, int], list[int]] = {}
    for ti, (_, g) in enumerate(paths.items()):
        for layer, rows in enumerate(active_modules(g)):
            for m in rows:
                users.setdefault((layer, int(m)), []).append(ti)
    for layer in range(L):
        for m in range(M):
            who = users.get((layer, m), [])
            edge = "black" if frozen[layer, m] else "0.6"
            lw = 2.5 if frozen[layer, m] else 0.8
            if not who:
                ax.add_patch(plt.Circle((m, layer), 0.35, facecolor="white", edgecolor=edge, lw=lw))
                continue
            step = 360.0 / len(who)
            for k, ti in enumerate(who):
                ax.add_patch(
                    mpatches.Wedge(
                        (m, layer),
                        0.35,
                        k * step,
                        (k + 1) * step,
                        facecolor=COLOURS[ti % len(COLOURS)],
                        edgecolor=edge,
                        lw=lw,
                    )
                )
    # connect the path's modules between consecutive layers
    for ti, (_, g) in enumerate(paths.items()):
        act = active_modules(g)
        off = (ti - (len(paths) - 1) / 2) * 0.06
        for layer in range(L - 1):
            for a in act[layer]:
                for b in act[layer + 1]:
                    ax.plot(
                        [a + off, b + off],
                        [layer + 0.35, layer + 1 - 0.35],
                        color=COLOURS[ti % len(COLOURS)],
                        lw=0.8,
                        alpha=0.6,
                    )
    handles = [
        mpatches.Patch(color=COLOURS[i % len(COLOURS)], label=n) for i, n in enumerate(paths)
    ]
    handles.append(mpatches.Patch(facecolor="white", edgecolor="black", lw=2.5, label="frozen"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_xlim(-0.7, M - 0.3)
    ax.set_ylim(-0.7, L - 0.3)
    ax.set_aspect("equal")
    ax.set_xticks(range(M))
    ax.set_yticks(range(L))
    ax.set_yticklabels([f"layer {i}" for i in range(L)])
    ax.set_xlabel("module")
    ax.set_title(title or f"PathNet super-network (L={L}, M={M}, N={cfg.max_active})")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_evolution(
    histories: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]],
    path: str | Path,
    *,
    title: str = "PathNet evolution",
) -> Path:
    """Best and mean fitness per generation; ``histories`` is one task's history (list of
    per-generation dicts, e.g. ``TaskResult.history``) or ``{task: history}``."""
    if isinstance(histories, Mapping):
        series = dict(histories)
    else:
        series = {"": list(histories)}
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, (name, hist) in enumerate(series.items()):
        if not hist:
            continue
        gen = [h["generation"] for h in hist]
        c = COLOURS[i % len(COLOURS)]
        label = f"{name} " if name else ""
        ax.plot(gen, [h["best_fitness"] for h in hist], color=c, lw=2, label=f"{label}best")
        ax.plot(
            gen, [h["mean_fitness"] for h in hist], color=c, lw=1, ls="--", label=f"{label}mean"
        )
    ax.set_xlabel("generation (tournament)")
    ax.set_ylabel("fitness")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
