"""Figures of the super-network and of evolution: what they draw, checked on the figure."""

from __future__ import annotations

import dataclasses

import matplotlib.colors as mcolors
import matplotlib.patches as mpatches
import numpy as np
import pytest
import torch

from pathfer.models.pathnet import EvolutionConfig, PathNet, PathNetConfig
from pathfer.models.pathnet.genotype import active_modules
from pathfer.models.pathnet.plots import (
    COLOURS,
    evolution_figure,
    plot_evolution,
    plot_supernet,
    supernet_figure,
)
from pathfer.models.pathnet.toy import toy_task


@pytest.fixture(scope="module")
def two_tasks():
    torch.set_num_threads(1)
    cfg = PathNetConfig(layers=2, modules=4, max_active=2, channels=4, input_size=8)
    ev = EvolutionConfig(
        population=3, steps_per_path=2, batch_size=8, generations=3, finish_steps=0
    )
    pn = PathNet(cfg, seed=0)
    x, y = toy_task(60, size=8, seed=0)
    ra = pn.learn_task("A", x, y, 3, evolution=ev)
    pn.freeze("A")
    rb = pn.learn_task("B", x, y, 3, evolution=dataclasses.replace(ev, seed_copy_fraction=0))
    return pn, ra, rb


def _modules(ax, colour: str) -> set[tuple[int, int]]:
    """(layer, module) of every wedge drawn in ``colour``."""
    rgba = mcolors.to_rgba(colour)
    return {
        (int(round(p.center[1])), int(round(p.center[0])))
        for p in ax.patches
        if isinstance(p, mpatches.Wedge) and np.allclose(p.get_facecolor(), rgba)
    }


def test_supernet_figure_draws_each_task_path_and_the_frozen_modules(two_tasks, tmp_path):
    pn, _, _ = two_tasks
    fig = supernet_figure(pn)
    (ax,) = fig.axes
    for task, colour in zip(("A", "B"), COLOURS, strict=False):
        expected = {
            (layer, int(m))
            for layer, rows in enumerate(active_modules(pn.best_path(task)))
            for m in rows
        }
        assert _modules(ax, colour) == expected, task
    frozen = {
        (int(round(p.center[1])), int(round(p.center[0])))
        for p in ax.patches
        if p.get_linewidth() == 2.5 and isinstance(p, (mpatches.Wedge, mpatches.Circle))
    }
    assert frozen == {tuple(int(v) for v in idx) for idx in np.argwhere(pn.frozen)}
    # a used module that restarted as a copy of a frozen one (free_init="copy") shows its
    # origin; the copies were made at A's freeze, from A's modules of the same layer
    origins = pn.copy_origins
    assert (origins[pn.frozen] == -1).all() and pn.frozen[
        np.nonzero(origins >= 0)[0], origins[origins >= 0]
    ].all()
    used_copies = {
        (la, m): str(origins[la, m]) for la, m in _modules(ax, COLOURS[1]) if origins[la, m] >= 0
    }
    drawn = {
        (int(round(t.get_position()[1])), int(round(t.get_position()[0]))): t.get_text()
        for t in ax.texts
    }
    assert drawn == used_copies and used_copies  # B's path goes through at least one copy
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "A",
        "B",
        "frozen",
        "started as a copy of frozen k",
    ]
    cfg = pn.config
    circles = [p for p in ax.patches if isinstance(p, mpatches.Circle)]
    used = _modules(ax, COLOURS[0]) | _modules(ax, COLOURS[1])
    assert len(circles) == cfg.layers * cfg.modules - len(used)  # every module is drawn
    out = plot_supernet(pn, tmp_path / "net.png", tasks=["B"])
    assert out.read_bytes().startswith(b"\x89PNG")


def test_evolution_figure_keeps_fitness_and_counts_on_separate_axes(two_tasks, tmp_path):
    _, ra, rb = two_tasks
    fig = evolution_figure({"A": ra.history, "B": rb.history})
    ax_fit, ax_count = fig.axes
    assert ax_fit.get_ylim() == pytest.approx((0, 1.02))
    best_a = ax_fit.get_lines()[0]
    assert list(best_a.get_ydata()) == [h["best_fitness"] for h in ra.history]
    counts = [list(line.get_ydata()) for line in ax_count.get_lines()]
    assert [h["diversity"] for h in rb.history] in counts
    assert [h["frozen_reused"] for h in rb.history] in counts
    # no count (0..modules) on the fitness axis, as the old one-axis figure had
    assert all(0 <= v <= 1 for line in ax_fit.get_lines() for v in line.get_ydata())
    out = plot_evolution(ra.history, tmp_path / "sub" / "evo.png")
    assert out.read_bytes().startswith(b"\x89PNG")
