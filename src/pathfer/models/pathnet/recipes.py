"""Named PathNet settings, written once: a recipe names the network, evolution and engine
settings that differ from the defaults, and where its numbers come from.

An experiment config says ``recipe: paper`` and overrides a few keys; code asks
:func:`get_recipe` and builds its configs with :meth:`Recipe.pathnet_config` /
:meth:`Recipe.evolution_config` (keyword overrides win over the recipe's values).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .config import EngineSettings, EvolutionConfig, PathNetConfig


@dataclass(frozen=True)
class Recipe:
    """Settings that differ from :class:`PathNetConfig`, :class:`EvolutionConfig` and
    :class:`EngineSettings` defaults. ``source_evolution``: evolution keys that differ for
    a source PathNet (over ``evolution``)."""

    name: str
    pathnet: dict[str, Any]
    evolution: dict[str, Any]
    source_evolution: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, Any] = field(default_factory=dict)
    evidence: str = ""

    def __post_init__(self) -> None:
        # validate every key and value now: a typo in a recipe fails on import
        self.pathnet_config()
        self.evolution_config()
        self.source_evolution_config()
        self.engine_settings()

    def pathnet_config(self, **overrides: Any) -> PathNetConfig:
        return PathNetConfig(**{**self.pathnet, **overrides})

    def evolution_config(self, **overrides: Any) -> EvolutionConfig:
        return EvolutionConfig(**{**self.evolution, **overrides})

    def source_evolution_config(self, **overrides: Any) -> EvolutionConfig:
        return EvolutionConfig(**{**self.evolution, **self.source_evolution, **overrides})

    def engine_settings(self, **overrides: Any) -> EngineSettings:
        return EngineSettings(**{**self.engine, **overrides})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _recipes(*recipes: Recipe) -> dict[str, Recipe]:
    return {r.name: r for r in recipes}


RECIPES: dict[str, Recipe] = _recipes(
    Recipe(
        "default",
        pathnet={},
        evolution={},
        evidence="docs/tuning.md#decisions (chosen on held-out subjects of real faces)",
    ),
    Recipe(
        # the published procedure as far as known (Fernando et al. 2017; Nguyen et al. 2018):
        # population 20, T=50, Adam 1e-3, no augmentation, no finish stage, fresh free
        # modules, frozen modules ordinary candidates
        "paper",
        pathnet={"free_init": "random"},
        evolution={
            "population": 20,
            "steps_per_path": 50,
            "generations": 100,
            "patience": None,
            "lr": 1e-3,
            "augment": False,
            "finish_steps": 0,
            "seed_copy_fraction": 0.0,
            "transfer_finish_lr": None,
        },
        evidence="docs/pathnet.md#reference-procedure",
    ),
    Recipe(
        # PathNet over the FER2013 mini-Xception's stages, a small population and budget;
        # its target is learnt beside frozen FER2013, at its own finish rate
        "fer2013",
        # the super-network over the stages: the frozen stage and two trainable copies in
        # every layer, a path taking one of them per layer (a path step then costs about
        # a mini-Xception step; two per layer cost twice the CPU and chose no better)
        pathnet={"modules": 3, "max_active": 1},
        evolution={
            "population": 6,
            "steps_per_path": 10,
            "generations": 10,
            "patience": None,
            "lr": 3e-4,
            "finish_lr": 3e-4,
            "transfer_finish_lr": None,
            "finish_steps": 600,
            "finish_patience": 6,
            # the finish ends on its own best evaluation: the evolved path's score is the
            # best of 20 tournament scores and flatters it, which on small targets kept
            # paths the finish never trained
            "finish_baseline": "own",
            "seed_copy_fraction": 0.0,
            # sized for the ~400-800 training images of a dev fold; on fewer, T and the
            # finish scale down (a handful of images is not trained for hundreds of epochs)
            "budget_samples": 400,
        },
        engine={"augment_shift": 3, "finish_eval_every": 25},
        evidence="docs/tuning.md#pathnet-over-fer2013",
    ),
    Recipe(
        # the demo's short evolution and finish stage (the defaults are sized for real corpora)
        "demo",
        pathnet={},
        evolution={"population": 8, "generations": 20, "steps_per_path": 10, "finish_steps": 200},
        evidence="pathfer demo (synthetic corpora; sized for minutes, not accuracy)",
    ),
    Recipe(
        "quick",
        pathnet={},
        evolution={"population": 4, "generations": 4, "steps_per_path": 5, "finish_steps": 20},
        evidence="pathfer demo --quick (a smoke test)",
    ),
)


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; a ValueError names the known ones."""
    try:
        return RECIPES[name]
    except (KeyError, TypeError):
        known = ", ".join(RECIPES)
        raise ValueError(f"unknown recipe {name!r}: known recipes are {known}") from None


__all__ = ["Recipe", "RECIPES", "get_recipe"]
