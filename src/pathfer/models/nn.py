# Over 400 lines: the plain networks and helpers every model family shares, kept in one place.
"""Pieces every model shares: input scaling, weight init, augmentation, and the plain CNN
with exactly the architecture of one PathNet path.

One PathNet layer of a path runs its ``n`` active modules (``c_out`` channels each) on the
same input, normalises each module's output separately, sums (or averages) them, then
applies ReLU and pooling. :class:`PlainCNN` computes the same thing with ordinary layers:
one ``Conv2d(c_in, n * c_out)``, one ``BatchNorm2d(n * c_out)`` (per channel, so per
branch) or ``GroupNorm(n * groups, n * c_out)`` (whose groups never straddle two branches),
a sum over the ``n`` channel blocks, ReLU and pooling (with ``relu="module"`` the ReLU
comes before the sum, per branch, as in a path whose modules carry their own ReLU); then
the same head (flatten or global average pool, then a linear layer, or
:class:`MLPHead`). It is therefore both

* the fair "same active layers as one path" baseline, trained from scratch, and
* the plain module a learnt path is materialised into (``PathNet.task_model``) for bundles
  and ONNX export: it needs no gather tricks.

``branches=1`` with ``channels = N * c_out`` gives the alternative "wide" CNN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: fixed input normalisation applied inside every model: ``(x - 0.5) / 0.5`` maps [0, 1] to [-1, 1]
INPUT_SHIFT = 0.5
INPUT_SCALE = 0.5
#: BatchNorm epsilon of PathNet modules and PlainCNN (``nn.BatchNorm2d``'s default)
BN_EPS = 1e-5
#: evaluation and prediction run in chunks of this many images: small enough that a
#: layer's activations stay in the CPU's caches (2-4x faster than 512 on 2 cores,
#: ``benchmarks/bench_pathnet.py``); the result does not depend on it beyond float rounding
EVAL_BATCH = 64
NORMS = ("batch", "group", "none")


def set_job_numerics(threads: int) -> None:
    """The torch settings every pathfer job trains under (experiment jobs, ``pathfer
    train``): ``threads`` intra-op threads, since the thread count changes how sums are
    split, hence the numbers; and subnormal floats flushed to zero.

    Training drives some values below float32's smallest normal number (1.2e-38); x86 CPUs
    compute on those in microcode, tens of times slower. Fine-tuning the FER2013
    mini-Xception on the photos ran 2.2x slower without the flush (150 s against 68 s a
    fold, docs/tuning.md section 5). Flushed, such a value is 0, a difference below any
    float32 rounding a result could show. Both settings hold for the whole process (the
    flush for the calling thread and the threads it starts later), as jobs run one per
    process.
    """
    torch.set_num_threads(int(threads))
    torch.set_flush_denormal(True)


def dropout(x: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """Inverted dropout whose mask comes from ``generator`` (None: the global RNG)."""
    if p <= 0:
        return x
    keep = torch.rand(x.shape, generator=generator, dtype=x.dtype) >= p
    return x * keep / (1.0 - p)


class MLPHead(nn.Module):
    """``features -> Linear(hidden) -> ReLU -> dropout -> Linear(n_classes)`` over the last
    dimension (any leading shape). Dropout acts in training mode only; its mask is drawn from
    the ``generator`` given to :meth:`forward` (PathNet passes its own)."""

    def __init__(self, in_dim: int, n_classes: int, hidden: int, p_dropout: float = 0.5) -> None:
        super().__init__()
        self.hidden = nn.Linear(in_dim, hidden)
        self.out = nn.Linear(hidden, n_classes)
        self.p_dropout = float(p_dropout)

    @property
    def in_features(self) -> int:
        return self.hidden.in_features

    @property
    def out_features(self) -> int:
        return self.out.out_features

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        init_linear_(self.hidden.weight, self.hidden.bias, generator)
        init_linear_(self.out.weight, self.out.bias, generator)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        h = F.relu(self.hidden(x))
        if self.training:
            h = dropout(h, self.p_dropout, generator)
        return self.out(h)


def make_head(
    in_dim: int, n_classes: int, hidden: int = 0, p_dropout: float = 0.5
) -> nn.Linear | MLPHead:
    """A task head: ``nn.Linear`` (``hidden=0``: one layer, state-dict keys ``weight`` and
    ``bias``, as bundles of one-layer heads store them) or
    :class:`MLPHead`; call :func:`reset_head` to initialise it from a generator."""
    if hidden:
        return MLPHead(in_dim, n_classes, hidden, p_dropout)
    return nn.Linear(in_dim, n_classes)


def reset_head(head: nn.Module, generator: torch.Generator | None = None) -> None:
    if isinstance(head, MLPHead):
        head.reset_parameters(generator)
    else:
        init_linear_(head.weight, head.bias, generator)


class BranchConv(nn.Module):
    """``branches`` parallel convs of ``c_out`` channels, normalised per branch and combined."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        branches: int,
        *,
        kernel: int = 3,
        norm: str = "group",
        norm_groups: int = 2,
        combine: str = "sum",
        pool: str = "max",
        pool_size: int = 2,
        bn_momentum: float = 0.1,
        relu: str = "layer",
    ) -> None:
        super().__init__()
        if relu not in ("module", "layer"):
            raise ValueError(f"relu must be 'module' or 'layer', got {relu!r}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if combine not in ("sum", "mean"):
            raise ValueError(f"combine must be 'sum' or 'mean', got {combine!r}")
        if pool not in ("max", "avg", "none"):
            raise ValueError(f"pool must be 'max', 'avg' or 'none', got {pool!r}")
        self.c_out = c_out
        self.branches = branches
        self.combine = combine
        self.relu = relu
        self.pool = pool
        self.pool_size = pool_size
        self.conv = nn.Conv2d(
            c_in, branches * c_out, kernel, padding=kernel // 2, bias=(norm == "none")
        )
        self.norm: nn.Module | None = None
        if norm == "group":
            self.norm = nn.GroupNorm(branches * norm_groups, branches * c_out)
        elif norm == "batch":
            self.norm = nn.BatchNorm2d(branches * c_out, eps=BN_EPS, momentum=bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.norm is not None:
            y = self.norm(y)
        if self.relu == "module":
            y = F.relu(y)
        if self.branches > 1:
            y = y.unflatten(1, (self.branches, self.c_out))
            y = y.sum(1) if self.combine == "sum" else y.mean(1)
        if self.relu == "layer":
            y = F.relu(y)
        if self.pool == "max":
            y = F.max_pool2d(y, self.pool_size)
        elif self.pool == "avg":
            y = F.avg_pool2d(y, self.pool_size)
        return y


class PlainCNN(nn.Module):
    """Stack of :class:`BranchConv` layers and a head (linear, or :class:`MLPHead` with
    ``head_hidden > 0``); maps ``(B, C, S, S)`` in [0, 1] to logits ``(B, n_classes)``.

    ``branches=1, norm="batch", head_hidden=128`` is the plain BatchNorm CNN
    (conv + BN + ReLU + pool per layer, FC + dropout head)."""

    #: trains in channels-last layout (``pathfer.models.baselines.training``): stride-1
    #: convs only, which torch 2.13's CPU kernels run correctly and faster in it
    channels_last = True

    def __init__(
        self,
        n_classes: int,
        *,
        channels: Sequence[int] = (8, 16, 16, 16),
        branches: int | Sequence[int] = 3,
        kernel: int = 3,
        norm: str = "group",
        norm_groups: int = 2,
        combine: str = "sum",
        pool: str = "max",
        pool_size: int = 2,
        head: str = "flatten",
        input_size: int = 48,
        in_channels: int = 1,
        head_hidden: int = 0,
        head_dropout: float = 0.5,
        bn_momentum: float = 0.1,
        relu: str = "layer",
    ) -> None:
        super().__init__()
        channels = list(channels)
        if isinstance(branches, int):
            branches = [branches] * len(channels)
        branches = list(branches)
        if len(branches) != len(channels):
            raise ValueError("branches must be an int or one value per layer")
        if head not in ("flatten", "gap"):
            raise ValueError(f"head must be 'flatten' or 'gap', got {head!r}")
        layers = []
        c_in = in_channels
        size = input_size
        for c, n in zip(channels, branches, strict=True):
            layers.append(
                BranchConv(
                    c_in,
                    c,
                    n,
                    kernel=kernel,
                    norm=norm,
                    norm_groups=norm_groups,
                    combine=combine,
                    pool=pool,
                    pool_size=pool_size,
                    bn_momentum=bn_momentum,
                    relu=relu,
                )
            )
            c_in = c
            if pool != "none":
                size //= pool_size
        self.layers = nn.Sequential(*layers)
        self.head_kind = head
        feat = c_in if head == "gap" else c_in * size * size
        self.head = make_head(feat, n_classes, head_hidden, head_dropout)
        self.n_classes = n_classes
        #: constructor arguments that rebuild this architecture (model bundles)
        self.arch_kwargs: dict = {
            "n_classes": int(n_classes),
            "channels": [int(c) for c in channels],
            "branches": [int(b) for b in branches],
            "kernel": kernel,
            "norm": norm,
            "norm_groups": norm_groups,
            "combine": combine,
            "pool": pool,
            "pool_size": pool_size,
            "head": head,
            "input_size": input_size,
            "in_channels": in_channels,
        }
        if norm == "batch":
            self.arch_kwargs["bn_momentum"] = float(bn_momentum)
        # kwargs record only what differs from the one-layer head and the layer ReLU: a
        # bundle written without them rebuilds the same network (the use room's bundle
        # converter fills the defaults of bundles of format 1)
        if head_hidden:
            self.arch_kwargs.update(head_hidden=int(head_hidden), head_dropout=float(head_dropout))
        if relu != "layer":
            self.arch_kwargs["relu"] = relu
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Initialise exactly like fresh PathNet modules (He-uniform convs, unit norms)."""
        for layer in self.layers:
            init_conv_(layer.conv.weight, generator)
            if layer.conv.bias is not None:
                with torch.no_grad():
                    layer.conv.bias.zero_()
            if isinstance(layer.norm, nn.BatchNorm2d):
                layer.norm.reset_running_stats()
            if layer.norm is not None:
                nn.init.ones_(layer.norm.weight)
                nn.init.zeros_(layer.norm.bias)
        reset_head(self.head, generator)

    @staticmethod
    def path_kwargs(
        config, *, variant: str = "path", branches: Sequence[int] | None = None
    ) -> dict:
        """Constructor keyword arguments (all but ``n_classes``) of the plain form of a
        path of a :class:`~pathfer.models.pathnet.PathNetConfig`: ``variant="path"``: N
        branches of ``c_out`` per layer (or ``branches``), exactly one path's layers;
        ``variant="wide"``: one conv of ``N * c_out`` channels per layer."""
        kw = dict(
            channels=list(config.layer_channels),
            branches=config.max_active if branches is None else list(branches),
            kernel=config.kernel,
            norm=config.norm,
            norm_groups=config.norm_groups,
            combine=config.combine,
            pool=config.pool,
            pool_size=config.pool_size,
            head=config.head,
            input_size=config.input_size,
            in_channels=config.in_channels,
            head_hidden=config.head_hidden,
            head_dropout=config.head_dropout,
            bn_momentum=config.bn_momentum,
            relu=config.relu,
        )
        if variant == "path":
            return kw
        if variant == "wide":
            n = config.max_active
            kw.update(channels=[n * c for c in config.layer_channels], branches=1)
            kw["norm_groups"] = config.norm_groups * n
            return kw
        raise ValueError(f"variant must be 'path' or 'wide', got {variant!r}")

    @classmethod
    def from_pathnet_config(
        cls, config, n_classes: int, *, variant: str = "path", branches: Sequence[int] | None = None
    ) -> PlainCNN:
        """The plain CNN of :meth:`path_kwargs` (fresh weights)."""
        return cls(n_classes, **cls.path_kwargs(config, variant=variant, branches=branches))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.layers((x - INPUT_SHIFT) / INPUT_SCALE)
        if self.head_kind == "gap":
            return h.mean((2, 3))
        return h.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters of the classifier head (for feature-extraction baselines)."""
        return list(self.head.parameters())


def init_conv_(weight: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """He-uniform (ReLU gain) init of conv weights ``(..., c_out, c_in, k, k)`` in place;
    the same for PathNet modules and the plain CNN."""
    fan_in = weight.shape[-3] * weight.shape[-2] * weight.shape[-1]
    bound = math.sqrt(6.0 / fan_in)
    with torch.no_grad():
        return weight.uniform_(-bound, bound, generator=generator)


def init_linear_(
    weight: torch.Tensor, bias: torch.Tensor, generator: torch.Generator | None = None
) -> None:
    """PyTorch's default ``nn.Linear`` init, driven by an explicit generator."""
    bound = 1.0 / math.sqrt(weight.shape[-1])
    with torch.no_grad():
        weight.uniform_(-bound, bound, generator=generator)
        bias.uniform_(-bound, bound, generator=generator)


def augment_batch(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    flip: bool = True,
    max_shift: int = 2,
) -> torch.Tensor:
    """Randomly flip each image horizontally (p=0.5) and shift it by up to ``max_shift``
    pixels in each direction (edge pixels replicated). ``x``: ``(B, C, H, W)``."""
    B, C, H, W = x.shape
    if flip:
        flips = torch.rand(B, generator=generator) < 0.5
        x = torch.where(flips.view(B, 1, 1, 1), x.flip(3), x)
    if max_shift > 0:
        s = max_shift
        dy = torch.randint(0, 2 * s + 1, (B,), generator=generator)
        dx = torch.randint(0, 2 * s + 1, (B,), generator=generator)
        xp = F.pad(x, (s, s, s, s), mode="replicate").permute(0, 2, 3, 1)  # (B, H', W', C)
        rows = dy.view(B, 1, 1) + torch.arange(H).view(1, H, 1)
        cols = dx.view(B, 1, 1) + torch.arange(W).view(1, 1, W)
        x = xp[torch.arange(B).view(B, 1, 1), rows, cols].permute(0, 3, 1, 2)
        # standard strides even when C == 1 (.contiguous() keeps odd ones there, and some
        # CPU conv backward kernels of torch 2.13 corrupt memory on them)
        x = x.clone(memory_format=torch.contiguous_format)
    return x


def predict_proba(
    model: nn.Module, x: torch.Tensor | np.ndarray, batch_size: int = EVAL_BATCH
) -> np.ndarray:
    """Class probabilities ``(N, C)`` (float32 numpy) of ``model`` on images ``x``.

    ``x``: ``(N, C, S, S)`` (or ``(N, S, S)``, one channel), float in [0, 1] or uint8
    (scaled by 1/255), a tensor or an array. The model runs in eval mode without autograd,
    ``batch_size`` images at a time, on the device its parameters live on; an empty ``x``
    gives ``(0, 0)``, as no class count is known without running the model.
    """
    x = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.dtype == torch.uint8:
        x = x.to(torch.float32) / 255.0
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            logits = model(x[i : i + batch_size].to(device))
            out.append(torch.softmax(logits, dim=1).cpu())
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return torch.cat(out).numpy().astype(np.float32, copy=False)
