"""Recipes: named PathNet settings in one place, each resolving to validated configs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathfer.models.pathnet import EngineSettings, EvolutionConfig, PathNetConfig
from pathfer.models.pathnet.recipes import RECIPES, Recipe, get_recipe


def test_the_named_recipes():
    assert list(RECIPES) == ["default", "paper", "fer2013", "demo", "quick"]
    default = get_recipe("default")
    assert default.pathnet_config() == PathNetConfig()
    assert default.evolution_config() == EvolutionConfig()
    assert default.engine_settings() == EngineSettings()
    paper = get_recipe("paper")
    assert paper.pathnet_config().free_init == "random"
    ev = paper.evolution_config()
    assert (ev.population, ev.steps_per_path, ev.generations, ev.patience) == (20, 50, 100, None)
    assert (ev.lr, ev.augment, ev.finish_steps) == (1e-3, False, 0)
    assert (ev.seed_copy_fraction, ev.transfer_finish_lr) == (0.0, None)
    fer = get_recipe("fer2013")
    ev = fer.evolution_config()
    assert (ev.population, ev.steps_per_path, ev.generations, ev.patience) == (6, 10, 10, None)
    assert (ev.lr, ev.finish_lr, ev.transfer_finish_lr) == (3e-4, 3e-4, None)
    assert (ev.finish_steps, ev.finish_patience, ev.seed_copy_fraction) == (600, 6, 0.0)
    assert ev.budget_samples == 400  # 100 training images: a quarter of T and of the finish
    assert (ev.for_data(100).steps_per_path, ev.for_data(100).finish_steps) == (2, 150)
    assert fer.engine_settings() == EngineSettings(augment_shift=3, finish_eval_every=25)
    demo, quick = get_recipe("demo").evolution_config(), get_recipe("quick").evolution_config()
    assert (demo.population, demo.generations, demo.steps_per_path, demo.finish_steps) == (
        8,
        20,
        10,
        200,
    )
    assert (quick.population, quick.generations, quick.steps_per_path, quick.finish_steps) == (
        4,
        4,
        5,
        20,
    )
    assert all(r.evidence for r in RECIPES.values())


def test_an_unknown_recipe_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown recipe 'papr'.*default, paper, fer2013"):
        get_recipe("papr")


def test_a_recipe_with_an_unknown_or_bad_setting_fails_when_it_is_written():
    with pytest.raises(ValueError, match="frozen_slots"):
        Recipe("x", pathnet={}, evolution={"frozen_slots": 1})
    with pytest.raises(ValueError, match="augment_shift"):
        Recipe("x", pathnet={}, evolution={}, engine={"augment_shift": -1})
    with pytest.raises(ValueError, match="layers"):
        Recipe("x", pathnet={"layers": 0}, evolution={})


overrides = st.fixed_dictionaries(
    {},
    optional={
        "population": st.integers(2, 64),
        "steps_per_path": st.integers(1, 100),
        "generations": st.integers(0, 200),
        "patience": st.none() | st.integers(1, 50),
        "lr": st.floats(1e-5, 1.0),
        "augment": st.booleans(),
        "finish_steps": st.integers(0, 2000),
        "seed_copy_fraction": st.floats(0, 1),
    },
)


@given(st.sampled_from(sorted(RECIPES)), overrides, overrides)
@settings(max_examples=60, deadline=None)
def test_overrides_win_over_the_recipe_and_the_source_over_the_target(name, over, source):
    r = get_recipe(name)
    ev = r.evolution_config(**over)
    assert ev == EvolutionConfig(**{**r.evolution, **over})
    for key, value in over.items():
        assert getattr(ev, key) == value
    for key, value in r.evolution.items():
        if key not in over:
            assert getattr(ev, key) == value
    src = Recipe("s", r.pathnet, r.evolution, source_evolution=source).source_evolution_config()
    assert src == EvolutionConfig(**{**r.evolution, **source})
