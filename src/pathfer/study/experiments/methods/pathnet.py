"""PathNet methods: with the source's frozen path (transfer) and on the target alone."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pathfer.models.pathnet import PathNet
from pathfer.models.pathnet.recipes import get_recipe
from pathfer.study.experiments.methods.base import (
    FoldData,
    MethodOutput,
    pathnet_config,
    register_method,
    source_info,
    source_path,
)


def _pathnet_curve(res: Any) -> list[dict[str, Any]]:
    curve = []
    for rec in res.history:
        curve.append(
            {
                "time_s": rec["wall_time"],
                "step": rec["generation"],
                "val_acc": rec["best_fitness"],
            }
        )
    last = curve[-1]["time_s"] if curve else 0.0
    for rec in res.finish_history:
        curve.append(
            {
                "time_s": last + rec["wall_time"],
                "step": rec["step"],
                "val_acc": rec["val_accuracy"],
            }
        )
    return curve


def task_extra(res: Any) -> dict[str, Any]:
    """What a result records of a learnt PathNet task (its ``TaskResult``)."""
    return {
        "generations": res.generations,
        "stop_reason": res.stop_reason,
        "evolution_val_acc": res.evolution_val_accuracy,
        "final_val_acc": res.final_val_accuracy,
        "finish_gain": res.finish_gain,
        "frozen_reused": res.frozen_reused,
        "best_path": res.best_genotype,
        "history": res.history,
        "learning_curve": _pathnet_curve(res),
        **({} if res.refit_steps is None else {"refit": _refit_info(res)}),
    }


def _refit_info(res: Any) -> dict[str, Any]:
    return {"steps": res.refit_steps, "n_train": res.n_refit, "n_fit": res.n_train}


def _learn_target(pn: PathNet, d: FoldData) -> tuple[np.ndarray, dict[str, Any], Any]:
    t = d.target
    res = pn.learn_task(
        "target",
        t.fit.x,
        t.fit.y,
        len(t.labels),
        evolution=d.evolution,
        engine=get_recipe(d.recipe).engine_settings(),
        x_val=t.val.x,
        y_val=t.val.y,
        labels=t.labels,
        refit=d.train.refit,
    )
    extra = task_extra(res)
    if d.artifacts is not None:
        from pathfer.models.pathnet.plots import plot_evolution, plot_supernet

        d.artifacts.mkdir(parents=True, exist_ok=True)
        sn = d.artifacts / f"{d.tag}__paths.png"
        ev = d.artifacts / f"{d.tag}__evolution.png"
        plot_supernet(pn, sn)
        plot_evolution(res.history, ev)
        extra["path_images"] = [sn.name, ev.name]
    model = pn.task_model("target")
    return pn.predict_proba("target", t.test.x), extra, model


@register_method("pathnet_transfer", needs_source="pathnet", cost=6)
def pathnet_transfer(d: FoldData) -> MethodOutput:
    """PathNet: source paths frozen, target paths evolved through the super-network."""
    t0 = time.perf_counter()
    pn = PathNet.load(source_path(d.source_dir, "pathnet", d.seed).with_suffix(".safetensors"))
    info = source_info(d.source_dir, "pathnet", d.seed)
    proba, extra, model = _learn_target(pn, d)
    extra["source_acc_before"] = float(np.mean([t["test_acc"] for t in info["tasks"]]))
    extra["source_acc_after"] = float(
        np.mean([pn.evaluate(s.name, s.test.x, s.test.y)["accuracy"] for s in d.sources])
    )
    extra["source_train_time_s"] = info["train_time_s"]
    return MethodOutput(proba, time.perf_counter() - t0, extra, model)


@register_method("pathnet_target", cost=5)
def pathnet_target(d: FoldData) -> MethodOutput:
    """PathNet on the target alone (no source task)."""
    t0 = time.perf_counter()
    pn = PathNet(pathnet_config(d, int(d.target.fit.x.shape[-1])), seed=d.seed)
    proba, extra, model = _learn_target(pn, d)
    return MethodOutput(proba, time.perf_counter() - t0, extra, model)
