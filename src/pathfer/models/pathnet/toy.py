"""Small generated image-classification tasks for tests, demos and benchmarks.

Each class is a bar pattern (horizontal, vertical, the two diagonals, a blob, a cross, ...)
drawn at a random position with random contrast on a noisy background, so a convnet can
learn it in a few hundred steps but it is not linearly trivial.
"""

from __future__ import annotations

import numpy as np
import torch


def _pattern(c: int, size: int, length: int, rng: np.random.Generator) -> np.ndarray:
    img = np.zeros((size, size), dtype=np.float32)
    half = length // 2
    cy, cx = rng.integers(half + 1, size - half - 1, size=2)
    r = np.arange(-half, half + 1)
    kind = c % 6
    if kind == 0:
        img[cy, cx + r] = 1.0
        img[cy + 1, cx + r] = 1.0
    elif kind == 1:
        img[cy + r, cx] = 1.0
        img[cy + r, cx + 1] = 1.0
    elif kind == 2:
        img[cy + r, cx + r] = 1.0
    elif kind == 3:
        img[cy + r, cx - r] = 1.0
    elif kind == 4:
        img[cy - 1 : cy + 2, cx - 1 : cx + 2] = 1.0
    else:
        img[cy, cx + r] = 1.0
        img[cy + r, cx] = 1.0
    if c >= 6:  # further classes: the same shapes, inverted polarity
        img = -img
    return img


def toy_task(
    n: int,
    *,
    size: int = 16,
    n_classes: int = 3,
    seed: int = 0,
    noise: float = 0.15,
    offset: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)``: ``x`` float32 ``(n, 1, size, size)`` in [0, 1], ``y`` int64 in
    ``[0, n_classes)`` (balanced). ``offset`` shifts which patterns the classes use, so two
    tasks with different offsets share low-level features but not labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    length = max(3, size // 3) | 1
    x = np.empty((n, 1, size, size), dtype=np.float32)
    for i, c in enumerate(y):
        contrast = rng.uniform(0.35, 0.6)
        img = 0.5 + contrast * _pattern(int(c) + offset, size, length, rng)
        img += rng.normal(0.0, noise, size=(size, size)).astype(np.float32)
        x[i, 0] = img
    return torch.from_numpy(np.clip(x, 0.0, 1.0)), torch.from_numpy(y.astype(np.int64))
