"""What every method shares: the fold's data, the method's output, the registry, and the
learning-rate-tuned training loop the baselines use."""

from __future__ import annotations

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
from pathfer.models.nn import PlainCNN
from pathfer.models.pathnet import PathNetConfig
from pathfer.runtime.registry import Registry


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


@dataclass
class FoldData:
    target: TaskData
    seed: int
    pathnet: dict[str, Any]
    evolution: dict[str, Any]
    train: Any  # TrainBudget
    source_dir: Path  # where train_sources left the source models
    sources: list[TaskData] = field(default_factory=list)  # for forgetting
    artifacts: Path | None = None
    tag: str = ""


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
#: transfer method needs trained before the folds: ``"pathnet"``, ``"cnn"`` or None),
#: ``cost`` (a rough rank, dearest highest, so parallel runs start the long jobs first
#: and no worker is left alone with one long job at the end) and ``crop`` (the face crop
#: the method wants, see :func:`register_method`)
METHODS: Registry[Method] = Registry("method")

#: ``crop=FER2013_CROP``: the crop the shipped FER2013 mini-Xception was trained with (its
#: bundle's own size, margin and equalisation)
FER2013_CROP = "fer2013"


def register_method(
    name: str,
    needs_source: str | None = None,
    cost: int = 0,
    crop: dict[str, Any] | str | None = None,
) -> Callable[[Method], Method]:
    """Register a method function under ``name`` (the name used in configs).

    ``crop`` is the face crop the method wants: ``None`` for the experiment's
    ``preparation`` settings, a dict of crop fields (``size``, ``margin``, ``equalize``)
    that override them, or :data:`FER2013_CROP` for the shipped mini-Xception's own crop.
    The detector, alignment and frame sampling are the experiment's, shared by every
    method, so every method sees the same frames and faces.
    """
    return METHODS.register(name, needs_source=needs_source, cost=cost, crop=crop)


def needs_source(name: str) -> str | None:
    """The source family (``"pathnet"``, ``"cnn"``) the method needs, or None."""
    return METHODS.meta(name)["needs_source"]


def by_cost(names: list[str]) -> list[str]:
    """``names`` dearest first (stable for equal cost; unknown names last)."""
    return sorted(names, key=lambda m: -METHODS.meta(m)["cost"] if m in METHODS else 1)


def pathnet_config(d: FoldData | dict, size: int) -> PathNetConfig:
    cfg = dict(d.pathnet if isinstance(d, FoldData) else d)
    cfg.setdefault("input_size", size)
    return PathNetConfig.from_dict(cfg)


def cnn_kwargs(pn_cfg: PathNetConfig) -> dict[str, Any]:
    """A plain CNN with the capacity of one PathNet path (same layers, N branches each)."""
    return PlainCNN.path_kwargs(pn_cfg)


def predict_proba(model: nn.Module, x: torch.Tensor, batch: int = 512) -> np.ndarray:
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            out.append(torch.softmax(model(x[i : i + batch]), dim=1))
    return torch.cat(out).numpy() if out else np.zeros((0, 0))


def accuracy_of(model: nn.Module, part: Part) -> float:
    return float(evaluate(model, part.x, part.y)["acc"])


def tuned_fit(
    make: Callable[[], nn.Module],
    task: TaskData,
    budget: Any,
    seed: int,
    params: Callable[[nn.Module], Any] | None = None,
    lrs: list[float] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train one model per learning rate of the grid; keep the best on validation subjects.

    Each candidate early-stops on the validation part; the test part is evaluated along the
    chosen run's curve only to draw accuracy-versus-time (it picks nothing).
    """
    best: tuple[float, nn.Module, list, float] | None = None
    t0 = time.perf_counter()
    tried = []
    for lr in lrs or budget.lrs:
        model = make()
        curve: list[dict[str, Any]] = []
        start = time.perf_counter()

        def log(rec: dict[str, Any], model=model, curve=curve, start=start) -> None:
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

        steps_per_epoch = max(1, int(np.ceil(len(task.fit.y) / budget.batch_size)))
        res = fit(
            model,
            task.fit.x,
            task.fit.y,
            task.val.x,
            task.val.y,
            lr=lr,
            batch_size=budget.batch_size,
            max_epochs=max(1, budget.max_steps // steps_per_epoch),
            max_steps=budget.max_steps,
            patience=budget.patience,
            params=None if params is None else params(model),
            weight_decay=budget.weight_decay,
            seed=seed,
            augment=True,
            progress=log,
        )
        tried.append(
            {"lr": lr, "val_acc": res.best_val_acc, "steps": res.steps, "learning_curve": curve}
        )
        if best is None or res.best_val_acc > best[0]:
            best = (res.best_val_acc, model, curve, lr)
    assert best is not None
    return best[1], {
        "lr": best[3],
        "val_acc": best[0],
        "lr_search": tried,
        "learning_curve": best[2],
        "train_time_s": time.perf_counter() - t0,
    }


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
