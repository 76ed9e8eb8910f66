"""Named PathNet settings (a stand-in with the contract's API; the engine room's module
replaces it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import EvolutionConfig, PathNetConfig


@dataclass(frozen=True)
class Recipe:
    name: str
    pathnet: dict[str, Any]
    evolution: dict[str, Any]
    source_evolution: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, Any] = field(default_factory=dict)
    evidence: str = ""

    def pathnet_config(self, **overrides: Any) -> PathNetConfig:
        return PathNetConfig(**{**self.pathnet, **overrides})

    def evolution_config(self, **overrides: Any) -> EvolutionConfig:
        return EvolutionConfig(**{**self.evolution, **overrides})


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("default", {}, {}),
        Recipe(
            "paper",
            {"free_init": "random"},
            {
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
        ),
        Recipe(
            "fer2013",
            {},
            {
                "population": 6,
                "steps_per_path": 10,
                "generations": 10,
                "patience": None,
                "lr": 3e-4,
                "finish_lr": 3e-4,
                "transfer_finish_lr": None,
                "finish_steps": 600,
                "finish_patience": 6,
                "seed_copy_fraction": 0.0,
            },
            engine={"augment_shift": 3, "finish_eval_every": 25},
        ),
        Recipe(
            "demo",
            {},
            {"population": 8, "generations": 20, "steps_per_path": 10, "finish_steps": 200},
        ),
        Recipe(
            "quick",
            {},
            {"population": 4, "generations": 4, "steps_per_path": 5, "finish_steps": 20},
        ),
    )
}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(RECIPES)}") from None


__all__ = ["Recipe", "RECIPES", "get_recipe"]
