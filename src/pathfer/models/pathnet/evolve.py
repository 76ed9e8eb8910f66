"""The evolution stage of ``learn_task``: binary tournaments (see :mod:`.evolution`) whose
pairs are trained together and scored, until the budget or the patience runs out; the best
path seen and its weights are kept."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .data import TaskData
from .evolution import GenerationRecord, Key, stop_reason, tournament
from .strategies.train_layers import PathRule, path_rule
from .tasks import Task
from .training import evaluate_paths, restore, snapshot, train_paths

if TYPE_CHECKING:
    from .model import PathNet

Progress = Callable[[dict[str, Any]], None] | None


def pair_scorer(pn: PathNet, task: Task, data: TaskData) -> Callable[[np.ndarray], list[Key]]:
    """``score(pair)``: train the ``(2, L, N)`` pair together for T mini-batches, then their
    fitness keys ``(accuracy, -loss)`` on the validation part (or the training batches)."""
    run, name = task.run, task.name
    ev, engine = run.evolution, run.engine

    def score(pair: np.ndarray) -> list[Key]:
        tr_acc, tr_loss = train_paths(
            pn, name, pair, data.x, data.y, ev.steps_per_path, ev, ev.lr, engine
        )
        if ev.fitness == "train":
            return [(float(tr_acc[p]), -float(tr_loss[p])) for p in range(2)]
        acc, loss = evaluate_paths(
            pn, name, pair, data.xv, data.yv, engine.eval_batch_size, data.val_cache
        )
        return [(float(acc[p]), -float(loss[p])) for p in range(2)]

    return score


def generation(
    pn: PathNet,
    task: Task,
    score: Callable[[np.ndarray], list[Key]],
    rule: PathRule | None = None,
) -> dict:
    """One tournament (``rule``: the task's :func:`path_rule`); the kept best path (and its
    weights) updated. Returns its record."""
    run = task.run
    t0 = time.perf_counter()
    out = tournament(run.population, pn.rng, score, pn.config.modules, rule)
    run.generation += 1
    previous = run.best.fitness
    if run.best.offer(out["winner_key"], out["winner_genotype"], run.generation):
        run.snapshot = snapshot(pn, task.name, run.best.genotype)
    # patience counts generations without a higher fitness (a better loss on equal
    # accuracy replaces the kept path but does not reset it)
    if math.isnan(previous) or run.best.fitness > previous:
        run.since_best = 0
    else:
        run.since_best += 1
    run.wall += time.perf_counter() - t0
    return GenerationRecord(
        generation=run.generation,
        best_fitness=run.best.fitness,
        mean_fitness=run.population.mean_fitness(),
        diversity=run.population.diversity(),
        frozen_reused=pn.frozen_reused(run.best.genotype),
        winner_fitness=out["winner_key"][0],
        loser_fitness=out["loser_key"][0],
        wall_time=run.wall,
    ).as_dict()


def evolve(
    pn: PathNet,
    task: Task,
    data: TaskData,
    progress: Progress,
    save: Callable[[], None],
    every: int,
) -> None:
    """Run tournaments until a stop rule fires, then put the best path's weights back and
    record its validation ``(accuracy, loss)`` in ``run.evolution_val``."""
    run = task.run
    score = pair_scorer(pn, task, data)
    rule = path_rule(pn, run.evolution)  # the frozen modules stay as they are until the freeze
    while (reason := stop_reason(run.evolution, run.generation, run.best, run.since_best)) is None:
        rec = generation(pn, task, score, rule)
        run.history.append(rec)
        if every and run.generation % every == 0:
            save()
        if progress is not None:
            progress({"stage": "evolve", "task": task.name, **rec})
    run.stop = reason
    _settle_best(pn, task, data)


def _settle_best(pn: PathNet, task: Task, data: TaskData) -> None:
    run, name = task.run, task.name
    chunk = run.engine.eval_batch_size
    if run.best.genotype is None:  # zero-generation budget: take the first member as is
        g = run.population.genotypes[0]
        acc, loss = evaluate_paths(pn, name, g, data.xv, data.yv, chunk, data.val_cache)
        run.best.offer((float(acc[0]), -float(loss[0])), g, 0)
        run.snapshot = snapshot(pn, name, g)
    restore(pn, name, run.best.genotype, run.snapshot)
    acc, loss = evaluate_paths(pn, name, run.best.genotype, data.xv, data.yv, chunk, data.val_cache)
    run.evolution_val = (float(acc[0]), float(loss[0]))
