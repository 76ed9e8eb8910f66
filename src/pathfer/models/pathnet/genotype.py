"""Genotypes (paths through the super-network) and the population that evolves them.

A genotype is an ``(L, N)`` int64 array: row ``l`` lists the module indices in ``[0, M)``
that the path activates in layer ``l``. Repeated indices in a row count once, so a path
has at most N *distinct* active modules per layer.

All randomness comes from an explicit :class:`numpy.random.Generator`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

#: genes shift by a uniform integer in [-MAX_SHIFT, MAX_SHIFT] when mutated
MAX_SHIFT = 2


def random_genotype(
    layers: int, modules: int, max_active: int, rng: np.random.Generator
) -> np.ndarray:
    """A random path: ``max_active`` distinct modules drawn uniformly in every layer."""
    if max_active > modules:
        raise ValueError(f"max_active={max_active} cannot exceed modules={modules}")
    rows = [rng.choice(modules, size=max_active, replace=False) for _ in range(layers)]
    return np.stack(rows).astype(np.int64)


def active_modules(genotype: np.ndarray) -> list[np.ndarray]:
    """The sorted distinct module indices of every layer."""
    return [np.unique(row) for row in np.asarray(genotype)]


def first_occurrence_mask(genotype: np.ndarray) -> np.ndarray:
    """``(L, N)`` bool: True where a gene is the first occurrence of its module in the row.

    Masking the repeated genes makes a row with duplicates behave like its distinct set.
    """
    g = np.asarray(genotype)
    mask = np.ones(g.shape, dtype=bool)
    for j in range(1, g.shape[1]):
        mask[:, j] = ~(g[:, :j] == g[:, j : j + 1]).any(axis=1)
    return mask


def canonical(genotype: np.ndarray) -> tuple[tuple[int, ...], ...]:
    """Hashable form: the set of active modules per layer (order and repeats ignored)."""
    return tuple(tuple(int(i) for i in row) for row in active_modules(genotype))


def mutation_deltas(
    shape: tuple[int, int], rng: np.random.Generator, rate: float | None = None
) -> np.ndarray:
    """Integer shifts for every gene: each gene is picked with probability ``rate``
    (default ``1 / (L * N)``) and, if picked, shifted by a uniform integer in [-2, 2]."""
    layers, n = shape
    p = 1.0 / (layers * n) if rate is None else rate
    picked = rng.random(shape) < p
    shifts = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=shape)
    return np.where(picked, shifts, 0).astype(np.int64)


def mutate(
    genotype: np.ndarray,
    modules: int,
    rng: np.random.Generator,
    *,
    rate: float | None = None,
) -> np.ndarray:
    """Return a mutated copy: shifted genes are clipped to ``[0, modules - 1]``."""
    g = np.asarray(genotype, dtype=np.int64)
    deltas = mutation_deltas(g.shape, rng, rate)
    return np.clip(g + deltas, 0, modules - 1)


def keep_frozen(genotypes: np.ndarray, frozen: np.ndarray, layers: Iterable[int]) -> np.ndarray:
    """A copy of ``genotypes`` (``(L, N)`` or ``(P, L, N)``) whose genes in ``layers`` all
    point at frozen modules: a gene at a trainable module moves to the nearest frozen module
    of its layer (the lower index on a tie). ``frozen``: the ``(L, M)`` mask; each of
    ``layers`` needs a frozen module."""
    g = np.array(genotypes, dtype=np.int64, copy=True)
    for layer in layers:
        rows = np.flatnonzero(frozen[layer])
        if len(rows) == 0:
            raise ValueError(f"layer {layer} has no frozen module to keep")
        genes = g[..., layer, :]
        nearest = np.abs(genes[..., None] - rows).argmin(axis=-1)  # argmin: the lower on a tie
        g[..., layer, :] = rows[nearest]
    return g


def validate_genotype(genotype: np.ndarray, layers: int, modules: int, max_active: int) -> None:
    g = np.asarray(genotype)
    if g.shape != (layers, max_active):
        raise ValueError(f"genotype must have shape ({layers}, {max_active}), got {g.shape}")
    if g.min() < 0 or g.max() >= modules:
        raise ValueError(f"genotype indices must be in [0, {modules - 1}], got {g.tolist()}")


@dataclass
class Population:
    """``genotypes``: ``(P, L, N)`` int64; ``fitness``: ``(P,)`` float (NaN = not yet scored)."""

    genotypes: np.ndarray
    fitness: np.ndarray

    @classmethod
    def random(
        cls, size: int, layers: int, modules: int, max_active: int, rng: np.random.Generator
    ) -> Population:
        g = np.stack([random_genotype(layers, modules, max_active, rng) for _ in range(size)])
        return cls(g, np.full(size, np.nan))

    def __len__(self) -> int:
        return len(self.genotypes)

    def pick_pair(self, rng: np.random.Generator) -> tuple[int, int]:
        """Two distinct members chosen uniformly."""
        a, b = rng.choice(len(self), size=2, replace=False)
        return int(a), int(b)

    def diversity(self) -> int:
        """Number of distinct paths (as sets of active modules per layer)."""
        return len({canonical(g) for g in self.genotypes})

    def mean_fitness(self) -> float:
        f = self.fitness[~np.isnan(self.fitness)]
        return float(f.mean()) if len(f) else float("nan")

    def copy(self) -> Population:
        return Population(self.genotypes.copy(), self.fitness.copy())
