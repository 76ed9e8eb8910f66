"""How a task's head starts: fresh (drawn with the task), or from a learnt task's head
(``learn_task(..., head_from=name)``, e.g. the FER2013 classifier of a PathNet over its
stages): layers of equal shape are copied, and the class rows of the labels both tasks share;
the other rows keep their fresh initialisation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ..model import PathNet


@torch.no_grad()
def start_head_from(pn: PathNet, name: str, labels: list[str] | None, donor: str) -> None:
    d = pn._usable(donor)
    if labels is None or d.labels is None:
        raise ValueError(f"head_from={donor!r} needs labels for both tasks")
    pairs = [(i, d.labels.index(lab)) for i, lab in enumerate(labels) if lab in d.labels]
    mine, theirs = pn.net.heads[name].state_dict(), pn.net.heads[donor].state_dict()
    output = list(mine)[-2:]  # every head ends in its class layer (weight, bias)
    new = {}
    for k, v in mine.items():
        w = theirs.get(k)
        if w is None or w.shape[1:] != v.shape[1:]:
            continue
        if k in output:
            new[k] = v.clone()
            for i, j in pairs:
                new[k][i] = w[j]
        elif w.shape == v.shape:
            new[k] = w.clone()
    pn.net.heads[name].load_state_dict({**mine, **new})
