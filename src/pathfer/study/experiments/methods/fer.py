"""Methods built on the FER2013-trained mini-Xception shipped with pathfer."""

from __future__ import annotations

import time

import torch
from torch import nn

from pathfer.data import emotions
from pathfer.study.experiments.methods.base import (
    FoldData,
    MethodOutput,
    predict_proba,
    register_method,
    tuned_fit,
)


class LabelSubset(nn.Module):
    """A classifier's logits restricted (and re-ordered) to a label subset.

    :func:`unwrap` folds it back into a plain mini-Xception with a smaller head.
    """

    def __init__(self, model: nn.Module, index: list[int]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("index", torch.tensor(index, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, self.index]


def unwrap(model: nn.Module) -> nn.Module:
    """A :class:`LabelSubset` around a mini-Xception as a plain mini-Xception whose head
    has only the subset's classes (same logits), so it can be saved as a bundle."""
    if not isinstance(model, LabelSubset):
        return model
    from pathfer.models.baselines.mini_xception import MiniXception

    inner = model.model
    kw = inner.arch_kwargs()
    kw["n_classes"] = len(model.index)
    out = MiniXception(**kw)
    state = inner.state_dict()
    for key in ("classifier.conv.weight", "classifier.conv.bias"):
        state[key] = state[key][model.index]
    out.load_state_dict(state)
    return out.eval()


def _pretrained(labels: list[str]) -> nn.Module:
    from pathfer.use.bundle import default_bundle_path, load_bundle

    bundle = load_bundle(default_bundle_path())
    model = bundle.model
    fer = [emotions.canonical(x) for x in bundle.labels]
    if all(lab in fer for lab in labels):
        return LabelSubset(model, [fer.index(lab) for lab in labels])
    model.replace_head(len(labels))  # labels FER2013 lacks: a new head
    return model


@register_method("mini_xception_zeroshot", cost=1)
def mini_xception_zeroshot(d: FoldData) -> MethodOutput:
    """The FER2013-trained mini-Xception, used as is on the mapped classes."""
    t0 = time.perf_counter()
    model = _pretrained(d.target.labels)
    if not isinstance(model, LabelSubset):
        raise ValueError(f"zero-shot needs FER2013's classes; {d.target.labels} has others")
    return MethodOutput(predict_proba(model, d.target.test.x), time.perf_counter() - t0, {}, model)


@register_method("mini_xception_finetune", cost=7)
def mini_xception_finetune(d: FoldData) -> MethodOutput:
    """The FER2013-trained mini-Xception fine-tuned on the target (learning rate tuned)."""
    lrs = [lr / 3 for lr in d.train.lrs]  # a pre-trained net wants smaller steps
    model, extra = tuned_fit(
        lambda: _pretrained(d.target.labels), d.target, d.train, d.seed, lrs=lrs
    )
    return MethodOutput(
        predict_proba(model, d.target.test.x), extra.pop("train_time_s"), extra, model
    )
