"""Configuration dataclasses for the PathNet super-network and its evolution.

Every value is validated on construction; errors name the field and the allowed range.
Both classes round-trip through plain dicts (``as_dict`` / ``from_dict``) so they can be
stored in checkpoints and bundles as JSON.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

NORMS = ("group", "none")
COMBINES = ("sum", "mean")
POOLS = ("max", "avg", "none")
HEADS = ("flatten", "gap")
FITNESSES = ("val", "train")
OPTIMIZERS = ("adam", "sgd")


def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be in {rng}, got {value}")


def _check_float(
    name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    bad = value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi)
    if bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


@dataclass(frozen=True)
class PathNetConfig:
    """Shape of the super-network.

    ``layers`` (L) conv layers, each holding ``modules`` (M) conv modules of ``channels``
    output channels; a path activates at most ``max_active`` (N) distinct modules per layer
    and combines their (per-module normalised) outputs by ``combine``.
    """

    layers: int = 4
    modules: int = 10
    max_active: int = 3
    #: output channels of every module of a layer; an int (same for every layer) or one per layer
    channels: int | tuple[int, ...] = (8, 16, 16, 16)
    kernel: int = 3
    #: pooling (factor ``pool_size``) after every layer
    pool: str = "max"
    pool_size: int = 2
    #: "group": GroupNorm per module (per sample, no running statistics); "none": conv bias only
    norm: str = "group"
    #: GroupNorm groups per module (must divide every layer's channel count)
    norm_groups: int = 2
    combine: str = "sum"
    #: "flatten": flatten the last feature map + linear; "gap": global average pool + linear
    head: str = "flatten"
    input_size: int = 48
    in_channels: int = 1

    def __post_init__(self) -> None:
        _check_int("layers", self.layers, 1, 16)
        _check_int("modules", self.modules, 1, 1024)
        _check_int("max_active", self.max_active, 1, self.modules)
        ch = self.channels
        if isinstance(ch, list):
            object.__setattr__(self, "channels", tuple(ch))
            ch = self.channels
        if isinstance(ch, tuple):
            if len(ch) != self.layers:
                raise ValueError(
                    f"channels must be an int or a tuple of length layers={self.layers}, "
                    f"got {len(ch)} values"
                )
            for i, c in enumerate(ch):
                _check_int(f"channels[{i}]", c, 1, 4096)
        else:
            _check_int("channels", ch, 1, 4096)
        _check_int("kernel", self.kernel, 1, 15)
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd (same padding), got {self.kernel}")
        _check_choice("pool", self.pool, POOLS)
        _check_int("pool_size", self.pool_size, 1, 8)
        _check_choice("norm", self.norm, NORMS)
        _check_int("norm_groups", self.norm_groups, 1, 4096)
        if self.norm == "group":
            for i, c in enumerate(self.layer_channels):
                if c % self.norm_groups:
                    raise ValueError(
                        f"norm_groups={self.norm_groups} must divide every layer's channels; "
                        f"layer {i} has {c}"
                    )
        _check_choice("combine", self.combine, COMBINES)
        _check_choice("head", self.head, HEADS)
        _check_int("input_size", self.input_size, 1, 4096)
        _check_int("in_channels", self.in_channels, 1, 64)
        if self.final_size < 1:
            raise ValueError(
                f"input_size={self.input_size} is too small for {self.layers} layers pooled by "
                f"{self.pool_size}: the last feature map would be empty"
            )

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
        return c if self.head == "gap" else c * self.final_size**2

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if isinstance(d["channels"], tuple):
            d["channels"] = list(d["channels"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PathNetConfig:
        d = dict(d)
        if isinstance(d.get("channels"), list):
            d["channels"] = tuple(d["channels"])
        return cls(**d)


@dataclass(frozen=True)
class EvolutionConfig:
    """How one task's paths are evolved and its winner finished.

    A *generation* is one binary tournament: two paths each train ``steps_per_path`` (T)
    mini-batches, are scored, and the fitter one overwrites (then mutates) the loser.
    """

    population: int = 16
    #: T: mini-batches each path trains per tournament
    steps_per_path: int = 10
    batch_size: int = 32
    #: generations (= tournaments) budget
    generations: int = 60
    #: stop as soon as the best kept fitness reaches this (None: never)
    target_fitness: float | None = None
    #: stop after this many generations without a new best (None: never)
    patience: int | None = 20
    #: Adam (or SGD) learning rate of the conv modules and of the task head
    lr: float = 3e-3
    head_lr: float | None = None
    optimizer: str = "adam"
    weight_decay: float = 0.0
    #: "val": accuracy on the validation part (ties broken by lower loss);
    #: "train": accuracy on the T training mini-batches (Fernando et al. 2017)
    fitness: str = "val"
    #: fraction of the training data held out (stratified) when no validation set is given
    val_fraction: float = 0.2
    #: train the two paths of a tournament together, batched as a grouped conv
    pair_batched: bool = True
    #: random horizontal flips and shifts of up to ``augment_shift`` pixels
    augment: bool = True
    augment_shift: int = 2
    #: "finish the winner": at most this many extra steps on the best path (0: off, as the paper)
    finish_steps: int = 1000
    finish_eval_every: int = 25
    #: early stopping: evaluations without improvement before the finish stops
    finish_patience: int = 6
    finish_lr: float | None = None
    # -- transfer options (all off = reference behaviour of Nguyen et al. / Fernando et al.;
    # the defaults below were chosen on held-out training subjects, see docs/tuning.md)
    #: fraction of the initial population set to the most recently frozen task's path
    seed_frozen_fraction: float = 0.25
    #: gene slots per layer pinned to the frozen source path's modules (never mutated)
    frozen_slots: int = 2
    #: learning-rate multiplier of the new (trainable) modules while frozen modules exist
    transfer_lr_scale: float = 1.0
    #: evaluate in chunks of this many samples
    eval_batch_size: int = 512

    def __post_init__(self) -> None:
        _check_int("population", self.population, 2, 100_000)
        _check_int("steps_per_path", self.steps_per_path, 1, 1_000_000)
        _check_int("batch_size", self.batch_size, 1, 1_000_000)
        _check_int("generations", self.generations, 0, 10_000_000)
        if self.target_fitness is not None:
            _check_float("target_fitness", self.target_fitness, 0.0, 1.0)
        if self.patience is not None:
            _check_int("patience", self.patience, 1, 10_000_000)
        _check_float("lr", self.lr, 0.0, 10.0, lo_open=True)
        if self.head_lr is not None:
            _check_float("head_lr", self.head_lr, 0.0, 10.0, lo_open=True)
        if self.finish_lr is not None:
            _check_float("finish_lr", self.finish_lr, 0.0, 10.0, lo_open=True)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_float("weight_decay", self.weight_decay, 0.0, 1.0)
        _check_choice("fitness", self.fitness, FITNESSES)
        _check_float("val_fraction", self.val_fraction, 0.0, 0.9, lo_open=True)
        _check_int("augment_shift", self.augment_shift, 0, 32)
        _check_int("finish_steps", self.finish_steps, 0, 10_000_000)
        _check_int("finish_eval_every", self.finish_eval_every, 1, 10_000_000)
        _check_int("finish_patience", self.finish_patience, 1, 10_000_000)
        _check_float("seed_frozen_fraction", self.seed_frozen_fraction, 0.0, 1.0)
        _check_int("frozen_slots", self.frozen_slots, 0, 1024)
        _check_float("transfer_lr_scale", self.transfer_lr_scale, 0.0, 10.0, lo_open=True)
        _check_int("eval_batch_size", self.eval_batch_size, 1, 10_000_000)

    @classmethod
    def reference(cls, **overrides: Any) -> EvolutionConfig:
        """The paper's procedure (Fernando et al. 2017 / Nguyen et al. 2018) as pathfer's
        straightforward reference: population 20, T=50, tournaments one path after the
        other, Adam 1e-3, no augmentation, no finish stage, no transfer options (frozen
        modules are ordinary candidates). ``overrides`` replace any field."""
        base = {
            "population": 20,
            "steps_per_path": 50,
            "generations": 100,
            "patience": None,
            "lr": 1e-3,
            "pair_batched": False,
            "augment": False,
            "finish_steps": 0,
            "seed_frozen_fraction": 0.0,
            "frozen_slots": 0,
            "transfer_lr_scale": 1.0,
        }
        return cls(**{**base, **overrides})

    @property
    def effective_head_lr(self) -> float:
        return self.lr if self.head_lr is None else self.head_lr

    @property
    def effective_finish_lr(self) -> float:
        return self.lr if self.finish_lr is None else self.finish_lr

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvolutionConfig:
        return cls(**d)


__all__ = ["PathNetConfig", "EvolutionConfig"]
