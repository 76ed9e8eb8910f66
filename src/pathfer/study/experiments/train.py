"""Train one method on all of a target corpus and save it as a model bundle.

The experiment runner measures methods on folds; this trains the final model a user
deploys: validation subjects choose the learning rate, drive PathNet's fitness and stop
training early, then (``train: {refit: true}``, the default) the chosen model trains again
on every target subject.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pathfer import __version__
from pathfer.data.datasets.splits import Split
from pathfer.data.faces import CropSettings
from pathfer.models.architectures import architecture_name
from pathfer.models.nn import set_job_numerics
from pathfer.models.pathnet.recipes import get_recipe
from pathfer.study.experiments import methods as M
from pathfer.study.experiments.config import ConfigError, ExperimentConfig
from pathfer.study.experiments.plan import (
    Plan,
    _task,
    family_budget,
    make_plan,
    source_task,
    validation_cut,
)
from pathfer.study.experiments.provenance import config_key, environment
from pathfer.use.bundle import save_bundle


def train_model(
    cfg: ExperimentConfig,
    method: str,
    out: str | Path,
    *,
    work_dir: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Train ``method`` on the config's target (after its sources) and save a bundle."""
    method, out = _checked(cfg, method, out)
    seed = cfg.seeds[0]
    set_job_numerics(cfg.threads)  # part of what the seed fixes, as in experiment jobs
    torch.manual_seed(seed)
    # source models are a cache of this exact config: another config never reuses them
    key = config_key(cfg.to_dict())
    cfg = _only(cfg, method)  # prepare only the crops this method (and its source) need
    plan = make_plan(cfg, log)
    work = (Path(work_dir) if work_dir else out.parent / f".{out.stem}.work") / key
    sources = _source_model(cfg, plan, method, seed, work, log)
    view = plan.target_for(method)
    ds = view.load()
    cut = validation_cut(ds, np.arange(len(ds)), cfg.split.val_fraction, seed)
    target = _task(view.name, ds, cut.train_idx, cut.test_idx, cut.test_idx)
    log(f"training {method} on {len(cut.train_idx)} frames, validating on {len(cut.test_idx)}")
    result = M.METHODS.get(method)(
        M.FoldData(
            target=target,
            seed=seed,
            pathnet=cfg.pathnet,
            evolution=cfg.evolution,
            train=cfg.train,
            source_dir=work / "sources",
            sources=sources,
            budget=cfg.budgets.get(method),
            source_evolution=cfg.source_evolution,
            recipe=cfg.recipe,
        )
    )
    if result.model is None:
        raise RuntimeError(f"{method} returned no model to save")
    val_acc = float((result.proba.argmax(1) == target.test.y.numpy()).mean())
    # the crop its training frames had: a corpus of face crops (``detector: none``) says so
    crop = CropSettings.from_dict(ds.settings["crop"])
    provenance = _provenance(cfg, method, seed, cut, val_acc)
    _save(result, target.labels, out, provenance, crop)
    log(f"saved {out} (validation accuracy {val_acc:.3f})")
    return out


def _checked(cfg: ExperimentConfig, method: str, out: str | Path) -> tuple[str, Path]:
    """The method's registered name and the bundle path, or a :class:`ConfigError`."""
    if method not in M.METHODS:
        raise ConfigError(f"unknown method {method!r}; available: {', '.join(M.METHODS.list())}")
    method = M.METHODS.key(method)
    if not M.trains(method):
        raise ConfigError(
            f"{method} trains nothing on the target (it uses a model as it is): use the "
            "default bundle"
        )
    out = Path(out)
    if out.suffix != ".safetensors":
        raise ConfigError(f"{out}: a bundle file name must end in .safetensors")
    if M.needs_source(method) and cfg.kind == "single":  # before any preparation
        raise ConfigError(f"{method} needs a source: use kind within or transfer")
    return method, out


def _source_model(
    cfg: ExperimentConfig, plan: Plan, method: str, seed: int, work: Path, log: Callable
) -> list[M.TaskData]:
    """The source tasks of ``method`` (none without a source), its source model trained
    into ``work`` unless there already."""
    family = M.needs_source(method)
    if not family:
        return []
    sources = [source_task(v, cfg, seed) for v in plan.sources_for(family)]
    if not (work / "sources" / f"{family}_seed{seed}.json").exists():
        log(f"training the {family} source model on {', '.join(s.name for s in sources)}")
        M.train_sources(
            family,
            sources,
            seed,
            cfg.pathnet,
            cfg.source_evolution,
            cfg.train,
            work / "sources",
            budget=family_budget(cfg, family),
            engine=get_recipe(cfg.recipe).engine_settings(),
        )
    return sources


def _provenance(
    cfg: ExperimentConfig, method: str, seed: int, cut: Split, val_acc: float
) -> dict[str, Any]:
    """What a bundle records of how it was trained."""
    return {
        "method": method,
        "experiment": cfg.name,
        "target": cfg.target.key() if cfg.target else None,
        "sources": [s.key() for s in cfg.sources],
        "seed": seed,
        "frames_fit": int(len(cut.train_idx)),
        "frames_val": int(len(cut.test_idx)),
        "val_accuracy": val_acc,
        # with refit the model also trained on the validation frames val_accuracy is on
        "refit": cfg.train.refit,
        "trained": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "pathfer": __version__,
        "environment": environment(),
        "config": cfg.to_dict(),
    }


def _save(
    result: M.MethodOutput,
    labels: list[str],
    out: Path,
    provenance: dict[str, Any],
    crop: CropSettings,
) -> None:
    model = M.unwrap(result.model).eval()
    kwargs = model.arch_kwargs() if callable(model.arch_kwargs) else dict(model.arch_kwargs)
    save_bundle(
        model,
        out,
        architecture=architecture_name(model),
        arch_kwargs=kwargs,
        labels=labels,
        crop=crop,
        provenance=provenance,
        pathnet_path=result.extra.get("best_path"),
    )


def _only(cfg: ExperimentConfig, method: str) -> ExperimentConfig:
    """``cfg`` with ``method`` as its only method (its crop and budget kept)."""
    from pathfer.study.experiments.config import config_from_dict

    raw = cfg.to_dict()
    raw["methods"] = [method]
    raw["crops"] = {k: v for k, v in raw["crops"].items() if k == method}
    raw["budgets"] = {k: v for k, v in raw["budgets"].items() if k == method}
    return config_from_dict(raw)
