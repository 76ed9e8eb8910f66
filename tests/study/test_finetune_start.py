"""What a fine-tuned CNN starts from: the source network's body, with a new head.

``finetune`` replaces the plain CNN's whole head (hidden and class layer): keeping the
source's hidden layer cost 1.8 points on choice subjects (docs/tuning.md, round 12). The
reference CNN's ``head`` is its class layer alone, so ``reference_finetune`` keeps its
hidden layer, as the issue's recipe does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pathfer.models.pathnet import EvolutionConfig, PathNetConfig
from pathfer.study.experiments.budgets import TrainBudget
from pathfer.study.experiments.methods.base import FoldData, Part, TaskData
from pathfer.study.experiments.methods.cnn import _from_source, family_model


def _fold(n_classes: int, size: int = 48) -> FoldData:
    part = Part(torch.zeros(2, 1, size, size), torch.zeros(2, dtype=torch.long))
    labels = [f"c{i}" for i in range(n_classes)]
    target = TaskData("target", labels, part, part, part)
    return FoldData(target, 0, PathNetConfig(), EvolutionConfig(), TrainBudget(), Path("."))


@pytest.mark.parametrize(("family", "kept_hidden"), [("cnn", False), ("reference_cnn", True)])
def test_finetuning_starts_from_the_source_body_with_a_new_head(family, kept_hidden):
    torch.manual_seed(0)
    source = family_model(family, PathNetConfig(), 7, 48)
    state = source.state_dict()
    torch.manual_seed(1)
    model = _from_source(family, state, _fold(6))()
    got = model.state_dict()
    head = {k for k in got if k.startswith("head.")}
    assert head and got.keys() == state.keys()
    for k, v in got.items():
        if k in head:  # drawn afresh for the target's 6 classes
            assert v.shape == state[k].shape or v.shape[0] == 6
            assert v.shape != state[k].shape or not torch.equal(v, state[k])
        else:  # convolutions, normalisation (and the reference's hidden layer)
            torch.testing.assert_close(v, state[k], rtol=0, atol=0)
    hidden = [k for k in got if ".hidden." in f".{k}"]
    assert hidden and all((k in head) != kept_hidden for k in hidden)
