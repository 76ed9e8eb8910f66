"""Per-module optimiser: only the rows (modules) on the trained path(s) ever move.

``torch.optim.Adam`` over an ``(M, ...)`` parameter would keep updating every module from
its stale moments even when a module gets a zero gradient. :class:`ModuleOptimizer` keeps
Adam state shaped like the parameters plus a step counter *per module*, and updates only
the rows it is told to (the active, non-frozen modules). Frozen modules' rows are zeroed and
never touched again. Everything is plain tensors, so it checkpoints into safetensors.
"""

from __future__ import annotations

import torch
from torch import nn

BETAS = (0.9, 0.999)
EPS = 1e-8


def _adam_(
    p: torch.Tensor,
    g: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    t: torch.Tensor,
    lr: float,
) -> None:
    """In-place Adam on already-selected tensors; ``t`` (new step counts) broadcasts on dim 0."""
    b1, b2 = BETAS
    m.mul_(b1).add_(g, alpha=1 - b1)
    v.mul_(b2).addcmul_(g, g, value=1 - b2)
    tt = t.to(p.dtype).view(-1, *([1] * (p.dim() - 1)))
    mhat = m / (1 - b1**tt)
    vhat = v / (1 - b2**tt)
    p.sub_(lr * mhat / (vhat.sqrt() + EPS))


class ModuleOptimizer:
    """Adam over groups of ``(M, ...)`` parameters with per-row state."""

    def __init__(self, groups: list[list[nn.Parameter]]) -> None:
        self.groups = groups
        self.m = [[torch.zeros_like(p) for p in grp] for grp in groups]
        self.v = [[torch.zeros_like(p) for p in grp] for grp in groups]
        self.steps = [torch.zeros(grp[0].shape[0], dtype=torch.long) for grp in groups]

    @torch.no_grad()
    def step(self, group: int, rows: torch.Tensor, lr: float) -> None:
        """Update the given (distinct) rows of one group from the parameters' ``.grad``."""
        if len(rows) == 0:
            return
        self.steps[group][rows] += 1
        t = self.steps[group][rows]
        for i, p in enumerate(self.groups[group]):
            if p.grad is None:
                continue
            g = p.grad[rows]
            pr = p.data[rows]
            m = self.m[group][i][rows]
            v = self.v[group][i][rows]
            _adam_(pr, g, m, v, t, lr)
            p.data[rows] = pr
            self.m[group][i][rows] = m
            self.v[group][i][rows] = v

    @torch.no_grad()
    def reset_rows(self, group: int, rows: torch.Tensor) -> None:
        """Forget the state of some modules (re-initialised or frozen modules)."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        if len(rows) == 0:
            return
        self.steps[group][rows] = 0
        for t in (*self.m[group], *self.v[group]):
            t[rows] = 0.0

    def state_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for gi in range(len(self.groups)):
            out[f"{prefix}.{gi}.steps"] = self.steps[gi]
            for i in range(len(self.groups[gi])):
                out[f"{prefix}.{gi}.{i}.m"] = self.m[gi][i]
                out[f"{prefix}.{gi}.{i}.v"] = self.v[gi][i]
        return out

    def load_state_tensors(self, prefix: str, tensors: dict[str, torch.Tensor]) -> None:
        for gi in range(len(self.groups)):
            self.steps[gi] = tensors[f"{prefix}.{gi}.steps"].clone()
            for i in range(len(self.groups[gi])):
                self.m[gi][i] = tensors[f"{prefix}.{gi}.{i}.m"].clone()
                self.v[gi][i] = tensors[f"{prefix}.{gi}.{i}.v"].clone()


class HeadOptimizer(ModuleOptimizer):
    """The same update for a task head (all its parameters): one group, one step counter."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__([list(head.parameters())])
        self.steps = [torch.zeros(1, dtype=torch.long)]

    @torch.no_grad()
    def step_all(self, lr: float) -> None:
        self.steps[0] += 1
        t = self.steps[0]
        for i, p in enumerate(self.groups[0]):
            if p.grad is None:
                continue
            # viewed as a single row so the one step count broadcasts
            m, v = self.m[0][i].unsqueeze(0), self.v[0][i].unsqueeze(0)
            _adam_(p.data.unsqueeze(0), p.grad.unsqueeze(0), m, v, t, lr)

    @torch.no_grad()
    def reset(self) -> None:
        self.steps[0].zero_()
        for t in (*self.m[0], *self.v[0]):
            t.zero_()
