"""Which layers a task may train (``EvolutionConfig.train_layers``). In the others its paths
take frozen modules only, so the task trains nothing there and a model file stores nothing
new for it there: over the mini-Xception's stages, a task that keeps the last stage frozen
adds about a third of a network to the file instead of most of one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..config import EvolutionConfig
from ..genotype import keep_frozen

if TYPE_CHECKING:
    from ..model import PathNet

PathRule = Callable[[np.ndarray], np.ndarray]


def frozen_only_layers(pn: PathNet, ev: EvolutionConfig) -> list[int]:
    """The layers where the task's paths take frozen modules only; a ValueError when
    ``train_layers`` names a layer the super-network lacks or leaves one without a frozen
    module to take."""
    if ev.train_layers is None:
        return []
    layers = pn.config.layers
    given = list(ev.train_layers)
    if max(given) >= layers:
        raise ValueError(
            f"train_layers {given}: the super-network has {layers} layers (0 to {layers - 1})"
        )
    kept = [layer for layer in range(layers) if layer not in given]
    empty = [layer for layer in kept if not pn.frozen[layer].any()]
    if empty:
        raise ValueError(
            f"train_layers {given} leaves layer(s) {empty} to frozen modules, but no module "
            "is frozen there yet: a first task trains every layer (leave train_layers out)"
        )
    return kept


def path_rule(pn: PathNet, ev: EvolutionConfig) -> PathRule | None:
    """Moves a path's genes in the frozen-only layers to frozen modules (None: no rule)."""
    kept = frozen_only_layers(pn, ev)
    if not kept:
        return None
    frozen = pn.frozen
    return lambda genotypes: keep_frozen(genotypes, frozen, kept)


__all__ = ["PathRule", "frozen_only_layers", "path_rule"]
