"""Source models, trained once per seed and loaded by every fold of a transfer study."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from pathfer.models.pathnet import EvolutionConfig, PathNet, PathNetConfig
from pathfer.models.pathnet.config import EngineSettings
from pathfer.runtime.files import atomic_write_json
from pathfer.study.experiments.budgets import MethodBudget, TrainBudget
from pathfer.study.experiments.methods.base import (
    TaskData,
    accuracy_of,
    pathnet_config,
    source_path,
    tuned_fit,
)
from pathfer.study.experiments.methods.cnn import REFERENCE_RECIPE, family_model

#: the source families that are CNNs trained with :func:`tuned_fit`, and their shifts
CNN_FAMILIES = {"cnn": 2, "reference_cnn": REFERENCE_RECIPE.max_shift}


def train_sources(
    family: str,
    sources: list[TaskData],
    seed: int,
    pathnet: PathNetConfig,
    evolution: EvolutionConfig,
    train: TrainBudget,
    source_dir: Path,
    budget: MethodBudget | None = None,
    engine: EngineSettings | None = None,
) -> dict[str, Any]:
    """Train the source model of ``family`` (``pathnet``, ``cnn`` or ``reference_cnn``) on
    the sources in order. ``train`` is the experiment's ``train:``; ``budget`` the resolved
    budget of the CNN family (that of the first method in the config that uses it);
    ``engine`` the recipe's engine settings of a PathNet source."""
    torch.manual_seed(seed)
    out = source_path(source_dir, family, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    size = int(sources[0].fit.x.shape[-1])
    pn_cfg = pathnet_config(pathnet, size)
    t0, cpu0 = time.perf_counter(), time.process_time()
    info: dict[str, Any] = {"family": family, "seed": seed, "tasks": []}
    if family == "pathnet":
        _pathnet_source(sources, seed, pn_cfg, evolution, engine, out, info)
    elif family in CNN_FAMILIES:
        if budget is None:
            raise ValueError(f"the {family} source model needs a training budget")
        _cnn_source(family, sources, seed, pn_cfg, train, budget, out, info)
    else:
        raise ValueError(f"unknown source family {family!r}")
    info["train_time_s"] = time.perf_counter() - t0
    info["cpu_time_s"] = time.process_time() - cpu0  # this process' CPU (see the runner)
    atomic_write_json(out.with_suffix(".json"), info, indent=1, sort_keys=False)
    return info


def _pathnet_source(
    sources: list[TaskData],
    seed: int,
    pn_cfg: PathNetConfig,
    evolution: EvolutionConfig,
    engine: EngineSettings | None,
    out: Path,
    info: dict[str, Any],
) -> None:
    """One PathNet learns the sources in order, freezing each; saved to ``out``."""
    pn = PathNet(pn_cfg, seed=seed)
    for src in sources:
        res = pn.learn_task(
            src.name,
            src.fit.x,
            src.fit.y,
            len(src.labels),
            evolution=evolution,
            engine=engine,
            x_val=src.val.x,
            y_val=src.val.y,
            labels=src.labels,
        )
        pn.freeze(src.name)
        info["tasks"].append(
            {
                "name": src.name,
                "labels": src.labels,
                "test_acc": pn.evaluate(src.name, src.test.x, src.test.y)["accuracy"],
                "generations": res.generations,
                "val_acc": res.final_val_accuracy,
            }
        )
    pn.save(out.with_suffix(".safetensors"))


def _cnn_source(
    family: str,
    sources: list[TaskData],
    seed: int,
    pn_cfg: PathNetConfig,
    train: TrainBudget,
    budget: MethodBudget,
    out: Path,
    info: dict[str, Any],
) -> None:
    """A CNN of ``family`` fine-tuned through the sources in order; saved to ``out``."""
    size = pn_cfg.input_size
    state = None
    for src in sources:

        def make(state=state, src=src) -> nn.Module:
            m = family_model(family, pn_cfg, len(src.labels), size)
            if state is not None:  # fine-tune through a sequence of sources
                body = {k: v for k, v in state.items() if not k.startswith("head.")}
                m.load_state_dict(body, strict=False)
            return m

        model, fit_info = tuned_fit(make, src, train, seed, budget, max_shift=CNN_FAMILIES[family])
        state = model.state_dict()
        info["tasks"].append(
            {
                "name": src.name,
                "labels": src.labels,
                "test_acc": accuracy_of(model, src.test),
                "lr": fit_info["lr"],
                "val_acc": fit_info["val_acc"],
            }
        )
    assert state is not None
    save_file({k: v.contiguous() for k, v in state.items()}, str(out.with_suffix(".safetensors")))
