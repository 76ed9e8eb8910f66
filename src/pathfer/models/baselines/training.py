"""A plain training loop in the style of the torchvision reference scripts.

``train_one_epoch`` / ``evaluate`` / ``fit`` work on in-memory tensors (``(N, C, S, S)``
float32 in [0, 1], int64 labels) and any ``nn.Module`` returning logits. ``fit`` does early
stopping on a validation set and restores the best weights. Passing ``params`` (e.g. only a
head's parameters) gives feature extraction: everything else stays fixed and its
normalisation layers stay in eval mode.

:func:`pathfer.models.nn.augment_batch` is the augmentation, shared with PathNet so both
sides see identical augmentation.

A model whose class sets ``channels_last = True`` (:class:`~pathfer.models.nn.PlainCNN`,
:class:`~pathfer.models.baselines.reference_cnn.ReferenceCNN`) trains in channels-last
memory layout and is handed back in the standard one: the same function up to float
rounding, a training step in about 0.7x the time on CPU (``benchmarks/bench_pathnet.py``).
It is opt-in because torch 2.13's CPU backward of a 1x1 stride-2 conv in that layout
crashes (the mini-Xception's shortcuts); those models train in the standard layout.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pathfer.models.nn import EVAL_BATCH, augment_batch


@dataclass
class FitResult:
    """``history``: one dict per epoch (epoch, step, train_loss, train_acc, val_loss,
    val_acc, time); ``best_epoch``/``best_val_acc``/``best_val_loss`` of the restored weights."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    best_val_acc: float = float("nan")
    best_val_loss: float = float("nan")
    steps: int = 0
    stopped_early: bool = False

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.history)


def _set_train_mode(model: nn.Module, trainable: set[int] | None) -> None:
    """``model.train()``, but modules with no trainable parameter (feature extraction) stay
    in eval mode so batch-norm statistics of the frozen part do not drift."""
    model.train()
    if trainable is None:
        return
    for mod in model.modules():
        own = list(mod.parameters(recurse=False))
        if own and not any(id(p) in trainable for p in own):
            mod.eval()


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 32,
    generator: torch.Generator | None = None,
    augment: bool = False,
    max_shift: int = 2,
    max_steps: int | None = None,
    trainable: set[int] | None = None,
) -> dict[str, float]:
    """One pass over ``(x, y)`` in a random order; returns mean loss/accuracy and steps."""
    _set_train_mode(model, trainable)
    n = len(x)
    order = torch.randperm(n, generator=generator)
    total_loss, correct, seen, steps = 0.0, 0, 0, 0
    for start in range(0, n, batch_size):
        if max_steps is not None and steps >= max_steps:
            break
        idx = order[start : start + batch_size]
        xb, yb = x[idx], y[idx]
        if augment:
            xb = augment_batch(xb, generator, max_shift=max_shift)
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(idx)
        correct += int((logits.argmax(1) == yb).sum())
        seen += len(idx)
        steps += 1
    return {
        "loss": total_loss / max(seen, 1),
        "acc": correct / max(seen, 1),
        "steps": steps,
    }


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = EVAL_BATCH
) -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(x, y)`` (eval mode)."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size])
        yb = y[start : start + batch_size]
        total_loss += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    model.train(was_training)
    n = max(len(x), 1)
    return {"loss": total_loss / n, "acc": correct / n}


@contextlib.contextmanager
def _only_trainable(params: list[nn.Parameter], trainable: set[int] | None):
    """Only the parameters in ``trainable`` (ids; None: all) require gradients for the
    duration of the block; every parameter's flag is restored afterwards."""
    saved = [p.requires_grad for p in params]
    if trainable is not None:
        for p in params:
            p.requires_grad_(id(p) in trainable)
    try:
        yield
    finally:
        for p, flag in zip(params, saved, strict=True):
            p.requires_grad_(flag)


@contextlib.contextmanager
def training_layout(model: nn.Module):
    """Channels-last memory layout for the duration of the block when ``model`` opts in
    (class attribute ``channels_last``); the standard layout again afterwards, so saved
    weights and later callers see contiguous tensors."""
    if not getattr(model, "channels_last", False):
        yield
        return
    model.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        model.to(memory_format=torch.contiguous_format)


def fit(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    *,
    lr: float = 1e-3,
    batch_size: int = 32,
    max_epochs: int = 50,
    max_steps: int | None = None,
    patience: int | None = 5,
    params: Iterable[nn.Parameter] | None = None,
    weight_decay: float = 0.0,
    seed: int = 0,
    augment: bool = False,
    max_shift: int = 2,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> FitResult:
    """Train with Adam, early-stopping on validation accuracy (ties: lower loss).

    ``params``: the parameters to train (default: all); the rest stay fixed. The best
    weights seen on the validation set are restored at the end. Without a validation set
    the model trains for ``max_epochs`` / ``max_steps`` and the last weights are kept.
    ``seed`` fixes batch order and augmentation (its own generator; global RNGs untouched).
    """
    x_train = torch.as_tensor(x_train, dtype=torch.float32)
    y_train = torch.as_tensor(y_train, dtype=torch.long)
    has_val = x_val is not None and y_val is not None
    if has_val:
        x_val = torch.as_tensor(x_val, dtype=torch.float32)
        y_val = torch.as_tensor(y_val, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    all_params = list(model.parameters())
    chosen = all_params if params is None else list(params)
    trainable = None if params is None else {id(p) for p in chosen}
    optimizer = torch.optim.Adam(chosen, lr=lr, weight_decay=weight_decay)
    result = FitResult()
    best_key = (-math.inf, -math.inf)
    best_state = None
    bad = 0
    steps = 0
    t0 = time.perf_counter()
    with _only_trainable(all_params, trainable), training_layout(model):
        for epoch in range(max_epochs):
            left = None if max_steps is None else max_steps - steps
            if left is not None and left <= 0:
                break
            tr = train_one_epoch(
                model,
                optimizer,
                x_train,
                y_train,
                batch_size=batch_size,
                generator=gen,
                augment=augment,
                max_shift=max_shift,
                max_steps=left,
                trainable=trainable,
            )
            steps += tr["steps"]
            rec: dict[str, Any] = {
                "epoch": epoch,
                "step": steps,
                "train_loss": tr["loss"],
                "train_acc": tr["acc"],
            }
            if has_val:
                ev = evaluate(model, x_val, y_val)
                rec["val_loss"], rec["val_acc"] = ev["loss"], ev["acc"]
            rec["time"] = time.perf_counter() - t0
            result.history.append(rec)
            if progress is not None:
                progress(rec)
            if not has_val:
                continue
            key = (rec["val_acc"], -rec["val_loss"])
            if key > best_key:
                best_key, bad = key, 0
                best_state = copy.deepcopy(model.state_dict())
                result.best_epoch = epoch
                result.best_val_acc, result.best_val_loss = rec["val_acc"], rec["val_loss"]
            else:
                bad += 1
                if patience is not None and bad >= patience:
                    result.stopped_early = True
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.steps = steps
    model.eval()
    return result
