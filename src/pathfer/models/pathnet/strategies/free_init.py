"""How the free modules start after a freeze: ``PathNetConfig.free_init`` "random" (fresh
weights, the paper) or "copy" (each free module a copy of a frozen module of its layer,
round robin, so a later task can fine-tune the source's features or use them frozen)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..config import PathNetConfig

if TYPE_CHECKING:
    from ..model import PathNet


def copy_origins(config: PathNetConfig, frozen: np.ndarray) -> np.ndarray:
    """``(L, M)`` int: for each free module, the frozen module of its layer it restarts as
    (``free_init="copy"``, round robin), else -1."""
    out = np.full((config.layers, config.modules), -1)
    if config.free_init == "copy":
        for layer, fr in enumerate(frozen):
            free, frozen_rows = np.flatnonzero(~fr), np.flatnonzero(fr)
            if len(frozen_rows):
                out[layer, free] = frozen_rows[np.arange(len(free)) % len(frozen_rows)]
    return out


def restart_free_modules(pn: PathNet) -> None:
    """Every module that is not frozen restarts: fresh weights (drawn for every free module,
    copies included), then the copies; optimiser state cleared."""
    origins = pn.copy_origins
    for layer, fr in enumerate(pn.frozen):
        free = np.flatnonzero(~fr)
        pn.net.reset_modules(layer, torch.from_numpy(free), pn.generator)
        copies = free[origins[layer, free] >= 0]
        if len(copies):
            pn.net.copy_modules(
                layer, torch.from_numpy(copies), torch.from_numpy(origins[layer, copies])
            )
        pn.opt.reset_rows(layer, torch.arange(pn.config.modules))


def source_through_copies(pn: PathNet, source: np.ndarray | None) -> np.ndarray | None:
    """The frozen ``source`` path with each frozen module replaced by one of its copies (a
    free module copies one module, so distinct modules get distinct copies): the source
    network, trainable. A module with no copy stays frozen. ``None`` without a source or
    when the free modules are not copies."""
    if source is None or pn.config.free_init != "copy":
        return None
    origins = pn.copy_origins
    path = source.copy()
    for layer, genes in enumerate(source):
        for module in set(genes.tolist()):
            copies = np.flatnonzero(origins[layer] == module)
            if len(copies):
                path[layer][genes == module] = copies[0]
    return path
