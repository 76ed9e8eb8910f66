"""How a task's population starts: random paths (the paper), then the first
``seed_copy_fraction`` of them (rounded) set to the most recently frozen task's path through
the trainable copies of its modules (``free_init="copy"``): those members start as the
source network and fine-tune it; evolution may keep, mutate or drop them. Genes in layers
the task may not train (``train_layers``) then move to frozen modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..config import EvolutionConfig
from ..genotype import Population
from .free_init import source_through_copies
from .train_layers import path_rule

if TYPE_CHECKING:
    from ..model import PathNet


def initial_population(pn: PathNet, ev: EvolutionConfig) -> Population:
    """Random paths from ``pn.rng``, seeded through the source's copies."""
    cfg = pn.config
    population = Population.random(ev.population, cfg.layers, cfg.modules, cfg.max_active, pn.rng)
    seed_copies(population, source_through_copies(pn, pn._source_path()), ev.seed_copy_fraction)
    rule = path_rule(pn, ev)
    if rule is not None:
        population.genotypes = rule(population.genotypes)
    return population


def seed_copies(population: Population, copies: np.ndarray | None, fraction: float) -> None:
    """Set the first ``round(fraction * P)`` members to ``copies`` (none when ``None``)."""
    if copies is None:
        return
    n_copy = int(round(fraction * len(population)))
    for i in range(min(n_copy, len(population))):
        population.genotypes[i] = copies
