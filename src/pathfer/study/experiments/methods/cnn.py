"""CNN methods: the plain CNN with one path's capacity (from scratch, fine-tuned from the
source, the source's features with a new head) and the BatchNorm reference CNN (from
scratch, and fine-tuned from the source), the yardstick of every study."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from pathfer.models.baselines.reference_cnn import ReferenceCNN
from pathfer.models.nn import PlainCNN
from pathfer.models.pathnet import PathNetConfig
from pathfer.study.experiments.methods.base import (
    CNN_RECIPE,
    FoldData,
    MethodOutput,
    Recipe,
    accuracy_of,
    cnn_kwargs,
    pathnet_config,
    register_method,
    source_info,
    source_path,
    trained_output,
    tuned_fit,
)

#: the reference CNN's recipe: Adam 1e-3, up to 30 epochs, the best validation epoch kept
REFERENCE_RECIPE = Recipe(lr_scale=1.0, max_epochs=30, patience=8, max_shift=2)


def family_model(
    family: str, d_or_cfg: FoldData | PathNetConfig, n_classes: int, size: int
) -> nn.Module:
    """A fresh network of a CNN source family (``cnn``: one path's plain CNN;
    ``reference_cnn``: the BatchNorm reference) for ``n_classes`` at ``size`` pixels."""
    if family == "reference_cnn":
        return ReferenceCNN(n_classes, input_size=size)
    if family == "cnn":
        return PlainCNN(n_classes, **cnn_kwargs(pathnet_config(d_or_cfg, size)))
    raise ValueError(f"unknown CNN family {family!r}")


def _size(d: FoldData) -> int:
    return int(d.target.fit.x.shape[-1])


@register_method("cnn_scratch", cost=3, recipe=CNN_RECIPE)
def cnn_scratch(d: FoldData) -> MethodOutput:
    """A plain CNN with the capacity of one path, trained on the target from scratch."""
    n = len(d.target.labels)
    model, info = tuned_fit(
        lambda: family_model("cnn", d, n, _size(d)), d.target, d.train, d.seed, d.budget
    )
    return trained_output(model, d, info)


@register_method("reference_cnn", cost=4, recipe=REFERENCE_RECIPE)
def reference_cnn(d: FoldData) -> MethodOutput:
    """The BatchNorm reference CNN (32-32-64-64, FC 128, dropout 0.5) trained on the target."""
    n = len(d.target.labels)
    model, info = tuned_fit(
        lambda: family_model("reference_cnn", d, n, _size(d)),
        d.target,
        d.train,
        d.seed,
        d.budget,
        max_shift=REFERENCE_RECIPE.max_shift,
    )
    return trained_output(model, d, info)


def _source(d: FoldData, family: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = load_file(str(source_path(d.source_dir, family, d.seed).with_suffix(".safetensors")))
    return state, source_info(d.source_dir, family, d.seed)


def _from_source(family: str, state: dict, d: FoldData) -> Callable[[], nn.Module]:
    """A maker of the source network with a new head for the target's classes."""

    def make() -> nn.Module:
        m = family_model(family, d, len(d.target.labels), _size(d))
        body = {k: v for k, v in state.items() if not k.startswith("head.")}
        missing, _ = m.load_state_dict(body, strict=False)
        assert all(k.startswith("head.") for k in missing), missing
        return m

    return make


def _forgetting(d: FoldData, family: str, body: nn.Module, state: dict, info: dict) -> dict:
    """The last source's accuracy with its own head on the (possibly changed) body."""
    src = d.sources[-1]
    probe = family_model(family, d, len(src.labels), _size(d))
    probe.load_state_dict(state)
    own = {k: v for k, v in body.state_dict().items() if not k.startswith("head.")}
    probe.load_state_dict(own, strict=False)
    return {
        "source_acc_before": info["tasks"][-1]["test_acc"],
        "source_acc_after": accuracy_of(probe, src.test),
        "source_train_time_s": info["train_time_s"],
    }


def _finetuned(d: FoldData, family: str, head_only: bool, max_shift: int) -> MethodOutput:
    state, info = _source(d, family)
    model, extra = tuned_fit(
        _from_source(family, state, d),
        d.target,
        d.train,
        d.seed,
        d.budget,
        params=(lambda m: m.head.parameters()) if head_only else None,
        max_shift=max_shift,
    )
    extra.update(_forgetting(d, family, model, state, info))
    return trained_output(model, d, extra)


@register_method("finetune", needs_source="cnn", cost=4, recipe=CNN_RECIPE)
def finetune(d: FoldData) -> MethodOutput:
    """The plain CNN trained on the source, then every layer trained on the target."""
    return _finetuned(d, "cnn", head_only=False, max_shift=CNN_RECIPE.max_shift)


@register_method("feature_extraction", needs_source="cnn", cost=2, recipe=CNN_RECIPE)
def feature_extraction(d: FoldData) -> MethodOutput:
    """The source CNN frozen; only a new head is trained on the target."""
    return _finetuned(d, "cnn", head_only=True, max_shift=CNN_RECIPE.max_shift)


@register_method(
    "reference_finetune", needs_source="reference_cnn", cost=4, recipe=REFERENCE_RECIPE
)
def reference_finetune(d: FoldData) -> MethodOutput:
    """The reference CNN trained on the source, then every layer trained on the target."""
    return _finetuned(d, "reference_cnn", head_only=False, max_shift=REFERENCE_RECIPE.max_shift)
