"""Genotypes, mutation, tournaments and config validation (no network involved)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathfer.models.pathnet.config import EvolutionConfig, PathNetConfig
from pathfer.models.pathnet.evolution import BestKept, stop_reason, tournament
from pathfer.models.pathnet.genotype import (
    MAX_SHIFT,
    Population,
    active_modules,
    canonical,
    first_occurrence_mask,
    keep_frozen,
    mutate,
    mutation_deltas,
    random_genotype,
)
from pathfer.models.pathnet.strategies.seeding import seed_copies

shapes = st.tuples(
    st.integers(1, 6),  # L
    st.integers(1, 12),  # M
    st.integers(1, 4),  # N
).filter(lambda t: t[2] <= t[1])


@given(shapes, st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_random_genotype_in_range_and_distinct(shape, seed):
    L, M, N = shape
    g = random_genotype(L, M, N, np.random.default_rng(seed))
    assert g.shape == (L, N) and g.dtype == np.int64
    assert g.min() >= 0 and g.max() < M
    assert all(len(set(row)) == N for row in g.tolist())


@given(shapes, st.integers(0, 2**32 - 1), st.integers(1, 30))
@settings(max_examples=60, deadline=None)
def test_mutation_stays_in_range_and_shifts_at_most_two(shape, seed, rounds):
    L, M, N = shape
    rng = np.random.default_rng(seed)
    g = random_genotype(L, M, N, rng)
    for _ in range(rounds):
        new = mutate(g, M, rng)
        assert new.shape == (L, N)
        assert new.min() >= 0 and new.max() <= M - 1
        assert np.abs(new - g).max() <= MAX_SHIFT
        # at most N distinct active modules per layer, whatever the repeats
        assert all(len(a) <= N for a in active_modules(new))
        g = new


@pytest.mark.parametrize("L,N", [(4, 3), (2, 2), (6, 1)])
def test_mutation_rate_is_one_over_LN(L, N):
    rng = np.random.default_rng(123)
    draws = np.stack([mutation_deltas((L, N), rng) for _ in range(20_000)])
    p = 1.0 / (L * N)
    # a picked gene shifts by 0 with probability 1/5, so P(delta != 0) = 4p/5
    frac = (draws != 0).mean()
    n = draws.size
    sd = np.sqrt(0.8 * p * (1 - 0.8 * p) / n)
    assert abs(frac - 0.8 * p) < 5 * sd
    # about one picked gene per genotype on average
    per_geno = (draws != 0).sum(axis=(1, 2)).mean()
    assert abs(per_geno - 0.8) < 0.05
    nz = draws[draws != 0]
    assert set(np.unique(nz)) == {-2, -1, 1, 2}
    counts = np.array([(nz == v).sum() for v in (-2, -1, 1, 2)])
    assert counts.min() / counts.max() > 0.8  # uniform over the non-zero shifts


def test_mutation_clips_at_the_edges():
    rng = np.random.default_rng(0)
    g = np.array([[0, 4]])
    seen = set()
    for _ in range(500):
        seen.update(mutate(g, 5, rng, rate=1.0).ravel().tolist())
    assert seen <= set(range(5)) and {0, 4} <= seen


def test_first_occurrence_mask_and_canonical():
    g = np.array([[3, 3, 1], [2, 0, 2]])
    assert first_occurrence_mask(g).tolist() == [[True, False, True], [True, True, False]]
    assert canonical(g) == ((1, 3), (0, 2))
    assert canonical(np.array([[1, 3, 3], [0, 2, 0]])) == canonical(g)


def test_population_diversity_and_mean():
    pop = Population(np.array([[[0, 1]], [[1, 0]], [[2, 2]]]), np.array([np.nan, 0.5, 1.0]))
    assert pop.diversity() == 2
    assert pop.mean_fitness() == 0.75


@given(
    st.integers(0, 2**32 - 1),
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 5)), min_size=2, max_size=60),
)
@settings(max_examples=60, deadline=None)
def test_tournament_never_lowers_best_kept(seed, scores):
    """Whatever fitness the paths get, the kept best is monotone and always the max seen."""
    rng = np.random.default_rng(seed)
    pop = Population.random(6, 3, 8, 2, rng)
    best = BestKept()
    it = iter(scores)
    seen = []

    def score(pair):
        assert pair.shape == (2, 3, 2)
        out = []
        for _ in range(2):
            acc, loss = next(it, (0.0, 1.0))
            out.append((acc, -loss))
        seen.extend(out)
        return out

    previous = -np.inf
    for gen in range(len(scores) // 2):
        before = pop.genotypes.copy()
        out = tournament(pop, rng, score, 8)
        best.offer(out["winner_key"], out["winner_genotype"], gen)
        assert best.key >= out["loser_key"] and best.key >= out["winner_key"]
        assert best.fitness >= previous
        previous = best.fitness
        # the winner survives unchanged, the loser is a (mutated) copy of it
        w, lo = out["winner"], out["loser"]
        assert (pop.genotypes[w] == before[w]).all()
        assert np.abs(pop.genotypes[lo] - before[w]).max() <= MAX_SHIFT
        others = [i for i in range(6) if i not in (w, lo)]
        assert (pop.genotypes[others] == before[others]).all()
    assert seen and best.key == max(seen)


def test_best_kept_keeps_first_on_ties():
    b = BestKept()
    assert b.offer((0.5, -1.0), np.zeros((1, 1)), 1)
    assert not b.offer((0.5, -1.0), np.ones((1, 1)), 2)
    assert not b.offer((0.4, 0.0), np.ones((1, 1)), 3)
    assert b.offer((0.5, -0.9), np.ones((1, 1)), 4)
    assert b.generation == 4


def test_stop_reasons():
    ev = EvolutionConfig(generations=10, patience=3)
    b = BestKept()
    assert stop_reason(ev, 0, b, 0) is None
    assert stop_reason(ev, 10, b, 0) == "budget"
    b.offer((0.95, 0.0), np.zeros((1, 1)), 1)
    assert stop_reason(ev, 2, b, 0) is None
    b2 = BestKept()
    b2.offer((0.5, 0.0), np.zeros((1, 1)), 1)
    assert stop_reason(ev, 5, b2, 3) == "patience"


def test_seed_copies_sets_the_first_members_to_the_source_through_its_copies():
    rng = np.random.default_rng(0)
    pop = Population.random(8, 2, 6, 3, rng)
    copies = np.array([[3, 4, 4], [5, 1, 2]])
    seed_copies(pop, copies, 0.5)
    assert all((pop.genotypes[i] == copies).all() for i in range(4))
    assert not any((pop.genotypes[i] == copies).all() for i in range(4, 8))
    seed_copies(pop, copies, 1.0)
    assert all((pop.genotypes[i] == copies).all() for i in range(8))


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"layers": 0}, "layers"),
        ({"max_active": 11}, "max_active"),
        ({"channels": (8, 8)}, "channels"),
        ({"kernel": 4}, "kernel"),
        ({"norm": "layer"}, "norm"),
        ({"head_dropout": 1.0}, "head_dropout"),
        ({"free_init": "zeros"}, "free_init"),
        ({"combine": "max"}, "combine"),
        ({"norm": "group", "norm_groups": 3}, "norm_groups"),
        ({"input_size": 8, "layers": 4}, "input_size"),
    ],
)
def test_pathnet_config_validation(kwargs, field):
    with pytest.raises(ValueError, match=field):
        PathNetConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"population": 1}, "population"),
        ({"steps_per_path": 0}, "steps_per_path"),
        ({"lr": 0.0}, "lr"),
        ({"fitness": "test"}, "fitness"),
        ({"frozen_slots": 1}, "frozen_slots"),  # a removed setting: an unknown key
        ({"seed_copy_fraction": -0.1}, "seed_copy_fraction"),
        ({"patience": 0}, "patience"),
    ],
)
def test_evolution_config_validation(kwargs, field):
    with pytest.raises(ValueError, match=field):
        EvolutionConfig(**kwargs)


def test_configs_round_trip_through_dicts():
    c = PathNetConfig(channels=(4, 8, 8, 8))
    assert PathNetConfig.from_dict(c.as_dict()) == c
    e = EvolutionConfig(patience=None, finish_lr=0.01)
    assert EvolutionConfig.from_dict(e.as_dict()) == e
    assert c.feature_dim == 8 * 3 * 3


def test_evolution_config_holds_the_settings_a_user_changes():
    assert [f.name for f in dataclasses.fields(EvolutionConfig)] == [
        "population", "steps_per_path", "generations", "patience", "batch_size", "lr",
        "fitness", "augment", "finish_steps", "finish_patience", "finish_baseline", "finish_lr",
        "transfer_finish_lr", "seed_copy_fraction", "budget_samples", "train_layers",
    ]  # fmt: skip
    d = EvolutionConfig()
    assert (d.population, d.steps_per_path, d.generations, d.patience) == (16, 20, 20, 20)
    assert (d.batch_size, d.lr, d.fitness, d.augment) == (32, 3e-3, "val", True)
    assert (d.finish_steps, d.finish_patience, d.finish_lr) == (1000, 16, None)
    assert (d.transfer_finish_lr, d.seed_copy_fraction) == (1e-3, 0.5)
    assert d.train_layers is None and EvolutionConfig(train_layers=[3, 1, 1]).train_layers == (1, 3)


def test_seed_copies_without_copies_leaves_the_population_alone():
    rng = np.random.default_rng(0)
    pop = Population.random(8, 2, 6, 3, rng)
    before = pop.genotypes.copy()
    seed_copies(pop, None, 1.0)
    assert (pop.genotypes == before).all()


@st.composite
def frozen_layers(draw):
    """A population, an (L, M) frozen mask and the layers kept frozen (each with a frozen
    module)."""
    L, M, N = draw(shapes)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    frozen = rng.random((L, M)) < draw(st.floats(0.0, 1.0))
    kept = [layer for layer in range(L) if draw(st.booleans())]
    for layer in kept:
        if not frozen[layer].any():
            frozen[layer, rng.integers(M)] = True
    return Population.random(5, L, M, N, rng).genotypes, frozen, kept


@given(frozen_layers())
@settings(max_examples=80, deadline=None)
def test_keep_frozen_moves_only_the_kept_layers_to_their_nearest_frozen_module(case):
    genotypes, frozen, kept = case
    out = keep_frozen(genotypes, frozen, kept)
    L = genotypes.shape[1]
    for layer in range(L):
        if layer not in kept:  # untouched
            assert np.array_equal(out[:, layer], genotypes[:, layer])
            continue
        assert frozen[layer][out[:, layer]].all()
        rows = np.flatnonzero(frozen[layer])
        distance = np.abs(genotypes[:, layer, :, None] - rows).min(axis=-1)
        assert np.array_equal(np.abs(out[:, layer] - genotypes[:, layer]), distance)
        already = frozen[layer][genotypes[:, layer]]
        assert np.array_equal(out[:, layer][already], genotypes[:, layer][already])
    assert np.array_equal(keep_frozen(out, frozen, kept), out)  # a second pass changes nothing
    assert np.array_equal(keep_frozen(genotypes[0], frozen, kept), out[0])  # one path alike


def test_keep_frozen_refuses_a_layer_without_frozen_modules():
    frozen = np.array([[True, False], [False, False]])
    with pytest.raises(ValueError, match="layer 1 has no frozen module"):
        keep_frozen(np.zeros((2, 1), dtype=np.int64), frozen, [0, 1])


@given(st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_a_tournament_rule_applies_to_the_mutated_loser(seed):
    rng = np.random.default_rng(seed)
    pop = Population.random(6, 3, 8, 2, rng)
    frozen = np.zeros((3, 8), dtype=bool)
    frozen[2, 0] = True
    rule = lambda g: keep_frozen(g, frozen, [2])  # noqa: E731
    pop.genotypes = rule(pop.genotypes)
    for _ in range(10):
        out = tournament(pop, rng, lambda pair: [(0.5, 0.0), (0.4, 0.0)], 8, rule)
        assert (pop.genotypes[out["loser"]][2] == 0).all()
    assert (pop.genotypes[:, 2] == 0).all()
