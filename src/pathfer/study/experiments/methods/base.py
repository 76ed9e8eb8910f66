"""What every method shares: the fold's data, the method's output, the registry, and the
learning-rate-tuned training loop the baselines use."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pathfer.models.baselines.training import evaluate, fit
from pathfer.models.nn import PlainCNN, predict_proba
from pathfer.models.pathnet import EvolutionConfig, PathNetConfig
from pathfer.runtime.registry import Registry
from pathfer.study.experiments.budgets import MethodBudget, TrainBudget


@dataclass
class Part:
    """Tensors of one part of a task: ``x`` float (B, 1, S, S) in [0, 1], ``y`` int64."""

    x: torch.Tensor
    y: torch.Tensor
    clip_ids: np.ndarray | None = None


@dataclass
class TaskData:
    """One task (a source corpus, or the target of one fold): fit, validation, test."""

    name: str
    labels: list[str]
    fit: Part
    val: Part
    test: Part
    #: training subjects no method sees, only scored (``split.choice_fraction``; None: off)
    choice: Part | None = None
    #: subjects of fit and validation together (0: not counted)
    train_subjects: int = 0


@dataclass
class FoldData:
    """What a method gets: the fold's target, the seed and the experiment's resolved
    settings."""

    target: TaskData
    seed: int
    pathnet: PathNetConfig
    evolution: EvolutionConfig
    #: the experiment's ``train:``: batch size, weight decay, step cap
    train: TrainBudget
    source_dir: Path  # where train_sources left the source models
    sources: list[TaskData] = field(default_factory=list)  # for forgetting
    artifacts: Path | None = None
    tag: str = ""
    #: this method's resolved training budget (lrs, max_epochs, patience); None for
    #: methods that do not train with :func:`tuned_fit`
    budget: MethodBudget | None = None
    #: how the source PathNet was evolved (``source_evolution:`` resolved)
    source_evolution: EvolutionConfig | None = None
    #: the experiment's recipe (its engine settings apply to the PathNet methods)
    recipe: str = "default"


@dataclass(frozen=True)
class Recipe:
    """A gradient-trained method's own training recipe, registered with it.

    ``lr_scale`` multiplies the experiment's base learning rates (``train.lrs``, default
    1e-3): 1 for networks trained from random weights, less for a pretrained network.
    ``max_epochs`` / ``patience`` (early stopping on validation subjects, in epochs) are the
    method's defaults when the config leaves them out; ``max_shift`` is the augmentation's
    largest shift in pixels (random flips always).
    """

    lr_scale: float = 1.0
    max_epochs: int = 30
    patience: int = 8
    max_shift: int = 2


#: the recipe of the CNNs trained from random weights (or a source CNN): the reference
#: CNN's, up to 30 epochs with patience 8, which on held-out subjects of real photos beat
#: a shorter patience for every CNN method (see docs/tuning.md#decisions)
CNN_RECIPE = Recipe()


@dataclass
class MethodOutput:
    proba: np.ndarray
    train_time_s: float
    extra: dict[str, Any] = field(default_factory=dict)
    #: the trained classifier as a plain module ((B, 1, S, S) in [0, 1] -> logits over the
    #: target labels), for model bundles; not sent back from parallel jobs
    model: nn.Module | None = None


Method = Callable[[FoldData], MethodOutput]


#: every method, registered with its metadata: ``needs_source`` (the source family a
#: transfer method needs trained before the folds: ``"pathnet"``, ``"cnn"``,
#: ``"reference_cnn"`` or None), ``cost`` (a rough rank, dearest highest, so parallel runs
#: start the long jobs first and no worker is left alone with one long job at the end),
#: ``crop`` (the face crop the method wants, see :func:`register_method`), ``recipe``
#: (its :class:`Recipe` when it trains with :func:`tuned_fit`, else None) and ``trains``
#: (False for a method that learns nothing from the target: there is no model to train)
METHODS: Registry[Method] = Registry("method")

#: ``crop=FER2013_CROP``: the crop the shipped FER2013 mini-Xception was trained with (its
#: bundle's own size, margin and equalisation)
FER2013_CROP = "fer2013"


def register_method(
    name: str,
    needs_source: str | None = None,
    cost: int = 0,
    crop: dict[str, Any] | str | None = None,
    recipe: Recipe | None = None,
    trains: bool = True,
) -> Callable[[Method], Method]:
    """Register a method function under ``name`` (the name used in configs).

    ``crop`` is the face crop the method wants: ``None`` for the experiment's
    ``preparation`` settings, a dict of crop fields (``size``, ``margin``, ``equalize``)
    that override them, or :data:`FER2013_CROP` for the shipped mini-Xception's own crop.
    The detector, alignment and frame sampling are the experiment's, shared by every
    method, so every method sees the same frames and faces.

    ``recipe`` (:class:`Recipe`) is the method's training recipe when it trains with
    :func:`tuned_fit`; the experiment resolves it into the method's budget
    (:attr:`FoldData.budget`). ``trains=False``: the method uses a model as it is (there
    is nothing to train into a bundle).
    """
    return METHODS.register(
        name, needs_source=needs_source, cost=cost, crop=crop, recipe=recipe, trains=trains
    )


def needs_source(name: str) -> str | None:
    """The source family (``"pathnet"``, ``"cnn"``) the method needs, or None."""
    return METHODS.meta(name)["needs_source"]


def by_cost(names: list[str]) -> list[str]:
    """``names`` dearest first (stable for equal cost; unknown names last)."""
    return sorted(names, key=lambda m: -METHODS.meta(m)["cost"] if m in METHODS else 1)


def trains(name: str) -> bool:
    """Whether the method trains a model on the target (one to save as a bundle)."""
    return bool(METHODS.meta(name).get("trains", True))


def pathnet_config(d: FoldData | PathNetConfig, size: int) -> PathNetConfig:
    """The experiment's PathNet settings for crops of ``size`` pixels (the size of the
    method's own crop, whatever ``pathnet.input_size`` says)."""
    return dataclasses.replace(d.pathnet if isinstance(d, FoldData) else d, input_size=size)


def cnn_kwargs(pn_cfg: PathNetConfig) -> dict[str, Any]:
    """A plain CNN with the capacity of one PathNet path (same layers, N branches each)."""
    return PlainCNN.path_kwargs(pn_cfg)


def accuracy_of(model: nn.Module, part: Part) -> float:
    return float(evaluate(model, part.x, part.y)["acc"])


def tuned_fit(
    make: Callable[[], nn.Module],
    task: TaskData,
    train: TrainBudget,
    seed: int,
    budget: MethodBudget | None,
    params: Callable[[nn.Module], Any] | None = None,
    max_shift: int = 2,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train one model per learning rate of ``budget.lrs``; keep the best on validation
    subjects.

    ``train`` (the experiment's ``train:``) gives the batch size, weight decay and step
    cap; ``budget`` (the method's resolved budget; None: the CNNs' recipe on ``train:``)
    the rates, epochs and patience. Each
    candidate early-stops on the validation part and restores its best epoch; the test
    part is evaluated along the chosen run's curve only to draw accuracy-versus-time (it
    picks nothing). With ``train.refit`` the final model then trains from its start on fit +
    validation subjects at the chosen rate, for ``max_epochs`` (``refit_epochs: max``) or
    for the epochs the chosen run stopped at (``chosen``).
    """
    if budget is None:  # a method registered without a recipe: the CNNs' recipe
        budget = MethodBudget(
            lrs=list(train.lrs),
            max_epochs=train.max_epochs or CNN_RECIPE.max_epochs,
            patience=train.patience or CNN_RECIPE.patience,
        )
    best: tuple[float, nn.Module, list, float, int] | None = None
    t0 = time.perf_counter()
    tried = []
    for lr in budget.lrs:
        model = make()
        res, curve = _fit_at(model, task, train, seed, budget, lr, params, max_shift)
        tried.append(
            {
                "lr": lr,
                "val_acc": res.best_val_acc,
                "best_epoch": res.best_epoch,
                "steps": res.steps,
                "learning_curve": curve,
            }
        )
        if best is None or res.best_val_acc > best[0]:
            best = (res.best_val_acc, model, curve, lr, res.best_epoch)
    assert best is not None
    model, info = (
        best[1],
        {
            "lr": best[3],
            "val_acc": best[0],
            "best_epoch": best[4],
            "lr_search": tried,
            "learning_curve": best[2],
        },
    )
    if train.refit:
        model = make()
        epochs = budget.max_epochs if train.refit_epochs == "max" else best[4] + 1
        info["refit"] = _refit(model, task, train, seed, best[3], epochs, params, max_shift)
    info["train_time_s"] = time.perf_counter() - t0
    return model, info


def _refit(
    model: nn.Module,
    task: TaskData,
    train: TrainBudget,
    seed: int,
    lr: float,
    epochs: int,
    params: Callable[[nn.Module], Any] | None,
    max_shift: int,
) -> dict[str, Any]:
    """Train ``model`` from its start on fit + validation subjects for the chosen ``epochs``
    at the chosen ``lr`` (nothing left to choose: no validation, the last weights kept)."""
    x, y = torch.cat([task.fit.x, task.val.x]), torch.cat([task.fit.y, task.val.y])
    res = fit(
        model,
        x,
        y,
        lr=lr,
        batch_size=train.batch_size,
        max_epochs=epochs,
        max_steps=train.max_steps,
        patience=None,
        params=None if params is None else params(model),
        weight_decay=train.weight_decay,
        seed=seed,
        augment=True,
        max_shift=max_shift,
    )
    return {"epochs": epochs, "steps": res.steps, "n_train": len(x)}


def _fit_at(
    model: nn.Module,
    task: TaskData,
    train: TrainBudget,
    seed: int,
    budget: MethodBudget,
    lr: float,
    params: Callable[[nn.Module], Any] | None,
    max_shift: int,
) -> tuple[Any, list[dict[str, Any]]]:
    """One training run of :func:`tuned_fit` at ``lr``: its result and learning curve."""
    curve: list[dict[str, Any]] = []
    start = time.perf_counter()

    def log(rec: dict[str, Any]) -> None:
        was = model.training
        curve.append(
            {
                "time_s": time.perf_counter() - start,
                "step": rec["step"],
                "val_acc": rec.get("val_acc", float("nan")),
                "test_acc": accuracy_of(model, task.test),
            }
        )
        model.train(was)

    res = fit(
        model,
        task.fit.x,
        task.fit.y,
        task.val.x,
        task.val.y,
        lr=lr,
        batch_size=train.batch_size,
        max_epochs=budget.max_epochs,
        max_steps=train.max_steps,
        patience=budget.patience,
        params=None if params is None else params(model),
        weight_decay=train.weight_decay,
        seed=seed,
        augment=True,
        max_shift=max_shift,
        progress=log,
    )
    return res, curve


def source_path(source_dir: Path, family: str, seed: int) -> Path:
    return source_dir / f"{family}_seed{seed}"


def source_info(source_dir: Path, family: str, seed: int) -> dict[str, Any]:
    p = source_path(source_dir, family, seed).with_suffix(".json")
    if not p.exists():
        raise FileNotFoundError(f"{p}: the {family} source model for seed {seed} is missing")
    return json.loads(p.read_text())


def trained_output(model: nn.Module, d: FoldData, info: dict[str, Any]) -> MethodOutput:
    """The output of a method that trained ``model`` with :func:`tuned_fit` (``info``)."""
    return MethodOutput(
        predict_proba(model, d.target.test.x), info.pop("train_time_s"), info, model
    )
