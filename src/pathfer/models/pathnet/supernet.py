"""The PathNet super-network: L layers of M conv modules, run one or several paths at once.

Layer ``l`` stores the weights of all its modules in single tensors:

* ``weight[l]``: ``(M, c_out, c_in, k, k)``
* ``norm_weight[l]`` / ``norm_bias[l]``: ``(M, c_out)`` GroupNorm affine (``norm="group"``)
* ``bias[l]``: ``(M, c_out)`` conv bias (``norm="none"``)

Running ``P`` paths (``P=1`` for one path, ``P=2`` for the two paths of a tournament, each
with its own mini-batch) is, per layer, one gather of the ``P * N`` active modules' weights,
ONE grouped conv (``groups=P``; weights reshaped to ``(P * N * c_out, c_in, k, k)``), ONE
``group_norm`` call whose groups never straddle two modules (so every module is normalised
on its own, per sample), a masked sum/mean over the N modules, ReLU and pooling. There is no
Python loop over modules.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..nn import INPUT_SCALE, INPUT_SHIFT, PlainCNN, init_conv_, init_linear_
from .config import PathNetConfig
from .genotype import active_modules, first_occurrence_mask

GN_EPS = 1e-5  # nn.GroupNorm's default, so task_model (plain GroupNorm) matches bit for bit


class SuperNet(nn.Module):
    def __init__(self, config: PathNetConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        M = config.modules
        k = config.kernel
        self.weight = nn.ParameterList()
        self.norm_weight = nn.ParameterList()
        self.norm_bias = nn.ParameterList()
        self.bias = nn.ParameterList()
        for c_in, c_out in zip(config.layer_in_channels, config.layer_channels, strict=True):
            self.weight.append(nn.Parameter(torch.empty(M, c_out, c_in, k, k)))
            if config.norm == "group":
                self.norm_weight.append(nn.Parameter(torch.ones(M, c_out)))
                self.norm_bias.append(nn.Parameter(torch.zeros(M, c_out)))
            else:
                self.bias.append(nn.Parameter(torch.zeros(M, c_out)))
        self.heads = nn.ModuleDict()
        for layer in range(config.layers):
            self.reset_modules(layer, torch.arange(M), generator)

    # -- parameters -----------------------------------------------------------------------
    def layer_params(self, layer: int) -> list[nn.Parameter]:
        """The ``(M, ...)`` parameters of one layer (row ``i`` belongs to module ``i``)."""
        if self.config.norm == "group":
            return [self.weight[layer], self.norm_weight[layer], self.norm_bias[layer]]
        return [self.weight[layer], self.bias[layer]]

    @torch.no_grad()
    def reset_modules(
        self, layer: int, rows: torch.Tensor, generator: torch.Generator | None
    ) -> None:
        """Re-initialise the given modules of a layer (fresh, untrained weights)."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        if len(rows) == 0:
            return
        w = self.weight[layer]
        fresh = init_conv_(torch.empty((len(rows), *w.shape[1:])), generator)
        w[rows] = fresh
        if self.config.norm == "group":
            self.norm_weight[layer][rows] = 1.0
            self.norm_bias[layer][rows] = 0.0
        else:
            self.bias[layer][rows] = 0.0

    def add_head(self, name: str, n_classes: int, generator: torch.Generator | None) -> nn.Linear:
        head = nn.Linear(self.config.feature_dim, n_classes)
        init_linear_(head.weight, head.bias, generator)
        self.heads[name] = head
        return head

    # -- forward --------------------------------------------------------------------------
    @staticmethod
    def path_tensors(genotypes: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(P, L, N)`` genotypes -> (long index tensor, float mask or None if no repeats)."""
        g = np.asarray(genotypes, dtype=np.int64)
        if g.ndim == 2:
            g = g[None]
        mask = np.stack([first_occurrence_mask(x) for x in g])
        idx = torch.from_numpy(np.ascontiguousarray(g))
        return idx, (None if mask.all() else torch.from_numpy(mask.astype(np.float32)))

    def forward_paths(
        self,
        x: torch.Tensor,
        genotypes: np.ndarray,
        head: str | list[str],
    ) -> torch.Tensor:
        """Logits ``(P, B, K)`` of ``P`` paths.

        ``x``: ``(P, B, C, S, S)`` (each path its own batch) or ``(B, C, S, S)`` (the same
        batch for every path). ``genotypes``: ``(P, L, N)`` or ``(L, N)``. ``head``: one task
        head for every path, or one name per path (heads must then have equal class counts).
        """
        idx, mask = self.path_tensors(genotypes)
        P = idx.shape[0]
        if x.dim() == 4:
            x = x.unsqueeze(0).expand(P, *x.shape)
        feats = self.features(x, idx, mask)  # (B, P, F)
        if isinstance(head, str):
            h = self.heads[head]
            out = F.linear(feats, h.weight, h.bias)
        else:
            if len(head) != P:
                raise ValueError(f"got {len(head)} heads for {P} paths")
            w = torch.stack([self.heads[n].weight for n in head])  # (P, K, F)
            b = torch.stack([self.heads[n].bias for n in head])  # (P, K)
            out = torch.einsum("bpf,pkf->bpk", feats, w) + b
        return out.transpose(0, 1)

    def features(
        self, x: torch.Tensor, idx: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """``x`` ``(P, B, C, S, S)``, ``idx`` ``(P, L, N)`` -> head inputs ``(B, P, F)``."""
        cfg = self.config
        P, B = x.shape[0], x.shape[1]
        N = idx.shape[2]
        # (P, B, C, S, S) -> (B, P*C, S, S): path p owns channel block p (grouped conv)
        h = x.transpose(0, 1).reshape(B, P * x.shape[2], x.shape[3], x.shape[4])
        h = (h - INPUT_SHIFT) / INPUT_SCALE
        for layer in range(cfg.layers):
            c_out = cfg.layer_channels[layer]
            rows = idx[:, layer, :].reshape(-1)  # (P*N,)
            w = self.weight[layer].index_select(0, rows)  # (P*N, c_out, c_in, k, k)
            w = w.reshape(P * N * c_out, *w.shape[2:])
            if cfg.norm == "group":
                y = F.conv2d(h, w, padding=cfg.kernel // 2, groups=P)
                gamma = self.norm_weight[layer].index_select(0, rows).reshape(-1)
                beta = self.norm_bias[layer].index_select(0, rows).reshape(-1)
                y = F.group_norm(y, P * N * cfg.norm_groups, gamma, beta, GN_EPS)
            else:
                bias = self.bias[layer].index_select(0, rows).reshape(-1)
                y = F.conv2d(h, w, bias, padding=cfg.kernel // 2, groups=P)
            H, W = y.shape[2], y.shape[3]
            y = y.view(B, P, N, c_out, H, W)
            if mask is not None:
                m = mask[:, layer, :]  # (P, N)
                y = y * m.view(1, P, N, 1, 1, 1)
                y = y.sum(2)
                if cfg.combine == "mean":
                    y = y / m.sum(1).view(1, P, 1, 1, 1)
            else:
                y = y.sum(2) if cfg.combine == "sum" else y.mean(2)
            h = F.relu(y.reshape(B, P * c_out, H, W))
            if cfg.pool == "max":
                h = F.max_pool2d(h, cfg.pool_size)
            elif cfg.pool == "avg":
                h = F.avg_pool2d(h, cfg.pool_size)
        h = h.view(B, P, cfg.layer_channels[-1], h.shape[2], h.shape[3])
        if cfg.head == "gap":
            return h.mean((3, 4))
        return h.flatten(2)

    # -- materialise ----------------------------------------------------------------------
    @torch.no_grad()
    def materialise(self, genotype: np.ndarray, head: str) -> PlainCNN:
        """A plain :class:`PlainCNN` holding copies of the path's modules and the head."""
        cfg = self.config
        act = active_modules(genotype)
        n_classes = self.heads[head].out_features
        model = PlainCNN.from_pathnet_config(
            cfg, n_classes, variant="path", branches=[len(a) for a in act]
        )
        for layer, rows in enumerate(act):
            r = torch.from_numpy(rows)
            blk = model.layers[layer]
            blk.conv.weight.copy_(self.weight[layer][r].reshape(blk.conv.weight.shape))
            if cfg.norm == "group":
                blk.norm.weight.copy_(self.norm_weight[layer][r].reshape(-1))
                blk.norm.bias.copy_(self.norm_bias[layer][r].reshape(-1))
            else:
                blk.conv.bias.copy_(self.bias[layer][r].reshape(-1))
        model.head.weight.copy_(self.heads[head].weight)
        model.head.bias.copy_(self.heads[head].bias)
        return model.eval()
