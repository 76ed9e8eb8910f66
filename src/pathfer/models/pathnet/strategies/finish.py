"""How the evolved winner is finished: trained alone for at most ``finish_steps``
mini-batches, evaluated on the validation part every ``finish_eval_every`` steps, stopped
after ``finish_patience`` evaluations without a better one; the best weights seen are kept,
the evolved ones among them (``finish_baseline: evolved``: the finish must beat the evolved
path's validation score) or not (``own``: the best of the finish's own evaluations).

The rate: ``transfer_finish_lr`` for a task learnt while frozen modules exist (a target),
``finish_lr`` (or ``lr``) otherwise (a source, PathNet alone)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import EvolutionConfig
from ..data import TaskData
from ..training import evaluate_paths, restore, snapshot, train_paths

if TYPE_CHECKING:
    from ..model import PathNet
    from ..tasks import Task


def finish_rate(ev: EvolutionConfig, transfer: bool) -> float:
    """The finish stage's rate; ``transfer``: frozen modules exist."""
    if ev.transfer_finish_lr is not None and transfer:
        return ev.transfer_finish_lr
    return ev.effective_finish_lr


def baseline_key(ev: EvolutionConfig, start: tuple[float, float]) -> tuple[float, float]:
    """The ``(accuracy, -loss)`` key the finish's kept weights must beat, from the evolved
    path's validation ``start = (accuracy, loss)``."""
    if ev.finish_baseline == "own":
        return (-math.inf, -math.inf)
    return (start[0], -start[1])


def finish(
    pn: PathNet,
    task: Task,
    data: TaskData,
    progress: Callable[[dict[str, Any]], None] | None,
    genotype: np.ndarray,
    start: tuple[float, float],
) -> list[dict[str, Any]]:
    """Finish ``genotype`` from validation ``start = (accuracy, loss)``; the best weights
    seen are restored. Returns the history of its evaluations."""
    run, name = task.run, task.name
    ev, engine = run.evolution, run.engine
    geno = genotype[None]
    history: list[dict[str, Any]] = []
    best_key = baseline_key(ev, start)
    if ev.finish_steps == 0:
        return history
    snap = snapshot(pn, name, genotype)
    done, bad = 0, 0
    t0 = time.perf_counter()
    lr = finish_rate(ev, bool(pn.frozen.any()))
    while done < ev.finish_steps:
        n = min(engine.finish_eval_every, ev.finish_steps - done)
        train_paths(pn, name, geno, data.x, data.y, n, ev, lr, engine)
        done += n
        acc, loss = evaluate_paths(
            pn, name, geno, data.xv, data.yv, engine.eval_batch_size, data.val_cache
        )
        rec = {
            "step": done,
            "val_accuracy": float(acc[0]),
            "val_loss": float(loss[0]),
            "wall_time": time.perf_counter() - t0,
        }
        history.append(rec)
        if progress is not None:
            progress({"stage": "finish", "task": name, **rec})
        key = (float(acc[0]), -float(loss[0]))
        if key > best_key:
            best_key, bad = key, 0
            snap = snapshot(pn, name, genotype)
        else:
            bad += 1
            if bad >= ev.finish_patience:
                break
    restore(pn, name, genotype, snap)
    return history
