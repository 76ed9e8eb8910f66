"""A super-network whose layers are the stages of the FER2013 mini-Xception
(``PathNetConfig(backbone="mini_xception")``).

Layer ``l`` holds ``M`` modules with the shape of the mini-Xception's stage ``l`` (the stem,
then the four residual blocks). Like :class:`~pathfer.models.pathnet.supernet.SuperNet`, it
stores every parameter and BatchNorm statistic of a layer's modules stacked in one ``(M, ...)``
tensor, so the per-module optimiser, snapshots, freezing and checkpoints of ``PathNet`` work
unchanged; a module is run by :func:`torch.func.functional_call` of the stage's template with
its rows. A path combines its (1 to N) modules of a layer by their mean (``combine``), and
ends in its task's head: the mini-Xception classifier (3x3 conv to one map per class, global
average pooling). BatchNorm follows the same rule as the conv super-network: a frozen
module always uses its running statistics (it is one fixed function for every task); a
trainable one uses batch statistics in training mode and updates its own.

This is the network behind :func:`~pathfer.models.pathnet.pretrained.from_mini_xception`,
where module 0 of every layer is the pretrained stage, frozen as the task ``fer2013``.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from ..baselines.mini_xception import (
    KERAS_BN_EPS,
    MiniXception,
    MiniXceptionPath,
    combine_outputs,
    prepare_input,
)
from ..nn import init_conv_
from .config import PathNetConfig
from .genotype import active_modules
from .prefix import PrefixCache, prefix_key
from .supernet import RowModules


def _template(config: PathNetConfig, n_classes: int = 7) -> MiniXception:
    ch = config.layer_channels
    return MiniXception(
        n_classes=n_classes,
        input_size=config.input_size,
        stem_channels=ch[0],
        channels=tuple(ch[1:]),
        bn_eps=KERAS_BN_EPS,
    )


class StageSuperNet(RowModules):
    def __init__(self, config: PathNetConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if config.backbone != "mini_xception":
            raise ValueError("StageSuperNet needs PathNetConfig(backbone='mini_xception')")
        self.config = config
        M = config.modules
        base = _template(config)
        if len(base.features) != config.layers:
            raise ValueError(
                f"a mini-Xception backbone has {len(base.features)} stages: layers must be "
                f"{len(base.features)} and channels one per stage, got layers={config.layers}"
            )
        # templates run the modules; they are not part of the state (kept out of the tree)
        self._templates: list[nn.Module] = [copy.deepcopy(st) for st in base.features]
        self._head_template = base.classifier
        self._param_names: list[list[str]] = []
        self._buffer_names: list[list[str]] = []
        self.stage_params = nn.ModuleList()
        for layer, st in enumerate(self._templates):
            names, plist = [], nn.ParameterList()
            for n, p in st.named_parameters():
                names.append(n)
                plist.append(nn.Parameter(p.detach().unsqueeze(0).repeat(M, *[1] * p.dim())))
            self._param_names.append(names)
            self.stage_params.append(plist)
            bnames = []
            for n, b in st.named_buffers():
                if n.endswith("num_batches_tracked"):  # momentum is set: never read
                    continue
                bnames.append(n)
                self.register_buffer(
                    f"stage{layer}_buf{len(bnames) - 1}", b.detach().unsqueeze(0).repeat(M, 1)
                )
            self._buffer_names.append(bnames)
        self._init_rows(config.layers, M, generator)

    # -- parameters -----------------------------------------------------------------------
    def layer_params(self, layer: int) -> list[nn.Parameter]:
        return list(self.stage_params[layer])

    def layer_buffers(self, layer: int) -> list[torch.Tensor]:
        return [
            getattr(self, f"stage{layer}_buf{i}") for i in range(len(self._buffer_names[layer]))
        ]

    @torch.no_grad()
    def reset_modules(
        self, layer: int, rows: torch.Tensor, generator: torch.Generator | None
    ) -> None:
        """Fresh modules: He-uniform convs, unit BatchNorm, zero running means."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        if len(rows) == 0:
            return
        for name, p in zip(self._param_names[layer], self.layer_params(layer), strict=True):
            if p.dim() == 5:  # a conv kernel (M, c_out, c_in / groups, k, k)
                p[rows] = init_conv_(torch.empty((len(rows), *p.shape[1:])), generator)
            elif name.endswith("weight"):  # BatchNorm scale
                p[rows] = 1.0
            else:
                p[rows] = 0.0
        for name, b in zip(self._buffer_names[layer], self.layer_buffers(layer), strict=True):
            b[rows] = 1.0 if name.endswith("running_var") else 0.0

    @torch.no_grad()
    def load_stage(self, layer: int, row: int, stage: nn.Module) -> None:
        """Module ``row`` of the layer takes the weights and statistics of ``stage``."""
        params = dict(stage.named_parameters())
        buffers = dict(stage.named_buffers())
        for name, p in zip(self._param_names[layer], self.layer_params(layer), strict=True):
            p[row] = params[name]
        for name, b in zip(self._buffer_names[layer], self.layer_buffers(layer), strict=True):
            b[row] = buffers[name]

    def add_head(self, name: str, n_classes: int, generator: torch.Generator | None) -> nn.Module:
        """A new task head: the mini-Xception classifier for ``n_classes`` classes."""
        c = self.config.layer_channels[-1]
        head = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(c, n_classes, 3, padding=1, bias=True),
                pool=nn.AdaptiveAvgPool2d(1),
                flatten=nn.Flatten(),
            )
        )
        init_conv_(head.conv.weight.data, generator)
        head.conv.bias.data.zero_()
        self.heads[name] = head
        return head

    # -- forward --------------------------------------------------------------------------
    def _module_state(self, layer: int, row: int) -> dict[str, torch.Tensor]:
        """Module ``row``'s parameters and statistics by the stage's names (views of the
        stacks: gradients and BatchNorm's in-place updates land in them)."""
        names = [*self._param_names[layer], *self._buffer_names[layer]]
        return {n: t[row] for n, t in zip(names, self.layer_state(layer), strict=True)}

    def _run(self, layer: int, row: int, h: torch.Tensor) -> torch.Tensor:
        st = self._templates[layer]
        frozen = bool(self.frozen_rows[layer, row])
        st.train(self.training and not frozen)
        state = self._module_state(layer, row)
        if frozen:  # no weight gradients to compute for a module that never changes
            state = {k: v.detach() for k, v in state.items()}
        return functional_call(st, state, (h,), strict=False)

    def forward_paths(
        self,
        x: torch.Tensor,
        genotypes: np.ndarray,
        head: str,
        cache: tuple[PrefixCache, Hashable] | None = None,
    ) -> torch.Tensor:
        """Logits ``(P, B, K)`` of ``P`` paths (see ``SuperNet.forward_paths``); each path
        runs on its own, so the paths of a pair share the cached frozen prefixes."""
        g = np.asarray(genotypes, dtype=np.int64)
        if g.ndim == 2:
            g = g[None]
        P = g.shape[0]
        if x.dim() == 4:
            x = x.unsqueeze(0).expand(P, *x.shape)
        out = []
        for p in range(P):
            out.append(self.heads[head](self._path_features(x[p], g[p : p + 1], cache)))
        return torch.stack(out)

    def _path_features(
        self, x: torch.Tensor, g: np.ndarray, cache: tuple[PrefixCache, Hashable] | None
    ) -> torch.Tensor:
        """The last stage's output of the path ``g`` ``(1, L, N)``; its frozen prefix
        (:mod:`.prefix`) without autograd, and from ``cache`` in evaluation mode."""
        prefix = self.frozen_prefix(g)
        start, key, h = 0, None, None
        if cache is not None and prefix and not self.training:
            key = prefix_key(cache[1], g, prefix)
            h = cache[0].get(key)
            start = 0 if h is None else prefix
        if h is None:
            h = prepare_input(x, self.config.input_size)
        grad = torch.is_grad_enabled()
        act = active_modules(g[0])
        for layer in range(start, self.config.layers):
            with torch.set_grad_enabled(grad and layer >= prefix):
                outs = [self._run(layer, int(r), h) for r in act[layer]]
                h = combine_outputs(outs, self.config.combine)
            if key is not None and layer + 1 == prefix:
                cache[0].put(key, h)
        return h

    # -- materialise ----------------------------------------------------------------------
    @torch.no_grad()
    def materialise(self, genotype: np.ndarray, head: str) -> MiniXceptionPath:
        """The path as a plain :class:`MiniXceptionPath` (copies of its modules, eval mode)."""
        act = active_modules(genotype)
        cfg = self.config
        h = self.heads[head]
        model = MiniXceptionPath(
            n_classes=h.conv.out_channels,
            branches=[len(a) for a in act],
            combine=cfg.combine,
            input_size=cfg.input_size,
            stem_channels=cfg.layer_channels[0],
            channels=list(cfg.layer_channels[1:]),
            bn_eps=KERAS_BN_EPS,
        )
        for layer, rows in enumerate(act):
            for branch, r in zip(model.features[layer].branches, rows, strict=True):
                branch.load_state_dict(self._module_state(layer, int(r)), strict=False)
        model.classifier.load_state_dict(h.state_dict())
        return model.eval()
