"""Plain-CNN methods: from scratch, fine-tuned from the source, and the source's features
with a new head."""

from __future__ import annotations

from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from pathfer.models.nn import PlainCNN
from pathfer.study.experiments.methods.base import (
    FoldData,
    MethodOutput,
    accuracy_of,
    cnn_kwargs,
    pathnet_config,
    predict_proba,
    register_method,
    source_info,
    source_path,
    tuned_fit,
)


@register_method("cnn_scratch", cost=3)
def cnn_scratch(d: FoldData) -> MethodOutput:
    """A plain CNN with the capacity of one path, trained on the target from scratch."""
    kw = cnn_kwargs(pathnet_config(d, int(d.target.fit.x.shape[-1])))
    model, info = tuned_fit(lambda: PlainCNN(len(d.target.labels), **kw), d.target, d.train, d.seed)
    return MethodOutput(
        predict_proba(model, d.target.test.x), info.pop("train_time_s"), info, model
    )


def _source_cnn(d: FoldData) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    state = load_file(str(source_path(d.source_dir, "cnn", d.seed).with_suffix(".safetensors")))
    info = source_info(d.source_dir, "cnn", d.seed)
    kw = cnn_kwargs(pathnet_config(d, int(d.target.fit.x.shape[-1])))
    return state, info, kw


def _forgetting(d: FoldData, body: nn.Module, state: dict, info: dict, kw: dict) -> dict:
    """The last source's accuracy with its own head on the (possibly changed) body."""
    src = d.sources[-1]
    probe = PlainCNN(len(src.labels), **kw)
    probe.load_state_dict(state)
    own = {k: v for k, v in body.state_dict().items() if not k.startswith("head.")}
    probe.load_state_dict(own, strict=False)
    return {
        "source_acc_before": info["tasks"][-1]["test_acc"],
        "source_acc_after": accuracy_of(probe, src.test),
        "source_train_time_s": info["train_time_s"],
    }


def _from_source(state: dict, n_classes: int, kw: dict) -> PlainCNN:
    m = PlainCNN(n_classes, **kw)
    body = {k: v for k, v in state.items() if not k.startswith("head.")}
    missing, _ = m.load_state_dict(body, strict=False)
    assert all(k.startswith("head.") for k in missing), missing
    return m


@register_method("finetune", needs_source="cnn", cost=4)
def finetune(d: FoldData) -> MethodOutput:
    """The plain CNN trained on the source, then every layer trained on the target."""
    state, info, kw = _source_cnn(d)
    n = len(d.target.labels)
    model, extra = tuned_fit(lambda: _from_source(state, n, kw), d.target, d.train, d.seed)
    extra.update(_forgetting(d, model, state, info, kw))
    return MethodOutput(
        predict_proba(model, d.target.test.x), extra.pop("train_time_s"), extra, model
    )


@register_method("feature_extraction", needs_source="cnn", cost=2)
def feature_extraction(d: FoldData) -> MethodOutput:
    """The source CNN frozen; only a new head is trained on the target."""
    state, info, kw = _source_cnn(d)
    n = len(d.target.labels)
    model, extra = tuned_fit(
        lambda: _from_source(state, n, kw),
        d.target,
        d.train,
        d.seed,
        params=lambda m: m.head.parameters(),
    )
    extra.update(_forgetting(d, model, state, info, kw))
    return MethodOutput(
        predict_proba(model, d.target.test.x), extra.pop("train_time_s"), extra, model
    )
