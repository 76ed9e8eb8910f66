"""The engine's training primitives: train several paths together, evaluate them, and take
or put back a copy of one path's weights (its modules' rows and its head)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..nn import augment_batch
from .config import EngineSettings, EvolutionConfig
from .genotype import active_modules
from .prefix import PrefixCache

if TYPE_CHECKING:
    from .model import PathNet


class PathModule(nn.Module):
    """One task's path through the super-network as a module (logits of ``x``)."""

    def __init__(self, net: nn.Module, genotype: np.ndarray, task: str) -> None:
        super().__init__()
        self.net, self.genotype, self.task = net, genotype, task

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_paths(x, self.genotype, self.task)[0]


def trainable_rows(pn: PathNet, genotypes: np.ndarray) -> list[torch.Tensor]:
    """Per layer, the distinct non-frozen modules the paths use."""
    fr = pn.frozen
    rows = []
    for layer in range(pn.config.layers):
        r = np.unique(genotypes[:, layer, :])
        r = r[~fr[layer, r]]
        rows.append(torch.from_numpy(r))
    return rows


def train_paths(
    pn: PathNet,
    task: str,
    genotypes: np.ndarray,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    ev: EvolutionConfig,
    lr: float,
    engine: EngineSettings | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Train ``P`` paths together for ``steps`` mini-batches (each path its own batch), the
    modules and the task head at rate ``lr``. Returns per-path mean training accuracy and
    loss over the steps."""
    shift = (engine or EngineSettings()).augment_shift
    genotypes = np.asarray(genotypes, dtype=np.int64)
    P, B = genotypes.shape[0], ev.batch_size
    rows = trainable_rows(pn, genotypes)
    head, hopt = pn.net.heads[task], pn.head_opts[task]
    params = [p for layer in range(pn.config.layers) for p in pn.net.layer_params(layer)]
    correct = torch.zeros(P, dtype=torch.float64)
    loss_sum = torch.zeros(P, dtype=torch.float64)
    pn.net.train()
    for _ in range(steps):
        idx = torch.randint(len(x), (P, B), generator=pn.generator)
        xb, yb = x[idx], y[idx]
        if ev.augment:
            xb = augment_batch(xb.flatten(0, 1), pn.generator, max_shift=shift).view_as(xb)
        logits = pn.net.forward_paths(xb, genotypes, task)  # (P, B, K)
        per = F.cross_entropy(logits.reshape(P * B, -1), yb.reshape(-1), reduction="none").view(
            P, B
        )
        loss = per.mean(1).sum()  # each path's gradient is its own batch mean
        for p in (*params, *head.parameters()):
            p.grad = None
        loss.backward()
        for layer in range(pn.config.layers):
            pn.opt.step(layer, rows[layer], lr)
        hopt.step_all(lr)
        with torch.no_grad():
            correct += (logits.argmax(2) == yb).double().mean(1)
            loss_sum += per.detach().double().mean(1)
    for p in (*params, *head.parameters()):
        p.grad = None
    pn.net.eval()
    return (correct / steps).numpy(), (loss_sum / steps).numpy()


@torch.no_grad()
def evaluate_paths(
    pn: PathNet,
    task: str,
    genotypes: np.ndarray,
    x: torch.Tensor,
    y: torch.Tensor,
    chunk: int,
    cache: PrefixCache | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and mean loss ``(P,)`` of ``P`` paths on the same data. ``cache``: the
    frozen prefix outputs of ``x`` (a fixed set, e.g. ``TaskData.val_cache``)."""
    genotypes = np.asarray(genotypes, dtype=np.int64)
    if genotypes.ndim == 2:
        genotypes = genotypes[None]
    P = genotypes.shape[0]
    correct = torch.zeros(P, dtype=torch.float64)
    loss = torch.zeros(P, dtype=torch.float64)
    pn.net.eval()
    for s in range(0, len(x), chunk):
        at = None if cache is None else (cache, (s, chunk))
        logits = pn.net.forward_paths(x[s : s + chunk], genotypes, task, at)
        yb = y[s : s + chunk]
        correct += (logits.argmax(2) == yb).sum(1)
        loss += (
            F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.repeat(P), reduction="none")
            .view(P, -1)
            .sum(1)
            .double()
        )
    n = max(len(x), 1)
    return (correct / n).numpy(), (loss / n).numpy()


def snapshot(pn: PathNet, task: str, genotype: np.ndarray) -> dict[str, torch.Tensor]:
    """Copies of the path's module rows, its head and the task's own statistics."""
    snap: dict[str, torch.Tensor] = {}
    for layer, rows in enumerate(active_modules(genotype)):
        r = torch.from_numpy(rows)
        for i, p in enumerate(pn.net.layer_state(layer)):
            snap[f"{layer}.{i}"] = p.detach()[r].clone()
    for k, v in pn.net.heads[task].state_dict().items():
        snap[f"head.{k}"] = v.detach().clone()
    if task in pn.net.task_stats:  # its own statistics of frozen modules
        for layer, rows in enumerate(active_modules(genotype)):
            _, mean, var = pn.net.task_stats[task].layer(layer)
            snap[f"task.{layer}.mean"] = mean[torch.from_numpy(rows)].clone()
            snap[f"task.{layer}.var"] = var[torch.from_numpy(rows)].clone()
    return snap


@torch.no_grad()
def restore(pn: PathNet, task: str, genotype: np.ndarray, snap: dict[str, torch.Tensor]) -> None:
    """Put a :func:`snapshot` back (frozen modules are left as they are)."""
    fr = pn.frozen
    for layer, rows in enumerate(active_modules(genotype)):
        keep = ~fr[layer, rows]
        r = torch.from_numpy(rows[keep])
        for i, p in enumerate(pn.net.layer_state(layer)):
            p[r] = snap[f"{layer}.{i}"][torch.from_numpy(keep)]
    pn.net.heads[task].load_state_dict({k[5:]: v for k, v in snap.items() if k.startswith("head.")})
    if task in pn.net.task_stats:
        for layer, rows in enumerate(active_modules(genotype)):
            _, mean, var = pn.net.task_stats[task].layer(layer)
            mean[torch.from_numpy(rows)] = snap[f"task.{layer}.mean"]
            var[torch.from_numpy(rows)] = snap[f"task.{layer}.var"]
