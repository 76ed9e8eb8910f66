"""PathNet over pretrained modules: the FER2013 mini-Xception as a learnt, frozen task.

:func:`from_mini_xception` builds a PathNet whose layers are the mini-Xception's stages
(:class:`~pathfer.models.pathnet.stages.StageSuperNet`) as if a task ``fer2013`` had been
learnt and frozen on it: module 0 of every layer is the pretrained stage (frozen, its
BatchNorm statistics fixed), the task's path is module 0 in every layer and its head is the
pretrained classifier. The other modules of every layer are trainable, started as copies of
the pretrained stage (``free_init="copy"``) or fresh (``"random"``). A new task evolves
paths through both (recipe ``fer2013``, capped by :func:`cap_evolution`); with
``learn_task(..., head_from="fer2013")`` its head starts from the pretrained classifier's
rows for the labels it shares with FER2013. The ``fer2013`` task's
predictions never change (it only uses frozen modules and its own head).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from ..baselines.mini_xception import MiniXception
from .config import EvolutionConfig, PathNetConfig
from .model import PathNet
from .optim import HeadOptimizer
from .recipes import get_recipe
from .tasks import Task, TaskStatus

PRETRAINED_TASK = "fer2013"


@torch.no_grad()
def from_mini_xception(
    model: MiniXception,
    labels: Sequence[str],
    *,
    modules: int | None = None,
    max_active: int | None = None,
    free_init: str = "copy",
    seed: int = 0,
    task: str = PRETRAINED_TASK,
) -> PathNet:
    """A PathNet over ``model``'s stages whose frozen task ``task`` is ``model`` itself.

    ``labels``: the model's class names, in output order. ``modules`` (M) per layer: the
    pretrained stage plus ``M - 1`` trainable ones; a path uses up to ``max_active`` (N)
    of them per layer and averages their outputs. Both default to the ``fer2013`` recipe's.
    """
    shape = get_recipe("fer2013").pathnet_config()
    modules = shape.modules if modules is None else modules
    max_active = shape.max_active if max_active is None else max_active
    if len(labels) != model.n_classes:
        raise ValueError(f"{len(labels)} labels for a model with {model.n_classes} classes")
    config = PathNetConfig(
        backbone="mini_xception",
        layers=len(model.features),
        modules=modules,
        max_active=max_active,
        channels=(model.stem_channels, *model.channels),
        input_size=model.input_size,
        norm="batch",
        head_hidden=0,
        combine="mean",
        free_init=free_init,
    )
    pn = PathNet(config, seed=seed)
    for layer, stage in enumerate(model.features):
        pn.net.load_stage(layer, 0, stage)
    head = pn.net.add_head(task, model.n_classes, None)
    head.load_state_dict(model.classifier.state_dict())
    pn.head_opts[task] = HeadOptimizer(head)
    pn.tasks[task] = Task(
        task,
        model.n_classes,
        list(labels),
        TaskStatus.FROZEN,
        genotype=np.zeros((config.layers, config.max_active), dtype=np.int64),
    )
    owner = pn.frozen_owner
    owner[:, 0] = task
    pn.adopt_frozen(owner)
    return pn


def cap_evolution(evolution: EvolutionConfig, cap: EvolutionConfig | None) -> EvolutionConfig:
    """``evolution`` (e.g. the ``fer2013`` recipe's) within an experiment's budget ``cap``:
    population, T, batch, generations and finish steps are each the smaller of the two, so
    a quick experiment stays quick; the cap's ``train_layers``, when given, restricts the
    layers trained too."""
    if cap is None:
        return evolution
    keys = ("population", "steps_per_path", "batch_size", "generations", "finish_steps")
    capped = {k: min(getattr(evolution, k), getattr(cap, k)) for k in keys}
    if cap.train_layers is not None:
        capped["train_layers"] = cap.train_layers
    return dataclasses.replace(evolution, **capped)
