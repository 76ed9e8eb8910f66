"""The life of a PathNet task: a small state machine, and its record.

::

    (unknown) --learn_task--> evolving --(evolution + finish done)--> trained --freeze--> frozen

``evolving`` is only seen from outside when a run was interrupted (``learn_task`` with the
same data resumes it from the :class:`Run` it left). Each transition is checked here
(:meth:`Task.require_learnable`, :meth:`Task.require_usable`, :meth:`Task.require_freezable`,
:meth:`Task.require_forgettable`); an illegal step raises :class:`PathNetStateError` with
a message that says what to do instead. :func:`task_to_json` / :func:`task_from_json`
give a task's JSON form for checkpoints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import torch

from .config import EngineSettings, EvolutionConfig
from .evolution import BestKept
from .genotype import Population


class PathNetStateError(RuntimeError):
    """An operation is not allowed in the task's current state (or the task is unknown)."""


class TaskStatus(str, Enum):
    EVOLVING = "evolving"
    TRAINED = "trained"
    FROZEN = "frozen"


@dataclass
class TaskResult:
    """Outcome of ``learn_task``.

    ``evolution_val_accuracy`` is the validation accuracy of the evolved best path before the
    finish stage, ``final_val_accuracy`` after it; ``finish_gain`` is their difference and
    ``evolution_gain`` the evolved accuracy above ``chance_accuracy`` (majority class of the
    validation part). ``evolution_fitness`` is the best kept fitness (validation or training
    accuracy, per ``EvolutionConfig.fitness``).
    """

    name: str
    best_genotype: list[list[int]]
    generations: int
    stop_reason: str
    evolution_fitness: float
    evolution_val_accuracy: float
    final_val_accuracy: float
    finish_gain: float
    evolution_gain: float
    chance_accuracy: float
    finish_steps: int
    frozen_reused: int
    n_train: int
    n_val: int
    wall_time: float
    history: list[dict[str, Any]] = field(default_factory=list)
    finish_history: list[dict[str, Any]] = field(default_factory=list)
    #: ``learn_task(refit=True)``: the finish steps rerun on training + validation data, and
    #: how many samples that was (None / 0: no refit; the validation scores above are
    #: those of the chosen, not the refitted, weights)
    refit_steps: int | None = None
    n_refit: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def history_frame(self):
        """The per-generation history as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.history)


@dataclass
class Run:
    """Everything needed to resume an interrupted ``learn_task``."""

    evolution: EvolutionConfig
    engine: EngineSettings
    fingerprint: str
    population: Population
    stage: str = "evolve"  # "evolve" -> "finish"
    generation: int = 0
    best: BestKept = field(default_factory=BestKept)
    since_best: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    wall: float = 0.0
    stop: str | None = None
    evolution_val: tuple[float, float] | None = None  # (acc, loss) of the evolved best
    #: copies of the best path's module rows and head, taken when it became the best
    snapshot: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class Task:
    name: str
    n_classes: int
    labels: list[str] | None
    status: TaskStatus
    genotype: np.ndarray | None = None
    result: TaskResult | None = None
    run: Run | None = None

    # -- transitions --------------------------------------------------------------------
    def require_learnable(self) -> None:
        """``learn_task`` may start or resume this task only while it is evolving."""
        if self.status is not TaskStatus.EVOLVING:
            raise PathNetStateError(
                f"task {self.name!r} is already {self.status.value}; it cannot be trained again "
                "(learn a task under a new name, or forget() an unfrozen one first)"
            )

    def require_usable(self) -> None:
        """Predicting needs a learnt path (trained or frozen)."""
        if self.status is TaskStatus.EVOLVING:
            raise PathNetStateError(
                f"task {self.name!r} is still evolving (interrupted run): call learn_task again "
                "with the same data to finish it"
            )

    def require_freezable(self, unfrozen_others: list[str]) -> None:
        """Only a trained task is frozen, and only when no other task would lose its
        modules (freezing re-initialises every module that is not frozen)."""
        if self.status is TaskStatus.FROZEN:
            raise PathNetStateError(f"task {self.name!r} is already frozen")
        if self.status is TaskStatus.EVOLVING:
            raise PathNetStateError(
                f"task {self.name!r} is still evolving; finish learn_task before freezing it"
            )
        if unfrozen_others:
            raise PathNetStateError(
                f"freezing {self.name!r} would re-initialise the modules of unfrozen task(s) "
                f"{', '.join(map(repr, unfrozen_others))}: freeze or forget() them first"
            )

    def require_forgettable(self) -> None:
        if self.status is TaskStatus.FROZEN:
            raise PathNetStateError(f"task {self.name!r} is frozen and cannot be forgotten")


def _floats_out(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in values]


def _floats_in(values: list[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


def run_to_json(run: Run) -> dict[str, Any]:
    return {
        "evolution": run.evolution.as_dict(),
        "engine": run.engine.as_dict(),
        "fingerprint": run.fingerprint,
        "population": run.population.genotypes.tolist(),
        "population_fitness": _floats_out(run.population.fitness),
        "stage": run.stage,
        "generation": run.generation,
        "best_key": None if run.best.key is None else list(run.best.key),
        "best_genotype": None if run.best.genotype is None else run.best.genotype.tolist(),
        "best_generation": run.best.generation,
        "since_best": run.since_best,
        "history": run.history,
        "wall": run.wall,
        "stop": run.stop,
        "evolution_val": None if run.evolution_val is None else list(run.evolution_val),
    }


def run_from_json(d: dict[str, Any], snapshot: dict[str, torch.Tensor]) -> Run:
    best = BestKept()
    if d["best_key"] is not None:
        best.key = (float(d["best_key"][0]), float(d["best_key"][1]))
        best.genotype = np.array(d["best_genotype"], dtype=np.int64)
        best.generation = int(d["best_generation"])
    return Run(
        evolution=EvolutionConfig.from_dict(d["evolution"]),
        engine=EngineSettings.from_dict(d["engine"]),
        fingerprint=d["fingerprint"],
        population=Population(
            np.array(d["population"], dtype=np.int64), _floats_in(d["population_fitness"])
        ),
        stage=d["stage"],
        generation=int(d["generation"]),
        best=best,
        since_best=int(d["since_best"]),
        history=list(d["history"]),
        wall=float(d["wall"]),
        stop=d["stop"],
        evolution_val=None if d["evolution_val"] is None else tuple(d["evolution_val"]),
        snapshot=snapshot,
    )


def task_to_json(t: Task) -> dict[str, Any]:
    """The task's JSON form (its run's snapshot tensors are stored separately)."""
    return {
        "name": t.name,
        "n_classes": t.n_classes,
        "labels": t.labels,
        "status": t.status.value,
        "genotype": None if t.genotype is None else t.genotype.tolist(),
        "result": None if t.result is None else t.result.as_dict(),
        "run": None if t.run is None else run_to_json(t.run),
    }


def task_from_json(entry: dict[str, Any], snapshot: dict[str, torch.Tensor]) -> Task:
    return Task(
        name=entry["name"],
        n_classes=entry["n_classes"],
        labels=entry["labels"],
        status=TaskStatus(entry["status"]),
        genotype=None if entry["genotype"] is None else np.array(entry["genotype"], np.int64),
        result=None if entry["result"] is None else TaskResult(**entry["result"]),
        run=None if entry["run"] is None else run_from_json(entry["run"], snapshot),
    )
