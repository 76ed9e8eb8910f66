"""PNG figures of the super-network and of evolution curves."""

from __future__ import annotations

import dataclasses

import torch

from pathfer.models.pathnet import EvolutionConfig, PathNet, PathNetConfig
from pathfer.models.pathnet.plots import plot_evolution, plot_supernet
from pathfer.models.pathnet.toy import toy_task

PNG = b"\x89PNG\r\n\x1a\n"


def test_plots_write_pngs(tmp_path):
    torch.set_num_threads(1)
    cfg = PathNetConfig(layers=2, modules=4, max_active=2, channels=4, input_size=8)
    ev = EvolutionConfig(
        population=3, steps_per_path=2, batch_size=8, generations=3, finish_steps=0
    )
    pn = PathNet(cfg, seed=0)
    x, y = toy_task(60, size=8, seed=0)
    ra = pn.learn_task("A", x, y, 3, evolution=ev)
    pn.freeze("A")
    rb = pn.learn_task("B", x, y, 3, evolution=dataclasses.replace(ev, frozen_slots=1))
    p1 = plot_supernet(pn, tmp_path / "net.png")
    p2 = plot_evolution(ra.history, tmp_path / "evo.png")
    p3 = plot_evolution({"A": ra.history, "B": rb.history}, tmp_path / "sub" / "evo2.png")
    for p in (p1, p2, p3):
        data = p.read_bytes()
        assert data.startswith(PNG) and len(data) > 2000
