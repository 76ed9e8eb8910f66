"""The config of a continual-learning study (``kind: chain``): which corpora are learnt in
which order onto which start model, by which ways, on which test subjects.

    name: chain
    kind: chain
    start: builtin                 # the shipped FER2013 mini-Xception (task fer2013)
    chain: [ck48.yaml, wild.yaml]  # corpora, learnt in this order (name+path or a spec)
    reverse: true                  # and in the reverse order too
    labels: [anger, disgust, fear, happiness, sadness, surprise]   # or all
    ways: [pathnet, finetune, separate]
    split: {k: 5, fold: 0}         # each corpus's test subjects: the first of 5 folds
    evolution: {generations: 10}   # caps on the fer2013 recipe, as pathfer learn takes them
    train: {lrs: [1e-3]}           # the fine-tuning ways' budget (refit on: every way refits)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field, field_validator, model_validator

from pathfer.data.corpora import is_spec
from pathfer.models.pathnet import EvolutionConfig
from pathfer.runtime.validation import Bool, Float, Int, ValidationError, explain, settings
from pathfer.study.experiments.budgets import TrainBudget, as_list
from pathfer.study.experiments.config import ConfigError, CorpusField, Emotion, Seed

#: the ways a chain is learnt, side by side
WAYS = ("pathnet", "finetune", "separate")
#: the only start model every way can begin from: the shipped FER2013 mini-Xception
BUILTIN = "builtin"


@settings
class ChainSplit:
    """Each corpus's test subjects: fold ``fold`` (0-based) of a ``k``-fold GroupKFold by
    subject (the folds experiments use: ``fold: 0`` is an experiment's fold1of5); validation
    subjects are cut from the rest as experiments cut them."""

    k: Annotated[Int, Field(ge=2)] = 5
    fold: Annotated[Int, Field(ge=0)] = 0
    val_fraction: Annotated[Float, Field(gt=0, lt=1)] = 0.25


@settings
class ChainConfig:
    name: Annotated[str, Field(min_length=1, pattern=r"^[^/\\]+$")] = "chain"
    kind: Literal["chain"] = "chain"
    start: Literal["builtin"] = BUILTIN
    chain: Annotated[list[CorpusField], BeforeValidator(as_list), Field(min_length=1)] = (
        dataclasses.field(default_factory=list)
    )
    #: also learn the chain in the reverse order (after the same start model)
    reverse: Bool = False
    #: the emotions every corpus is restricted to (each corpus keeps those it has), or all
    labels: Annotated[Any, BeforeValidator(lambda v: v)] = "all"
    ways: Annotated[list[Literal["pathnet", "finetune", "separate"]], BeforeValidator(as_list)] = (
        dataclasses.field(default_factory=lambda: list(WAYS))
    )
    seed: Seed = 0
    cache: Annotated[str, Field(min_length=1)] = "pathfer_cache"
    #: parallel jobs: a way in one order is one job
    workers: Annotated[Int, Field(ge=1)] = 1
    threads: Annotated[Int, Field(ge=1)] = 1
    split: ChainSplit = dataclasses.field(default_factory=ChainSplit)
    #: caps on the evolution of PathNet's tasks (the fer2013 recipe), as ``pathfer learn``
    #: takes an experiment config's ``evolution:``, and ``train_layers`` (the layers a task
    #: may train); empty: the recipe as it is
    evolution: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: the fine-tuning ways' budget, with the mini-Xception's recipe for what it leaves out
    train: TrainBudget = dataclasses.field(default_factory=TrainBudget)

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: Any) -> Any:
        if v == "all":
            return v
        if not isinstance(v, list) or len(v) < 2:
            raise ValueError("give 'all' or a list of at least two emotions")
        from pydantic import TypeAdapter

        return TypeAdapter(list[Emotion]).validate_python(v)

    @field_validator("evolution")
    @classmethod
    def _evolution(cls, v: dict[str, Any]) -> dict[str, Any]:
        try:
            EvolutionConfig.from_dict(v)
        except ValidationError as e:
            raise ValueError(explain(e, EvolutionConfig)) from None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ChainConfig:
        keys = [ref.key() for ref in self.chain]
        if len(set(keys)) != len(keys):
            raise ValueError("chain: lists a corpus twice; each corpus is one task")
        if not self.ways:
            raise ValueError(f"ways: give at least one of {', '.join(WAYS)}")
        if len(set(self.ways)) != len(self.ways):
            raise ValueError("ways: lists a way twice")
        if self.split.fold >= self.split.k:
            raise ValueError(f"split.fold: {self.split.fold} is not below split.k ({self.split.k})")
        return self

    @property
    def orders(self) -> list[tuple[int, ...]]:
        """The orders the chain is learnt in: given, and reversed when ``reverse``."""
        forward = tuple(range(len(self.chain)))
        return [forward, forward[::-1]] if self.reverse and len(forward) > 1 else [forward]

    def evolution_cap(self) -> EvolutionConfig | None:
        return EvolutionConfig.from_dict(self.evolution) if self.evolution else None

    def to_dict(self) -> dict[str, Any]:
        from pydantic import TypeAdapter

        return TypeAdapter(ChainConfig).dump_python(self, mode="json")


def is_chain_config(path: str | Path) -> bool:
    """A YAML file whose ``kind`` is ``chain``."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(raw, dict) and raw.get("kind") == "chain"


def load_chain_config(path: str | Path) -> ChainConfig:
    """Read and validate a chain config; corpus specs are resolved beside the file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a chain config is a mapping (name:, chain:, ...)")
    cfg = chain_config_from_dict(raw, where=str(path))
    for ref in cfg.chain:  # corpus folders and specs are relative to the config file
        if ref.path and not Path(ref.path).is_absolute():
            ref.path = str((path.parent / ref.path).resolve())
        if ref.path is None and is_spec(ref.corpus) and not Path(ref.corpus).is_absolute():
            ref.corpus = str((path.parent / ref.corpus).resolve())
    return cfg


def chain_config_from_dict(data: Any, where: str = "chain config") -> ChainConfig:
    try:
        return ChainConfig(**data)
    except ValidationError as e:
        raise ConfigError(f"{where}: {explain(e, ChainConfig)}") from None
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from None


__all__ = [
    "BUILTIN",
    "WAYS",
    "ChainConfig",
    "ChainSplit",
    "chain_config_from_dict",
    "is_chain_config",
    "load_chain_config",
]
