"""Binary-tournament evolution of paths (Fernando et al. 2017; Nguyen et al. 2018).

One *generation* is one tournament: two members of the population are picked, each is
trained for T mini-batches and scored; the fitter one's genotype overwrites the loser's,
which then mutates. The training and scoring are supplied by the caller (``score``), so
this module holds only the selection logic, the best-path bookkeeping and the stopping
rules, and can be tested without any network.

Fitness keys are ``(fitness, -loss)`` tuples: higher is better, ties on accuracy are broken
by the lower loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import EvolutionConfig
from .genotype import Population, mutate

Key = tuple[float, float]


@dataclass
class BestKept:
    """The best path seen so far. :meth:`offer` only ever replaces it by a strictly better
    one, so the kept fitness never decreases."""

    key: Key | None = None
    genotype: np.ndarray | None = None
    generation: int = -1

    @property
    def fitness(self) -> float:
        return float("nan") if self.key is None else self.key[0]

    def offer(self, key: Key, genotype: np.ndarray, generation: int) -> bool:
        if self.key is not None and not key > self.key:
            return False
        self.key = (float(key[0]), float(key[1]))
        self.genotype = np.array(genotype, dtype=np.int64, copy=True)
        self.generation = generation
        return True


def tournament(
    population: Population,
    rng: np.random.Generator,
    score: Callable[[np.ndarray], list[Key]],
    modules: int,
    rule: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Run one binary tournament in place.

    ``score(genotypes)`` trains the ``(2, L, N)`` pair and returns their fitness keys;
    ``rule`` (optional) maps the mutated genotype to an allowed one (``train_layers``).
    Returns the indices, genotypes and keys of winner and loser (before mutation).
    """
    a, b = population.pick_pair(rng)
    pair = population.genotypes[[a, b]].copy()
    key_a, key_b = score(pair)
    winner, loser = (a, b) if key_a >= key_b else (b, a)
    w_key, l_key = (key_a, key_b) if winner == a else (key_b, key_a)
    w_geno = population.genotypes[winner].copy()
    l_geno = population.genotypes[loser].copy()
    population.fitness[winner] = w_key[0]
    child = mutate(w_geno, modules, rng)
    population.genotypes[loser] = child if rule is None else rule(child)
    # the mutated copy inherits its parent's score until it is trained and scored itself
    population.fitness[loser] = w_key[0]
    return {
        "winner": winner,
        "loser": loser,
        "winner_key": w_key,
        "loser_key": l_key,
        "winner_genotype": w_geno,
        "loser_genotype": l_geno,
    }


def stop_reason(
    evolution: EvolutionConfig, generation: int, best: BestKept, since_best: int
) -> str | None:
    """Why evolution should stop now (``None``: keep going)."""
    if generation >= evolution.generations:
        return "budget"
    if evolution.patience is not None and since_best >= evolution.patience:
        return "patience"
    return None


@dataclass
class GenerationRecord:
    """One row of the per-generation history."""

    generation: int
    best_fitness: float
    mean_fitness: float
    diversity: int
    frozen_reused: int
    winner_fitness: float
    loser_fitness: float
    wall_time: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "extra"}
        d.update(self.extra)
        return d
