"""How a task's population starts: random paths (the paper), then the first
``seed_copy_fraction`` of them (rounded) set to the most recently frozen task's path through
the trainable copies of its modules (``free_init="copy"``): those members start as the
source network and fine-tune it; evolution may keep, mutate or drop them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import EvolutionConfig
from ..genotype import Population
from .free_init import source_through_copies

if TYPE_CHECKING:
    from ..model import PathNet


def initial_population(pn: PathNet, ev: EvolutionConfig) -> Population:
    cfg = pn.config
    population = Population.random(ev.population, cfg.layers, cfg.modules, cfg.max_active, pn.rng)
    copies = source_through_copies(pn, pn._source_path())
    if copies is not None:
        n_copy = int(round(ev.seed_copy_fraction * len(population)))
        for i in range(min(n_copy, len(population))):
            population.genotypes[i] = copies
    return population
