"""Methods built on the FER2013-trained mini-Xception shipped with pathfer."""

from __future__ import annotations

import time

import torch
from torch import nn

from pathfer.data import emotions
from pathfer.study.experiments.methods.base import (
    FER2013_CROP,
    FoldData,
    MethodOutput,
    Recipe,
    accuracy_of,
    predict_proba,
    register_method,
    trained_output,
    tuned_fit,
)

#: fine-tuning the pretrained network: every layer, Adam at 0.3 x the base rate (3e-4 by
#: default: it won on the validation subjects of all 5 CK+48 -> photos folds against 1e-4,
#: docs/tuning.md), at most 12 epochs, the best validation epoch kept, shifts up to 3 px
MINI_XCEPTION_RECIPE = Recipe(lr_scale=0.3, max_epochs=12, patience=4, max_shift=3)


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


@register_method("mini_xception_zeroshot", cost=1, crop=FER2013_CROP, trains=False)
def mini_xception_zeroshot(d: FoldData) -> MethodOutput:
    """The FER2013-trained mini-Xception, used as is on the mapped classes (at its own crop)."""
    t0 = time.perf_counter()
    model = _pretrained(d.target.labels)
    if not isinstance(model, LabelSubset):
        raise ValueError(f"zero-shot needs FER2013's classes; {d.target.labels} has others")
    proba = predict_proba(model, d.target.test.x)
    extra = {"val_acc": accuracy_of(model, d.target.val)}  # chooses nothing here; comparable
    return MethodOutput(proba, time.perf_counter() - t0, extra, model)


@register_method("mini_xception_finetune", cost=7, crop=FER2013_CROP, recipe=MINI_XCEPTION_RECIPE)
def mini_xception_finetune(d: FoldData) -> MethodOutput:
    """The FER2013-trained mini-Xception, every layer fine-tuned on the target at its own
    crop (:data:`MINI_XCEPTION_RECIPE`)."""
    model, extra = tuned_fit(
        lambda: _pretrained(d.target.labels),
        d.target,
        d.train,
        d.seed,
        d.budget,
        max_shift=MINI_XCEPTION_RECIPE.max_shift,
    )
    return trained_output(model, d, extra)
