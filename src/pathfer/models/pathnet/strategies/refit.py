"""Choose, then refit (scikit-learn's ``refit``): once the validation part has chosen the
path (evolution) and the finish length (the finish stage's best evaluation), the finish
stage is rerun from the evolved weights on the training AND validation parts together, for
exactly the chosen number of steps, with nothing left to choose.

``learn_task(..., refit=True)``: the evolved path's weights, its head and both optimisers'
states are taken before the finish (:func:`refit_start`); after it, :func:`refit` puts them
back and trains the path on all of the task's data at the finish rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..config import EvolutionConfig
from ..data import TaskData
from ..training import restore, snapshot, train_paths
from .finish import baseline_key, finish_rate

if TYPE_CHECKING:
    from ..model import PathNet
    from ..tasks import Run


@dataclass
class RefitStart:
    """The evolved path as the finish stage found it: weights, head, optimiser states."""

    weights: dict[str, torch.Tensor]
    modules: dict[str, torch.Tensor]
    head: dict[str, torch.Tensor]


def _copies(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in tensors.items()}


def refit_start(pn: PathNet, task: str, genotype: np.ndarray) -> RefitStart:
    return RefitStart(
        snapshot(pn, task, genotype),
        _copies(pn.opt.state_tensors("m")),
        _copies(pn.head_opts[task].state_tensors("h")),
    )


def chosen_steps(
    history: list[dict[str, Any]], start: tuple[float, float], ev: EvolutionConfig
) -> int:
    """The finish steps the validation part chose: those of the best evaluation, by the
    finish stage's own rule (higher accuracy, then lower loss, against ``ev``'s
    ``finish_baseline``; 0: the evolved weights)."""
    best, steps = baseline_key(ev, start), 0
    for rec in history:
        key = (rec["val_accuracy"], -rec["val_loss"])
        if key > best:
            best, steps = key, rec["step"]
    return steps


def refit(
    pn: PathNet,
    task: str,
    run: Run,
    data: TaskData,
    genotype: np.ndarray,
    start: RefitStart,
    steps: int,
) -> int:
    """Rerun the finish from ``start`` on training + validation data for ``steps`` steps.
    Returns how many samples it trained on."""
    restore(pn, task, genotype, start.weights)
    pn.opt.load_state_tensors("m", start.modules)
    pn.head_opts[task].load_state_tensors("h", start.head)
    x, y = torch.cat([data.x, data.xv]), torch.cat([data.y, data.yv])
    if steps > 0:
        lr = finish_rate(run.evolution, bool(pn.frozen.any()))
        train_paths(pn, task, genotype[None], x, y, steps, run.evolution, lr, run.engine)
    return len(x)
