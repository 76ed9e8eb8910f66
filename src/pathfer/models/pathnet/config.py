"""Configuration of the PathNet super-network and its evolution (validated settings).

Every value is validated on construction (pydantic; see :mod:`pathfer.runtime.validation`
for the shared rules: unknown keys refused, numeric strings read as numbers); errors name
the field and the allowed range. Both classes round-trip through plain dicts (``as_dict`` /
``from_dict``) so they can be stored in checkpoints, bundles and run folders as JSON, and
stay frozen dataclasses (``dataclasses.replace`` validates the new values too).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from pathfer.runtime.validation import Bool, Float, Int, settings

from ..nn import EVAL_BATCH


def _channels(value: Any) -> Any:
    """An int (every layer) or one int per layer; a YAML list becomes a tuple."""
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, bool) or not isinstance(value, (int, tuple)):
        raise ValueError(
            f"must be an integer or one integer per layer, e.g. [8, 16, 16, 16], got {value!r}"
        )
    for i, c in enumerate(value if isinstance(value, tuple) else (value,)):
        if isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= 4096:
            where = f" (layer {i})" if isinstance(value, tuple) else ""
            raise ValueError(f"must be integers in [1, 4096], got {c!r}{where}")
    return value


Channels = Annotated[Any, BeforeValidator(_channels)]


def _train_layers(value: Any) -> Any:
    """Layer indices, as a sorted tuple without repeats (a YAML list becomes one)."""
    if isinstance(value, (list, tuple)) and value:
        if all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 16 for v in value):
            return tuple(sorted(set(value)))
    raise ValueError(f"must be a list of layer indices in [0, 15], e.g. [0, 1, 2], got {value!r}")


TrainLayers = Annotated[Any, BeforeValidator(_train_layers)]


@settings(frozen=True)
class PathNetConfig:
    """Shape of the super-network.

    ``layers`` (L) conv layers, each holding ``modules`` (M) conv modules of ``channels``
    output channels; a path activates at most ``max_active`` (N) distinct modules per layer
    and combines their (per-module normalised) outputs by ``combine``.
    """

    layers: Annotated[Int, Field(ge=1, le=16)] = 4
    modules: Annotated[Int, Field(ge=1, le=1024)] = 10
    #: 1 with modules of the reference CNN's width: modules summed before one ReLU add no
    #: width to a path (see ``relu``), so one module per layer is the wide path's cheap form
    max_active: Annotated[Int, Field(ge=1)] = 1
    #: output channels of every module of a layer; an int (same for every layer) or one per
    #: layer. (32, 32, 64, 64) is the reference CNN's width
    channels: Channels = (32, 32, 64, 64)
    kernel: Annotated[Int, Field(ge=1, le=15)] = 3
    #: pooling (factor ``pool_size``) after every layer
    pool: Literal["max", "avg", "none"] = "max"
    pool_size: Annotated[Int, Field(ge=1, le=8)] = 2
    #: "batch": BatchNorm per module (running statistics per module; a frozen module always
    #: normalises with its own, so it computes one fixed function for every task);
    #: "group": GroupNorm per module (per sample, no running statistics); "none": conv bias only
    norm: Literal["batch", "group", "none"] = "batch"
    #: GroupNorm groups per module (must divide every layer's channel count)
    norm_groups: Annotated[Int, Field(ge=1, le=4096)] = 2
    combine: Literal["sum", "mean"] = "sum"
    #: where the ReLU sits. "module": every module is conv -> norm -> ReLU and a layer combines
    #: its modules' activations (PathNet's modules carry their own non-linearity, Fernando et
    #: al. 2017), so N active modules act like N * c_out hidden channels; "layer": the
    #: modules' normalised outputs are combined, then one ReLU (conv and norm are affine, so
    #: N modules add up to one c_out-channel conv: a path is no wider than one module).
    relu: Literal["module", "layer"] = "layer"
    #: "flatten": flatten the last feature map + linear; "gap": global average pool + linear
    head: Literal["flatten", "gap"] = "flatten"
    #: a hidden layer in every task head: features -> Linear(head_hidden) -> ReLU ->
    #: Dropout(head_dropout) -> Linear(n_classes); 0: one linear layer
    head_hidden: Annotated[Int, Field(ge=0, le=65536)] = 128
    head_dropout: Annotated[Float, Field(ge=0, lt=1)] = 0.5
    #: norm="batch": weight of the newest batch in the running statistics
    bn_momentum: Annotated[Float, Field(gt=0, le=1)] = 0.1
    #: norm="batch", the BatchNorm statistics a task learnt after a freeze uses in the frozen
    #: modules of other tasks: "owner" (theirs: a frozen module is one fixed function for
    #: every task) or "task" (its own copy, started from theirs and updated on its batches,
    #: as in AdaBN, Li et al. 2018: the frozen weights and BatchNorm scale and shift stay
    #: shared, the owner's predictions stay bit-identical, and a later task normalises the
    #: frozen features for its own data). Conv modules only: the mini-Xception stages of
    #: ``backbone="mini_xception"`` always run frozen with their owner's statistics
    frozen_statistics: Literal["owner", "task"] = "owner"
    #: what the modules left free by a freeze start from: "random" (fresh weights, the
    #: paper) or "copy" (copies of the frozen modules of their layer, round robin, so a
    #: later task can use the source features frozen or fine-tune copies of them).
    #: A task learnt before any freeze (the source, PathNet alone) is unaffected
    free_init: Literal["random", "copy"] = "copy"
    input_size: Annotated[Int, Field(ge=1, le=4096)] = 48
    in_channels: Annotated[Int, Field(ge=1, le=64)] = 1
    #: "conv": every module is a conv layer (above); "mini_xception": layer ``l``'s modules
    #: have the shape of stage ``l`` of the FER2013 mini-Xception (stem, block1..4),
    #: ``channels`` are the stages' output channels (stem first), the head is its 3x3 conv +
    #: global average pooling (PathNet over pretrained modules, see ``pretrained.py``)
    backbone: Literal["conv", "mini_xception"] = "conv"

    @model_validator(mode="after")
    def _consistent(self) -> PathNetConfig:
        if self.max_active > self.modules:
            raise ValueError(
                f"max_active must be at most modules ({self.modules}), got {self.max_active}"
            )
        if isinstance(self.channels, tuple) and len(self.channels) != self.layers:
            raise ValueError(
                f"channels must be an int or a tuple of length layers={self.layers}, "
                f"got {len(self.channels)} values"
            )
        if self.backbone == "mini_xception" and (
            self.norm != "batch" or self.head_hidden or self.in_channels != 1
        ):
            raise ValueError(
                "backbone='mini_xception' has BatchNorm stages, grey input and a conv head: "
                "it needs norm='batch', head_hidden=0 and in_channels=1"
            )
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd (same padding), got {self.kernel}")
        if self.norm == "group":
            for i, c in enumerate(self.layer_channels):
                if c % self.norm_groups:
                    raise ValueError(
                        f"norm_groups={self.norm_groups} must divide every layer's channels; "
                        f"layer {i} has {c}"
                    )
        if self.final_size < 1:
            raise ValueError(
                f"input_size={self.input_size} is too small for {self.layers} layers pooled by "
                f"{self.pool_size}: the last feature map would be empty"
            )
        return self

    @property
    def layer_channels(self) -> tuple[int, ...]:
        """Output channels of the modules of each layer."""
        if isinstance(self.channels, tuple):
            return self.channels
        return (self.channels,) * self.layers

    @property
    def layer_in_channels(self) -> tuple[int, ...]:
        return (self.in_channels, *self.layer_channels[:-1])

    @property
    def final_size(self) -> int:
        s = self.input_size
        if self.pool != "none":
            for _ in range(self.layers):
                s //= self.pool_size
        return s

    @property
    def feature_dim(self) -> int:
        """Width of the vector fed to a task head."""
        c = self.layer_channels[-1]
        if self.head == "gap" or self.backbone == "mini_xception":
            return c
        return c * self.final_size**2

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if isinstance(d["channels"], tuple):
            d["channels"] = list(d["channels"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | PathNetConfig) -> PathNetConfig:
        """Build (and validate) from a dict; an instance is returned as it is."""
        return d if isinstance(d, cls) else cls(**dict(d))


@settings(frozen=True)
class EvolutionConfig:
    """How one task's paths are evolved and its winner finished.

    A *generation* is one binary tournament: two paths each train ``steps_per_path`` (T)
    mini-batches, are scored, and the fitter one overwrites (then mutates) the loser.
    The defaults were chosen on held-out subjects of real faces; the measurements, and the
    variants that tied or lost, are in docs/tuning.md#decisions.
    """

    population: Annotated[Int, Field(ge=2, le=100_000)] = 16
    #: T: mini-batches each path trains per tournament
    steps_per_path: Annotated[Int, Field(ge=1, le=1_000_000)] = 20
    #: generations (= tournaments) budget
    generations: Annotated[Int, Field(ge=0, le=10_000_000)] = 20
    #: stop after this many generations without a new best (None: never); with 20
    #: generations it only stops a longer evolution
    patience: Annotated[Int, Field(ge=1, le=10_000_000)] | None = 20
    batch_size: Annotated[Int, Field(ge=1, le=1_000_000)] = 32
    #: Adam learning rate of the conv modules and of the task head
    lr: Annotated[Float, Field(gt=0, le=10)] = 3e-3
    #: "val": accuracy on the validation part (ties broken by lower loss);
    #: "train": accuracy on the T training mini-batches (Fernando et al. 2017)
    fitness: Literal["val", "train"] = "val"
    #: random horizontal flips and shifts (the engine's ``augment_shift`` pixels)
    augment: Bool = True
    #: "finish the winner": at most this many extra steps on the best path (0: off, as the
    #: paper), with early stopping on the validation part
    finish_steps: Annotated[Int, Field(ge=0, le=10_000_000)] = 1000
    #: early stopping: evaluations without improvement before the finish stops
    finish_patience: Annotated[Int, Field(ge=1, le=10_000_000)] = 16
    #: what the finish's kept weights must beat on the validation part: "evolved", the
    #: evolved path's score (the finish may keep the evolved weights, 0 steps); "own", only
    #: its own evaluations (the finish ends on the best of them). The evolved score is the
    #: best of many tournaments' validation scores, so it flatters the evolved weights:
    #: with few training images it can keep a path the finish never trained
    finish_baseline: Literal["evolved", "own"] = "evolved"
    #: the finish stage's rate for a first task (None: ``lr``)
    finish_lr: Annotated[Float, Field(gt=0, le=10)] | None = None
    #: the finish stage's rate for a task learnt while frozen modules exist (None:
    #: ``finish_lr``, as a first task); 1e-3 is the rate fine-tuning chooses
    transfer_finish_lr: Annotated[Float, Field(gt=0, le=10)] | None = 1e-3
    #: fraction of the initial population (the first members) set to the most recently
    #: frozen task's path through the trainable copies of its modules: such a member starts
    #: as the source network and fine-tunes it; evolution may keep, mutate or drop it. With
    #: ``PathNetConfig.free_init="random"`` there are no copies and nothing is seeded
    seed_copy_fraction: Annotated[Float, Field(ge=0, le=1)] = 0.5
    #: the training-set size the step budgets are sized for: a task learnt on n < this many
    #: training images trains ``steps_per_path`` and ``finish_steps`` scaled by
    #: n / budget_samples (at least 1 step each; :meth:`for_data`), so a handful of images
    #: is not trained for hundreds of epochs. None: the budgets are fixed
    budget_samples: Annotated[Int, Field(ge=1, le=100_000_000)] | None = None
    #: the layers in which a path may take a trainable module (None: every layer); in the
    #: others it takes frozen modules only, so the task trains (and a model file stores)
    #: nothing there. Over the mini-Xception's stages ``[0, 1, 2, 3]`` keeps the last
    #: stage, 62 % of the network's weights, frozen (docs/continual.md)
    train_layers: TrainLayers | None = None

    @property
    def effective_finish_lr(self) -> float:
        return self.lr if self.finish_lr is None else self.finish_lr

    def for_data(self, n_train: int) -> EvolutionConfig:
        """The budgets for ``n_train`` training images (``budget_samples``; the result has
        ``budget_samples=None``, so scaling twice changes nothing). Tournaments, population
        and patience stay: evolution still compares as many paths, each trained less."""
        if self.budget_samples is None:
            return self
        scale = min(1.0, n_train / self.budget_samples)
        return dataclasses.replace(
            self,
            steps_per_path=max(1, round(self.steps_per_path * scale)),
            finish_steps=max(min(1, self.finish_steps), round(self.finish_steps * scale)),
            budget_samples=None,
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | EvolutionConfig) -> EvolutionConfig:
        """Build (and validate) from a dict; an instance is returned as it is."""
        return d if isinstance(d, cls) else cls(**dict(d))


@settings(frozen=True)
class EngineSettings:
    """How the engine computes, not what a user tunes: constants a recipe may change
    (see :mod:`~pathfer.models.pathnet.recipes`). A task's run records them, so a resumed
    run computes what the interrupted one did."""

    #: augmentation shifts of up to this many pixels
    augment_shift: Annotated[Int, Field(ge=0, le=32)] = 2
    #: the finish stage evaluates on the validation part every this many steps
    finish_eval_every: Annotated[Int, Field(ge=1, le=10_000_000)] = 25
    #: evaluate in chunks of this many samples
    eval_batch_size: Annotated[Int, Field(ge=1, le=10_000_000)] = EVAL_BATCH

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | EngineSettings | None) -> EngineSettings:
        """Build (and validate) from a dict; an instance is returned as it is."""
        if d is None:
            return cls()
        return d if isinstance(d, cls) else cls(**dict(d))


__all__ = ["PathNetConfig", "EvolutionConfig", "EngineSettings"]
