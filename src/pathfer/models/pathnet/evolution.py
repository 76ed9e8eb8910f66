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
    *,
    pinned: np.ndarray | None = None,
) -> dict[str, Any]:
    """Run one binary tournament in place.

    ``score(genotypes)`` trains the ``(2, L, N)`` pair and returns their fitness keys.
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
    population.genotypes[loser] = mutate(w_geno, modules, rng, pinned=pinned)
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
    if (
        evolution.target_fitness is not None
        and best.key is not None
        and best.fitness >= evolution.target_fitness
    ):
        return "target"
    if evolution.patience is not None and since_best >= evolution.patience:
        return "patience"
    return None


def seed_population(
    population: Population,
    source: np.ndarray | None,
    evolution: EvolutionConfig,
    copies: np.ndarray | None = None,
) -> np.ndarray | None:
    """Apply the transfer options to a fresh population in place; return the pinned mask.

    * ``seed_frozen_fraction``: that fraction of members (rounded, the first ones) become
      copies of the frozen ``source`` path;
    * ``seed_copy_fraction``: that fraction of members (rounded, the next ones) become
      ``copies``, the source path through trainable copies of its modules (when given);
    * ``frozen_slots = k``: in every member and layer, the first ``k`` genes are set to (up
      to ``k`` distinct) modules of the source path and never mutate.
    """
    if source is None:
        return None
    n_seed = int(round(evolution.seed_frozen_fraction * len(population)))
    for i in range(n_seed):
        population.genotypes[i] = source
    if copies is not None:
        n_copy = int(round(evolution.seed_copy_fraction * len(population)))
        for i in range(n_seed, min(n_seed + n_copy, len(population))):
            population.genotypes[i] = copies
    if evolution.frozen_slots == 0:
        return None
    L, N = source.shape
    pinned = np.zeros((L, N), dtype=bool)
    for layer in range(L):
        distinct = list(dict.fromkeys(int(m) for m in source[layer]))
        k = min(evolution.frozen_slots, N, len(distinct))
        pinned[layer, :k] = True
        population.genotypes[:, layer, :k] = distinct[:k]
    return pinned


def seed_fresh(population: Population, frozen: np.ndarray, rng: np.random.Generator) -> None:
    """``compare_fresh``: the second half of a fresh population is redrawn from trainable
    modules only (``frozen``: ``(L, M)`` bool), so paths without frozen modules compete
    from the start (with ``M = 10, N = 3`` a random path avoids a frozen path of three
    modules per layer in all four layers less than once in a hundred draws; with ``N = 1``
    two times in three)."""
    P, L, N = population.genotypes.shape
    for i in range(P // 2, P):
        for layer in range(L):
            free = np.flatnonzero(~frozen[layer])
            if len(free) >= N:
                population.genotypes[i, layer] = rng.choice(free, size=N, replace=False)


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
