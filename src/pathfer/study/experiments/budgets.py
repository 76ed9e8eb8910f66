"""The training budgets of an experiment's gradient-trained methods (``train:`` and
``budgets:``), apart from the config so that the methods can name their types."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from pathfer.runtime.validation import Bool, Float, Int, positive, settings


def as_list(value: Any) -> Any:
    """A single value where a list is expected is a list of one (``seeds: 1``,
    ``methods: cnn_scratch``)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


@settings
class TrainBudget:
    """The budget every gradient-trained method shares; each method scales it by its own
    recipe (``register_method(..., recipe=Recipe(...))``) and ``budgets:`` overrides one
    method's.

    ``lrs`` are *base* learning rates: a method trains with ``lr * recipe.lr_scale`` for each
    (the pretrained mini-Xception's scale is 0.3, so the default base 1e-3 gives it 3e-4).
    One rate is the default; a list is a grid, each rate trained and the best on the
    validation subjects kept. ``max_epochs`` / ``patience`` left out: each method's own.
    """

    lrs: Annotated[list[positive(Float)], BeforeValidator(as_list), Field(min_length=1)] = (
        dataclasses.field(default_factory=lambda: [1e-3])
    )
    batch_size: Annotated[Int, Field(ge=1)] = 32
    #: a cap on the optimiser steps of one training run, whatever the epochs
    max_steps: Annotated[Int, Field(ge=1)] = 1500
    #: epochs of one training run (None: each method's own, see its recipe)
    max_epochs: Annotated[Int, Field(ge=1)] | None = None
    #: early stopping: epochs (one validation pass each) without a better validation
    #: accuracy (None: each method's own)
    patience: Annotated[Int, Field(ge=1)] | None = None
    weight_decay: Annotated[Float, Field(ge=0)] = 1e-4
    #: choose, then refit (scikit-learn's ``refit``): once the validation subjects chose the
    #: rate and the epochs (PathNet: the path and the finish length), the final model is
    #: trained with that choice on all of the fold's training subjects (fit + validation).
    #: On by default: held-out subjects gained 1.4 and 1.3 points over five methods, both
    #: dev directions (docs/tuning.md, "Choose, then refit"); a CNN then trains about twice
    #: (2.4-3.7x its CPU in the README's study), PathNet reruns only its finish
    refit: Bool = True
    #: the epochs of the refit of a gradient-trained network (``tuned_fit``): ``max``, the
    #: method's ``max_epochs``, a budget fixed in advance as a plain script trains (on
    #: held-out subjects of both dev directions every network gained 0.5-3.6 points over the
    #: epoch validation stopped at, and up to 13 with 2-4 subjects: docs/tuning.md);
    #: ``chosen``, the epoch the validation run stopped at. Validation subjects still
    #: choose the rate either way
    refit_epochs: Literal["max", "chosen"] = "max"


@settings
class MethodBudget:
    """One method's training budget (``budgets: {method: {...}}``); a field left out comes
    from ``train:`` and the method's recipe. The resolved config lists every trained
    method's budget in full."""

    #: absolute learning rates (a list is a grid chosen on validation subjects)
    lrs: Annotated[list[positive(Float)], BeforeValidator(as_list), Field(min_length=1)] | None = (
        None
    )
    max_epochs: Annotated[Int, Field(ge=1)] | None = None
    patience: Annotated[Int, Field(ge=1)] | None = None


__all__ = ["MethodBudget", "TrainBudget", "as_list"]
