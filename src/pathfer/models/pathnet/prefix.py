"""Frozen prefixes of paths: the leading layers whose active modules are all frozen.

Such a prefix holds no parameter that training changes, so it runs without autograd
(its gradients would only reach frozen weights, which are never stepped). In evaluation
mode, with each frozen module normalising with its owner's running statistics, a prefix is
also one fixed function of its input: on a fixed set of images (the validation part,
evaluated every tournament and every finish evaluation) its output is computed once per
task and reused (:class:`PrefixCache`). Training batches are drawn and augmented afresh for
every step and every path, so their prefixes are never reused.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import torch

#: the most a cache holds; past it, outputs are computed as if there were no cache
CACHE_BYTES = 256 * 2**20


def frozen_prefix(frozen: np.ndarray, idx: np.ndarray | torch.Tensor) -> int:
    """How many leading layers use only frozen modules on every path of ``idx``
    ``(P, L, N)`` (``frozen``: the ``(L, M)`` mask)."""
    g = np.asarray(idx)
    k = 0
    for layer in range(g.shape[1]):
        if not frozen[layer, g[:, layer, :]].all():
            break
        k += 1
    return k


class PrefixCache:
    """Outputs of frozen prefixes on one fixed set of images, keyed by the caller (the chunk
    of the set, the prefix's modules, how the paths were batched). Valid while the frozen
    modules and their statistics stay as they are: for the length of one ``learn_task``."""

    def __init__(self, limit_bytes: int = CACHE_BYTES) -> None:
        self.limit_bytes = limit_bytes
        self.store: dict[Hashable, torch.Tensor] = {}
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> torch.Tensor | None:
        out = self.store.get(key)
        if out is None:
            self.misses += 1
        else:
            self.hits += 1
        return out

    def put(self, key: Hashable, value: torch.Tensor) -> None:
        size = value.numel() * value.element_size()
        if key in self.store or self.bytes + size > self.limit_bytes:
            return
        self.store[key] = value.detach()
        self.bytes += size


def prefix_key(chunk: Hashable, idx: torch.Tensor | np.ndarray, k: int) -> tuple:
    """The key of the first ``k`` layers of the paths ``idx`` ``(P, L, N)`` on ``chunk``."""
    g = np.asarray(idx)[:, :k, :]
    return (chunk, g.shape, g.tobytes())
