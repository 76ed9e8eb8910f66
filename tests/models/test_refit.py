"""Choose, then refit: the final model trains on fit + validation data with the choice the
validation part made; off, nothing changes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from pathfer.models.baselines.reference_cnn import ReferenceCNN
from pathfer.models.pathnet import EvolutionConfig, PathNet, PathNetConfig
from pathfer.models.pathnet.strategies.refit import chosen_steps
from pathfer.models.pathnet.toy import toy_task
from pathfer.study.experiments.budgets import MethodBudget, TrainBudget
from pathfer.study.experiments.methods.base import Part, TaskData, tuned_fit

CFG = PathNetConfig(layers=2, modules=4, channels=(4, 6), input_size=16, head_hidden=8)
EV = EvolutionConfig(
    population=4, steps_per_path=3, batch_size=8, generations=4, finish_steps=100, finish_patience=3
)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_chosen_steps_follow_the_finish_rule():
    hist = [
        {"step": 25, "val_accuracy": 0.5, "val_loss": 1.0},
        {"step": 50, "val_accuracy": 0.6, "val_loss": 0.9},
        {"step": 75, "val_accuracy": 0.6, "val_loss": 0.8},  # same accuracy, lower loss
        {"step": 100, "val_accuracy": 0.55, "val_loss": 0.5},
    ]
    own = dataclasses.replace(EV, finish_baseline="own")
    assert chosen_steps(hist, (0.4, 1.2), EV) == 75
    assert chosen_steps(hist, (0.7, 1.0), EV) == 0  # the evolved weights stay best
    assert chosen_steps(hist, (0.7, 1.0), own) == 75  # only the finish's evaluations count
    assert chosen_steps([], (0.5, 1.0), EV) == 0


def _learn(refit: bool):
    x, y = toy_task(60, size=16, n_classes=3, seed=1)
    xv, yv = toy_task(30, size=16, n_classes=3, seed=2)
    pn = PathNet(CFG, seed=1)
    res = pn.learn_task("A", x, y, 3, evolution=EV, x_val=xv, y_val=yv, refit=refit)
    return pn, res, x


def test_pathnet_refit_reruns_the_chosen_finish_on_fit_and_val():
    pn0, off, x = _learn(False)
    pn1, on, _ = _learn(True)
    assert off.refit_steps is None and off.n_refit == 0
    assert on.n_refit == 90 and on.n_train == 60 and on.n_val == 30
    # the finish length the validation part chose: the step of the kept weights
    steps = {h["step"]: h["val_accuracy"] for h in on.finish_history}
    assert on.refit_steps in steps and steps[on.refit_steps] == on.final_val_accuracy
    assert on.final_val_accuracy > on.evolution_val_accuracy
    # the choice is the same: path, histories, validation scores of the chosen weights
    assert on.best_genotype == off.best_genotype
    assert _timeless(on.history) == _timeless(off.history)
    assert _timeless(on.finish_history) == _timeless(off.finish_history)
    assert on.final_val_accuracy == off.final_val_accuracy
    # the final weights are another training's
    assert not np.array_equal(pn0.predict_proba("A", x), pn1.predict_proba("A", x))


def _timeless(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "wall_time"} for h in history]


def _task() -> TaskData:
    x, y = toy_task(90, size=48, n_classes=3, seed=3)
    return TaskData(
        "T", ["a", "b", "c"], Part(x[:50], y[:50]), Part(x[50:70], y[50:70]), Part(x[70:], y[70:])
    )


@pytest.mark.parametrize("refit,epochs", [(False, None), (True, "chosen"), (True, "max")])
def test_tuned_fit_refit_trains_the_chosen_rate_on_fit_and_val(refit, epochs):
    task = _task()
    budget = MethodBudget(lrs=[1e-3, 3e-3], max_epochs=4, patience=1)
    make = lambda: ReferenceCNN(3, input_size=48)  # noqa: E731
    torch.manual_seed(0)
    train = TrainBudget(refit=refit, refit_epochs=epochs or "max")
    model, info = tuned_fit(make, task, train, 0, budget)
    if not refit:
        assert "refit" not in info
        return
    r = info["refit"]
    assert info["best_epoch"] + 1 < 4  # the two rules give different epochs here
    # max: the budget fixed in advance; chosen: where the validation run stopped
    assert r["epochs"] == (4 if epochs == "max" else info["best_epoch"] + 1)
    assert r["n_train"] == 70 and r["steps"] == r["epochs"] * 3  # 70 samples, batches of 32
    torch.manual_seed(0)
    chosen, same = tuned_fit(make, task, TrainBudget(refit=False), 0, budget)
    assert same["lr"] == info["lr"] and same["best_epoch"] == info["best_epoch"]
    x = task.test.x
    assert not torch.equal(model.eval()(x), chosen.eval()(x))
