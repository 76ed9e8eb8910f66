"""A task's data as the engine uses it: checked image and label tensors, split into a
training and a validation part, with a fingerprint that ties a resumed run to its data."""

from __future__ import annotations

import hashlib
import numbers
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .config import PathNetConfig
from .prefix import PrefixCache


def stratified_split(
    y: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified (train_idx, val_idx): ``round(fraction * n_c)`` of every class
    ``c`` (at least one, never all, for classes with two or more samples) go to validation."""
    y = np.asarray(y)
    val = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        if len(idx) < 2:
            continue
        k = int(np.clip(round(fraction * len(idx)), 1, len(idx) - 1))
        val.append(idx[:k])
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, dtype=np.int64)
    train_mask = np.ones(len(y), dtype=bool)
    train_mask[val_idx] = False
    return np.flatnonzero(train_mask), val_idx


def fingerprint(*arrays: torch.Tensor) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = a.contiguous()
        h.update(str((tuple(a.shape), str(a.dtype))).encode())
        h.update(a.numpy().tobytes())
    return h.hexdigest()


def as_images(x: Any, name: str, config: PathNetConfig) -> torch.Tensor:
    """``x`` as float32 ``(B, C, S, S)`` in [0, 1] (uint8 scaled by 1/255), shape checked."""
    x = torch.as_tensor(x)
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    x = x.to(torch.float32)
    S, C = config.input_size, config.in_channels
    if x.dim() == 3 and C == 1:
        x = x.unsqueeze(1)
    if config.backbone == "mini_xception" and x.dim() == 4 and x.shape[2] == x.shape[3]:
        S = x.shape[-1]  # any square crop: the mini-Xception resizes to its input size
    if x.dim() != 4 or tuple(x.shape[1:]) != (C, S, S):
        raise ValueError(f"{name} must have shape (B, {C}, {S}, {S}), got {tuple(x.shape)}")
    return x.contiguous()


def as_labels(y: Any, name: str, n: int, n_classes: int) -> torch.Tensor:
    y = torch.as_tensor(y).to(torch.long).reshape(-1)
    if len(y) != n:
        raise ValueError(f"{name} has {len(y)} labels for {n} images")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"{name} must hold class indices in [0, {n_classes - 1}]")
    return y


def check_n_classes(n_classes: Any) -> int:
    """``n_classes`` as an int (at least 2); a ValueError otherwise."""
    if n_classes is None:
        raise ValueError("n_classes is required")
    if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral):
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    if int(n_classes) < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    return int(n_classes)


@dataclass
class TaskData:
    """Training ``(x, y)`` and validation ``(xv, yv)`` tensors of one task, and the frozen
    prefix outputs of the validation part (kept for one ``learn_task``, while the frozen
    modules stay as they are)."""

    x: torch.Tensor
    y: torch.Tensor
    xv: torch.Tensor
    yv: torch.Tensor
    val_cache: PrefixCache = field(default_factory=PrefixCache, compare=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.x, self.y, self.xv, self.yv)


def prepare_data(
    config: PathNetConfig,
    seed: int,
    name: str,
    n_classes: int,
    train: tuple[Any, Any],
    val: tuple[Any, Any] | None,
    val_fraction: float,
) -> TaskData:
    """Check the task's data; without ``val``, hold out a stratified ``val_fraction`` of the
    training data (deterministic in the seed and the task name)."""
    if not 0 < val_fraction <= 0.9:
        raise ValueError(f"val_fraction must be in (0, 0.9], got {val_fraction!r}")
    x = as_images(train[0], "x_train", config)
    y = as_labels(train[1], "y_train", len(x), n_classes)
    if val is None:
        split_rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        tr_idx, va_idx = stratified_split(y.numpy(), val_fraction, split_rng)
        tr, va = torch.from_numpy(tr_idx), torch.from_numpy(va_idx)
        data = TaskData(x[tr], y[tr], x[va], y[va])
    else:
        xv = as_images(val[0], "x_val", config)
        data = TaskData(x, y, xv, as_labels(val[1], "y_val", len(xv), n_classes))
    if len(data.x) == 0:
        raise ValueError("no training samples left")
    if len(data.xv) == 0:
        raise ValueError("the validation part is empty: pass x_val/y_val or more data")
    return data
