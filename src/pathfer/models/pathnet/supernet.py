# Over 400 lines: one class, whose forward over gathered, folded module rows is one computation.
"""The PathNet super-network: L layers of M conv modules, run one or several paths at once.

Layer ``l`` stores the weights of all its modules in single tensors:

* ``weight[l]``: ``(M, c_out, c_in, k, k)``
* ``norm_weight[l]`` / ``norm_bias[l]``: ``(M, c_out)`` norm affine (``norm="batch"/"group"``)
* ``running_mean{l}`` / ``running_var{l}``: ``(M, c_out)`` BatchNorm statistics (buffers,
  ``norm="batch"``)
* ``bias[l]``: ``(M, c_out)`` conv bias (``norm="none"``)

Running ``P`` paths (``P=1`` for one path, ``P=2`` for the two paths of a tournament, each
with its own mini-batch) is, per layer, one gather of the ``P * N`` active modules' weights,
ONE grouped conv (``groups=P``; weights reshaped to ``(P * N * c_out, c_in, k, k)``), ONE
normalisation over all ``P * N`` modules (GroupNorm whose groups never straddle two modules,
or BatchNorm per channel, hence per module and per path's batch), a masked sum/mean over
the N modules, ReLU and pooling. There is no Python loop over modules.

BatchNorm (``norm="batch"``): in training mode (``net.train()``) a trainable module
normalises with its path's batch statistics and updates its own running statistics; a
frozen module (``frozen_rows``, kept up to date by ``PathNet``) always normalises with its
running statistics, which never change, so it computes one fixed function for every task,
in training and in evaluation. In eval mode every module uses its running statistics.

**Folding.** With the default ``relu="layer"``, a layer of a path is linear up to its
ReLU: each active module is a conv followed by a per-channel affine map (BatchNorm with
given statistics, or a bias), and the modules' outputs are summed (or averaged). The sum
is therefore ONE conv whose kernel is the sum of the modules' kernels, each scaled by its
BatchNorm factor, so a layer runs at the width of one module instead of ``N`` of them
(:meth:`SuperNet.folded_conv`; the same function up to float rounding, tested). pathfer
folds every layer in eval mode, and in training mode the input layer, whose
BatchNorm batch statistics follow exactly from the mean and covariance of its input
patches (``c_in * k * k`` values, 9 for grey 3x3): that layer, at full resolution and
``N`` times a module's width, was half of a training step. ``fold_modules = False``
computes every module on its own (the reference; ``benchmarks/bench_pathnet.py`` times
both).
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..nn import BN_EPS, INPUT_SCALE, INPUT_SHIFT, PlainCNN, init_conv_, make_head, reset_head
from .config import PathNetConfig
from .genotype import active_modules, first_occurrence_mask
from .prefix import PrefixCache, frozen_prefix, prefix_key

GN_EPS = 1e-5  # nn.GroupNorm's default, so task_model (plain GroupNorm) matches bit for bit


class RowModules(nn.Module):
    """A super-network whose modules are rows: every parameter and buffer of a layer's
    ``M`` modules sits in one ``(M, ...)`` tensor, so copying, freezing and snapshotting a
    module is indexing rows. Subclasses name the tensors (``layer_params``,
    ``layer_buffers``)."""

    #: run the paths' frozen prefixes without autograd and reuse their outputs on a fixed
    #: set (how, not what: the same numbers, tested); False: every layer with autograd and
    #: nothing reused (the reference; ``benchmarks/bench_pathnet.py`` times both)
    frozen_prefixes: bool = True

    def frozen_prefix(self, idx: np.ndarray | torch.Tensor) -> int:
        """Leading layers of the paths ``idx`` ``(P, L, N)`` that use only frozen modules."""
        return frozen_prefix(self.frozen_rows, idx) if self.frozen_prefixes else 0

    def layer_params(self, layer: int) -> list[nn.Parameter]:
        raise NotImplementedError

    def layer_buffers(self, layer: int) -> list[torch.Tensor]:
        raise NotImplementedError

    def reset_modules(
        self, layer: int, rows: torch.Tensor, generator: torch.Generator | None
    ) -> None:
        raise NotImplementedError

    def _init_rows(self, layers: int, modules: int, generator: torch.Generator | None) -> None:
        """The state every super-network has once its tensors exist: task heads, the frozen
        mask, the generator, and freshly initialised modules."""
        self.heads = nn.ModuleDict()
        #: ``(L, M)`` bool: frozen modules (set by PathNet; BatchNorm keeps them in eval mode)
        self.frozen_rows = np.zeros((layers, modules), dtype=bool)
        #: draws the head dropout masks (PathNet's generator: nothing reads the global RNG)
        self.generator = generator
        #: per task, its own statistics for other tasks' frozen modules (``frozen_statistics``;
        #: conv modules only, so it stays empty for the mini-Xception stages)
        self.task_stats = nn.ModuleDict()
        for layer in range(layers):
            self.reset_modules(layer, torch.arange(modules), generator)

    def drop_task_statistics(self, task: str) -> None:
        if task in self.task_stats:
            del self.task_stats[task]

    def layer_state(self, layer: int) -> list[torch.Tensor]:
        """Everything a module of the layer owns (parameters, then buffers)."""
        return [*self.layer_params(layer), *self.layer_buffers(layer)]

    @torch.no_grad()
    def copy_modules(self, layer: int, dst: torch.Tensor, src: torch.Tensor) -> None:
        """Module ``dst[i]`` of the layer becomes a copy of module ``src[i]``."""
        dst, src = torch.as_tensor(dst, dtype=torch.long), torch.as_tensor(src, dtype=torch.long)
        for t in self.layer_state(layer):
            t[dst] = t[src]


class TaskStatistics(nn.Module):
    """One task's own BatchNorm running statistics for the frozen modules of other tasks
    (``PathNetConfig(frozen_statistics="task")``): ``rows{l}`` ``(M,)`` bool marks the
    modules of layer ``l`` it overrides, ``mean{l}`` / ``var{l}`` ``(M, c_out)`` hold them."""

    def __init__(self, running: list[tuple[torch.Tensor, torch.Tensor]], rows: np.ndarray) -> None:
        super().__init__()
        for layer, (mean, var) in enumerate(running):
            self.register_buffer(f"rows{layer}", torch.from_numpy(np.array(rows[layer], bool)))
            self.register_buffer(f"mean{layer}", mean.detach().clone())
            self.register_buffer(f"var{layer}", var.detach().clone())

    def layer(self, layer: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(rows, mean, var)`` of a layer."""
        return (
            getattr(self, f"rows{layer}"),
            getattr(self, f"mean{layer}"),
            getattr(self, f"var{layer}"),
        )


class SuperNet(RowModules):
    #: compute a layer of a path as one conv where that is the same function (see the
    #: module docstring); False: every module on its own (the reference)
    fold_modules: bool = True
    #: run the conv layers in channels-last memory layout (how, not what: the same function
    #: up to float rounding, tested): oneDNN's CPU kernels for it train a pair of paths in
    #: 0.63x the time and one path in 0.87x (``benchmarks/bench_pathnet.py``)
    channels_last: bool = True

    def __init__(self, config: PathNetConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        M = config.modules
        k = config.kernel
        self.weight = nn.ParameterList()
        self.norm_weight = nn.ParameterList()
        self.norm_bias = nn.ParameterList()
        self.bias = nn.ParameterList()
        for layer, (c_in, c_out) in enumerate(
            zip(config.layer_in_channels, config.layer_channels, strict=True)
        ):
            self.weight.append(nn.Parameter(torch.empty(M, c_out, c_in, k, k)))
            if config.norm in ("group", "batch"):
                self.norm_weight.append(nn.Parameter(torch.ones(M, c_out)))
                self.norm_bias.append(nn.Parameter(torch.zeros(M, c_out)))
            else:
                self.bias.append(nn.Parameter(torch.zeros(M, c_out)))
            if config.norm == "batch":
                self.register_buffer(f"running_mean{layer}", torch.zeros(M, c_out))
                self.register_buffer(f"running_var{layer}", torch.ones(M, c_out))
        self._init_rows(config.layers, M, generator)

    def add_task_statistics(self, task: str, rows: np.ndarray) -> None:
        """``task`` keeps its own BatchNorm statistics for the modules ``rows`` ``(L, M)``
        bool (frozen modules of other tasks), starting from theirs."""
        if self.config.norm != "batch" or not np.asarray(rows).any():
            return
        running = [tuple(self.layer_buffers(layer)) for layer in range(self.config.layers)]
        self.task_stats[task] = TaskStatistics(running, np.asarray(rows, bool))

    def running_statistics(
        self, layer: int, rows: torch.Tensor, task: str | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(mean, var, mine)`` for the modules ``rows`` of a layer as ``task`` sees them:
        each module's own running statistics, except the task's copies where it keeps its
        own (``mine``, bool per row)."""
        rm, rv = (t.index_select(0, rows) for t in self.layer_buffers(layer))
        if task is None or task not in self.task_stats:
            return rm, rv, torch.zeros(len(rows), dtype=torch.bool)
        t_rows, t_mean, t_var = self.task_stats[task].layer(layer)
        mine = t_rows.index_select(0, rows)
        rm = torch.where(mine[:, None], t_mean.index_select(0, rows), rm)
        rv = torch.where(mine[:, None], t_var.index_select(0, rows), rv)
        return rm, rv, mine

    # -- parameters -----------------------------------------------------------------------
    def layer_params(self, layer: int) -> list[nn.Parameter]:
        """The ``(M, ...)`` parameters of one layer (row ``i`` belongs to module ``i``)."""
        if self.config.norm in ("group", "batch"):
            return [self.weight[layer], self.norm_weight[layer], self.norm_bias[layer]]
        return [self.weight[layer], self.bias[layer]]

    def layer_buffers(self, layer: int) -> list[torch.Tensor]:
        """The ``(M, ...)`` state of one layer's modules that is not trained by gradients
        (BatchNorm running statistics; none for the other norms)."""
        if self.config.norm == "batch":
            return [getattr(self, f"running_mean{layer}"), getattr(self, f"running_var{layer}")]
        return []

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
        if self.config.norm in ("group", "batch"):
            self.norm_weight[layer][rows] = 1.0
            self.norm_bias[layer][rows] = 0.0
        else:
            self.bias[layer][rows] = 0.0
        if self.config.norm == "batch":
            getattr(self, f"running_mean{layer}")[rows] = 0.0
            getattr(self, f"running_var{layer}")[rows] = 1.0

    def add_head(self, name: str, n_classes: int, generator: torch.Generator | None) -> nn.Module:
        """A new task head (``nn.Linear``, or an ``MLPHead`` with ``head_hidden``)."""
        cfg = self.config
        head = make_head(cfg.feature_dim, n_classes, cfg.head_hidden, cfg.head_dropout)
        reset_head(head, generator)
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
        head: str,
        cache: tuple[PrefixCache, Hashable] | None = None,
    ) -> torch.Tensor:
        """Logits ``(P, B, K)`` of ``P`` paths through the task head ``head``.

        ``x``: ``(P, B, C, S, S)`` (each path its own batch) or ``(B, C, S, S)`` (the same
        batch for every path). ``genotypes``: ``(P, L, N)`` or ``(L, N)``. Training or
        evaluation behaviour (BatchNorm statistics, head dropout) follows ``self.training``.
        ``cache``: ``(PrefixCache, key of x)`` where ``x`` is a chunk of a fixed set: in
        evaluation mode the paths' frozen prefix output is taken from it or stored in it.
        """
        idx, mask = self.path_tensors(genotypes)
        P = idx.shape[0]
        if x.dim() == 4:
            x = x.unsqueeze(0).expand(P, *x.shape)
        feats = self.features(x, idx, mask, head, cache)  # (B, P, F)
        h = self.heads[head]
        out = h(feats) if isinstance(h, nn.Linear) else h(feats, self.generator)
        return out.transpose(0, 1)

    def features(
        self,
        x: torch.Tensor,
        idx: torch.Tensor,
        mask: torch.Tensor | None,
        task: str | None = None,
        cache: tuple[PrefixCache, Hashable] | None = None,
    ) -> torch.Tensor:
        """``x`` ``(P, B, C, S, S)``, ``idx`` ``(P, L, N)`` -> head inputs ``(B, P, F)``
        (``task``: whose statistics the frozen modules use, when it has its own).

        The frozen prefix (:mod:`.prefix`) runs without autograd; with ``cache`` (in
        evaluation mode, frozen modules on their owner's statistics) its output is reused."""
        cfg = self.config
        P, B = x.shape[0], x.shape[1]
        # (P, B, C, S, S) -> (B, P*C, S, S): path p owns channel block p (grouped conv)
        h = x.transpose(0, 1).reshape(B, P * x.shape[2], x.shape[3], x.shape[4])
        h = (h - INPUT_SHIFT) / INPUT_SCALE
        prefix = self.frozen_prefix(idx)
        start, key = 0, None
        if cache is not None and prefix and not self.training and task not in self.task_stats:
            key = prefix_key(cache[1], idx, prefix)
            hit = cache[0].get(key)
            if hit is not None:
                h, start = hit, prefix
        grad = torch.is_grad_enabled()
        for layer in range(start, cfg.layers):
            with torch.set_grad_enabled(grad and layer >= prefix):
                h = self._layer(h, layer, idx, mask, task)
            if key is not None and layer + 1 == prefix:
                cache[0].put(key, h)
        h = h.reshape(B, P, cfg.layer_channels[-1], h.shape[2], h.shape[3])
        if cfg.head == "gap":
            return h.mean((3, 4))
        return h.flatten(2)

    def _layer(
        self,
        h: torch.Tensor,
        layer: int,
        idx: torch.Tensor,
        mask: torch.Tensor | None,
        task: str | None,
    ) -> torch.Tensor:
        """One layer of every path: ``h`` ``(B, P*c_in, S, S)`` -> ``(B, P*c_out, S', S')``."""
        cfg = self.config
        B, P, N = h.shape[0], idx.shape[0], idx.shape[2]
        if self.channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        c_out = cfg.layer_channels[layer]
        rows = idx[:, layer, :].reshape(-1)  # (P*N,)
        if self._folds(layer):
            m = None if mask is None else mask[:, layer, :]
            return self._relu_pool(self.folded_conv(h, layer, rows, m, P, task))
        w = self.weight[layer].index_select(0, rows)  # (P*N, c_out, c_in, k, k)
        w = w.reshape(P * N * c_out, *w.shape[2:])
        if cfg.norm == "group":
            y = F.conv2d(h, w, padding=cfg.kernel // 2, groups=P)
            gamma = self.norm_weight[layer].index_select(0, rows).reshape(-1)
            beta = self.norm_bias[layer].index_select(0, rows).reshape(-1)
            y = F.group_norm(y, P * N * cfg.norm_groups, gamma, beta, GN_EPS)
        elif cfg.norm == "batch":
            y = F.conv2d(h, w, padding=cfg.kernel // 2, groups=P)
            y = self._batch_norm(y, layer, rows, c_out, task)
        else:
            bias = self.bias[layer].index_select(0, rows).reshape(-1)
            y = F.conv2d(h, w, bias, padding=cfg.kernel // 2, groups=P)
        if cfg.relu == "module":  # each module's own non-linearity, before combining
            y = F.relu(y)
        if N == 1:  # one module per layer (the default): nothing to combine
            return self._relu_pool(y)
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
        return self._relu_pool(y.reshape(B, P * c_out, H, W))

    def _relu_pool(self, h: torch.Tensor) -> torch.Tensor:
        """The layer's ReLU (``relu="layer"``) and pooling. Max-pooling goes first: ReLU is
        monotone, so the values are the same, and the ReLU runs on a quarter of them."""
        cfg = self.config
        relu = F.relu if cfg.relu == "layer" else (lambda t: t)
        if cfg.pool == "max":
            return relu(F.max_pool2d(h, cfg.pool_size))
        h = relu(h)
        return F.avg_pool2d(h, cfg.pool_size) if cfg.pool == "avg" else h

    def _folds(self, layer: int) -> bool:
        """Whether layer ``layer`` is computed as one conv per path (:meth:`folded_conv`)."""
        cfg = self.config
        if not self.fold_modules or cfg.relu != "layer" or cfg.norm == "group":
            return False
        # training with BatchNorm: only the input layer, whose batch statistics follow from
        # its input's patch moments (the input needs no gradient)
        return not self.training or cfg.norm == "none" or layer == 0

    def folded_conv(
        self,
        h: torch.Tensor,
        layer: int,
        rows: torch.Tensor,
        mask: torch.Tensor | None,
        P: int,
        task: str | None,
    ) -> torch.Tensor:
        """The layer's combined module outputs, before the ReLU, as ONE grouped conv.

        ``h`` ``(B, P*c_in, S, S)``, ``rows`` ``(P*N,)`` the active modules of each path,
        ``mask`` ``(P, N)`` (repeated genes count once) or None. Module ``j`` computes
        ``s_j * conv(h, W_j) + b_j`` per channel (BatchNorm: ``s = gamma / sqrt(var + eps)``,
        ``b = beta - s * mean``; no norm: ``s = 1``, ``b`` its bias), so the sum over a
        path's modules is ``conv(h, sum_j s_j W_j) + sum_j b_j``. In training mode
        (BatchNorm, input layer only) ``mean`` and ``var`` of a trainable module are its
        batch statistics, ``W_j m`` and ``diag(W_j C W_j^T)`` for the mean ``m`` and
        covariance ``C`` of the path's input patches, exactly what ``F.batch_norm`` would
        compute from the conv's output; they update the running statistics as it would."""
        cfg = self.config
        c_out = cfg.layer_channels[layer]
        N = len(rows) // P
        w = self.weight[layer].index_select(0, rows)  # (P*N, c_out, c_in, k, k)
        if cfg.norm == "batch":
            scale, shift = self._folded_affine(h, layer, rows, w, P, task)
        else:
            scale = torch.ones(len(rows), c_out)
            shift = self.bias[layer].index_select(0, rows)
        if mask is not None:
            m = mask.reshape(-1, 1)
            scale, shift = scale * m, shift * m
        if cfg.combine == "mean":
            n = (mask.sum(1) if mask is not None else torch.full((P,), float(N))).repeat_interleave(
                N
            )
            scale, shift = scale / n[:, None], shift / n[:, None]
        w = (w * scale[:, :, None, None, None]).view(P, N, c_out, *w.shape[2:]).sum(1)
        bias = shift.view(P, N, c_out).sum(1).reshape(-1)
        return F.conv2d(
            h, w.reshape(P * c_out, *w.shape[2:]), bias, padding=cfg.kernel // 2, groups=P
        )

    def _folded_affine(
        self,
        h: torch.Tensor,
        layer: int,
        rows: torch.Tensor,
        w: torch.Tensor,
        P: int,
        task: str | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per module and channel ``(P*N, c_out)``: BatchNorm's ``scale`` and ``shift``
        (see :meth:`folded_conv`); in training mode, the running statistics of the
        trainable modules (and of the task's copies) take one step, as in ``_batch_norm``."""
        cfg = self.config
        c_out = w.shape[1]
        rm, rv, mine = self.running_statistics(layer, rows, task)  # (P*N, c_out)
        mean, var = rm, rv
        if self.training:
            frozen = torch.from_numpy(self.frozen_rows[layer]).index_select(0, rows)
            batch_m, batch_v, n = self._patch_statistics(h, w, P)
            use_batch = (~frozen | mine)[:, None]
            mean = torch.where(use_batch, batch_m, rm)
            var = torch.where(use_batch, batch_v, rv)
            with torch.no_grad():
                mom = cfg.bn_momentum
                unbiased = batch_v.detach() * (n / max(n - 1, 1))
                new_m = ((1 - mom) * rm + mom * batch_m.detach()).reshape(-1)
                new_v = ((1 - mom) * rv + mom * unbiased).reshape(-1)
            self._step_running(layer, rows, new_m, new_v, frozen, mine, task, c_out)
        gamma = self.norm_weight[layer].index_select(0, rows)
        beta = self.norm_bias[layer].index_select(0, rows)
        scale = gamma / torch.sqrt(var + BN_EPS)
        return scale, beta - scale * mean

    def _patch_statistics(
        self, h: torch.Tensor, w: torch.Tensor, P: int
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Batch mean and (biased) variance ``(P*N, c_out)`` of every module's conv output
        over its path's batch and positions, from the patches of ``h`` (zero padding
        included, as the conv sees them), and the count they average over."""
        cfg = self.config
        B = h.shape[0]
        k = cfg.kernel
        patches = F.unfold(h.detach(), k, padding=k // 2)  # (B, P*c_in*k*k, positions)
        D = patches.shape[1] // P
        patches = patches.view(B, P, D, -1).permute(1, 2, 0, 3).reshape(P, D, -1)
        n = patches.shape[2]
        mu = patches.mean(2)  # (P, D)
        centred = patches - mu[:, :, None]  # centred first: no cancellation in float32
        cov = centred @ centred.transpose(1, 2) / n  # (P, D, D)
        N = w.shape[0] // P
        wf = w.reshape(P, N * w.shape[1], D)  # (P, N*c_out, D)
        mean = (wf @ mu[:, :, None]).squeeze(2)  # (P, N*c_out)
        var = ((wf @ cov) * wf).sum(2).clamp_min(0.0)
        return mean.reshape(-1, w.shape[1]), var.reshape(-1, w.shape[1]), n

    def _batch_norm(
        self, y: torch.Tensor, layer: int, rows: torch.Tensor, c_out: int, task: str | None
    ) -> torch.Tensor:
        """Per-module BatchNorm of ``y`` ``(B, P*N*c_out, H, W)``: channel block ``j``
        belongs to module ``rows[j]`` and holds only its own path's batch.

        Running statistics: the module's own, or, for a frozen module of another task when
        ``task`` keeps its own (:class:`TaskStatistics`), the task's copy. In training mode
        trainable modules and the task's copies normalise with batch statistics and update
        their running statistics; the other frozen modules use theirs, as in eval mode."""
        rm, rv, mine = self.running_statistics(layer, rows, task)  # mine: (P*N,) the task's
        rm, rv = rm.reshape(-1), rv.reshape(-1)
        gamma = self.norm_weight[layer].index_select(0, rows).reshape(-1)
        beta = self.norm_bias[layer].index_select(0, rows).reshape(-1)
        if not self.training:
            return F.batch_norm(y, rm, rv, gamma, beta, False, 0.0, BN_EPS)
        frozen = torch.from_numpy(self.frozen_rows[layer]).index_select(0, rows)  # (P*N,)
        fixed_rows = frozen & ~mine
        # batch statistics (the native kernel updates copies of the running statistics,
        # written back below)
        new_m, new_v = rm.clone(), rv.clone()
        out = F.batch_norm(y, new_m, new_v, gamma, beta, True, self.config.bn_momentum, BN_EPS)
        if bool(fixed_rows.any()):  # frozen modules: their running statistics, as in eval mode
            ch = torch.nonzero(fixed_rows.repeat_interleave(c_out)).view(-1)
            fixed = F.batch_norm(
                y.index_select(1, ch), rm[ch], rv[ch], gamma[ch], beta[ch], False, 0.0, BN_EPS
            )
            out = out.index_copy(1, ch, fixed)
        self._step_running(layer, rows, new_m, new_v, frozen, mine, task, c_out)
        return out

    def _step_running(self, layer, rows, new_m, new_v, frozen, mine, task, c_out) -> None:
        """One training step of the running statistics (``new_m`` / ``new_v``, flat per
        channel of ``rows``): the trainable modules' own, and the task's copies (``mine``)."""
        self._update_running(self.layer_buffers(layer), rows, new_m, new_v, ~frozen, c_out)
        if bool(mine.any()):
            _, *copies = self.task_stats[task].layer(layer)
            self._update_running(copies, rows, new_m, new_v, mine, c_out)

    @staticmethod
    @torch.no_grad()
    def _update_running(buffers, rows, new_m, new_v, keep, c_out) -> None:
        """Write the updated running statistics of the modules ``keep`` back into
        ``buffers`` (mean, var); a module on both paths of a pair takes the mean of its two
        updates."""
        rows = rows[keep]
        if len(rows) == 0:
            return
        new_m, new_v = new_m.view(-1, c_out)[keep], new_v.view(-1, c_out)[keep]
        uniq, inv = torch.unique(rows, return_inverse=True)
        count = torch.zeros(len(uniq)).index_add_(0, inv, torch.ones(len(rows))).view(-1, 1)
        for buf, new in zip(buffers, (new_m, new_v), strict=True):
            buf[uniq] = torch.zeros(len(uniq), c_out).index_add_(0, inv, new) / count

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
            if cfg.norm in ("group", "batch"):
                blk.norm.weight.copy_(self.norm_weight[layer][r].reshape(-1))
                blk.norm.bias.copy_(self.norm_bias[layer][r].reshape(-1))
            else:
                blk.conv.bias.copy_(self.bias[layer][r].reshape(-1))
            if cfg.norm == "batch":
                rm, rv, _ = self.running_statistics(layer, r, head)
                blk.norm.running_mean.copy_(rm.reshape(-1))
                blk.norm.running_var.copy_(rv.reshape(-1))
        model.head.load_state_dict(self.heads[head].state_dict())
        return model.eval()
