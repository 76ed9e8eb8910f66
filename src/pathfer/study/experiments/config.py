"""Experiment configuration: one YAML file per experiment, validated with clear messages.

An experiment is *sources -> target*: zero or more source datasets learnt first (in
order), then a target dataset evaluated subject-independently. The paper's three
settings are all this shape:

- ``single``: no source; methods learn the target corpus alone;
- ``within``: one corpus cut in two disjoint parts (by subjects, or by classes); part A
  is the source, part B the target (knowledge accumulation within a corpus);
- ``transfer``: other corpora are the sources (SAVEE -> eNTERFACE and back; A -> B -> C).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from pathfer.study.experiments.methods import METHODS

KINDS = ("single", "within", "transfer")
SPLITS = ("group_kfold", "loso")
#: the built-in methods (the registry, ``METHODS.list()``, also has any registered later)
ALL_METHODS = tuple(METHODS.list())


class ConfigError(ValueError):
    """A bad configuration value; the message names the field and what is allowed."""


@dataclass
class CorpusRef:
    """A corpus to prepare: a registered adapter name and its root, or a YAML spec file."""

    corpus: str
    path: str | None = None

    def key(self) -> str:
        return f"{self.corpus}:{self.path}"


@dataclass
class Preparation:
    frames: int = 16
    sampling: str = "uniform"
    every: int = 5
    size: int = 48
    margin: float = 0.15
    equalize: bool = True
    detector: str = "haar"


@dataclass
class SplitConfig:
    kind: str = "group_kfold"
    k: int = 5
    #: share of the *training* subjects of each fold held out for validation
    #: (early stopping, PathNet fitness, learning-rate choice); never the test fold
    val_fraction: float = 0.25
    #: share of the source corpus' subjects held out to measure forgetting
    source_test_fraction: float = 0.25


@dataclass
class WithinConfig:
    """How ``within`` cuts one corpus into task A (source) and task B (target)."""

    by: str = "subjects"  # or "classes"
    a_fraction: float = 0.5  # share of subjects that make task A
    a_classes: list[str] = field(default_factory=list)  # when by == "classes"


@dataclass
class TrainBudget:
    """Budget and tuning grid for the gradient-trained baselines."""

    lrs: list[float] = field(default_factory=lambda: [3e-3, 1e-3])
    batch_size: int = 32
    max_steps: int = 1500
    #: early stopping: epochs (one validation pass each) without a better validation accuracy
    patience: int = 6
    weight_decay: float = 1e-4


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    kind: str = "transfer"
    target: CorpusRef | None = None
    sources: list[CorpusRef] = field(default_factory=list)
    labels: str | list[str] = "shared"
    methods: list[str] = field(default_factory=lambda: METHODS.list())
    seeds: list[int] = field(default_factory=lambda: [0])
    cache: str = "pathfer_cache"
    executor: str = "local"
    workers: int = 1
    preparation: Preparation = field(default_factory=Preparation)
    split: SplitConfig = field(default_factory=SplitConfig)
    within: WithinConfig = field(default_factory=WithinConfig)
    train: TrainBudget = field(default_factory=TrainBudget)
    pathnet: dict[str, Any] = field(default_factory=dict)
    evolution: dict[str, Any] = field(default_factory=dict)
    max_folds: int | None = None  # run only the first folds (quick looks, demos)
    #: learning curve: also run every method with only this many target training subjects
    #: per fold (e.g. [1, 2, 4]); results are named ``method@Nsubj``
    target_subjects: list[int] = field(default_factory=list)

    def validate(self) -> ExperimentConfig:
        if self.kind not in KINDS:
            raise ConfigError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.target is None:
            raise ConfigError(
                "target is required: {corpus: NAME, path: ROOT} or {corpus: spec.yaml}"
            )
        if self.kind == "transfer" and not self.sources:
            raise ConfigError("kind 'transfer' needs at least one entry under sources")
        if self.kind != "transfer" and self.sources:
            raise ConfigError(f"kind {self.kind!r} takes no sources (use kind: transfer)")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ConfigError(
                f"unknown method(s) {', '.join(unknown)}; available: {', '.join(METHODS.list())}"
            )
        if not self.methods:
            raise ConfigError("methods is empty; list at least one method")
        if not self.seeds:
            raise ConfigError("seeds is empty; give at least one seed, e.g. seeds: [0]")
        if self.split.kind not in SPLITS:
            raise ConfigError(
                f"split.kind must be one of {', '.join(SPLITS)}, not {self.split.kind!r}"
            )
        if self.split.kind == "group_kfold" and self.split.k < 2:
            raise ConfigError(f"split.k must be >= 2, not {self.split.k}")
        for name in ("val_fraction", "source_test_fraction"):
            v = getattr(self.split, name)
            if not 0.0 <= v < 1.0:
                raise ConfigError(f"split.{name} must be in [0, 1), not {v}")
        if self.within.by not in ("subjects", "classes"):
            raise ConfigError(f"within.by must be subjects or classes, not {self.within.by!r}")
        if not 0.0 < self.within.a_fraction < 1.0:
            raise ConfigError(f"within.a_fraction must be in (0, 1), not {self.within.a_fraction}")
        if self.within.by == "classes" and self.kind == "within" and not self.within.a_classes:
            raise ConfigError("within.by: classes needs within.a_classes (the classes of task A)")
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, not {self.workers}")
        if not self.train.lrs or any(lr <= 0 for lr in self.train.lrs):
            raise ConfigError(f"train.lrs must be positive learning rates, not {self.train.lrs}")
        if any(int(n) < 1 for n in self.target_subjects):
            raise ConfigError(f"target_subjects must be >= 1, not {self.target_subjects}")
        if self.max_folds is not None and self.max_folds < 1:
            raise ConfigError(f"max_folds must be >= 1, not {self.max_folds}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _build(cls, data: Any, where: str):
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping, not {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    extra = sorted(set(data) - names)
    if extra:
        raise ConfigError(
            f"unknown key(s) in {where}: {', '.join(extra)}; allowed: {', '.join(sorted(names))}"
        )
    return cls(**data)


def _corpus(data: Any, where: str) -> CorpusRef:
    if isinstance(data, str):
        return CorpusRef(corpus=data)
    ref = _build(CorpusRef, data, where)
    if not ref.corpus:
        raise ConfigError(f"{where}.corpus is required")
    return ref


def config_from_dict(data: dict[str, Any]) -> ExperimentConfig:
    if not isinstance(data, dict):
        raise ConfigError("an experiment config must be a YAML mapping")
    data = dict(data)
    nested = {
        "preparation": Preparation,
        "split": SplitConfig,
        "within": WithinConfig,
        "train": TrainBudget,
    }
    kwargs: dict[str, Any] = {}
    for key, cls in nested.items():
        if key in data:
            kwargs[key] = _build(cls, data.pop(key), key)
    if "target" in data:
        kwargs["target"] = _corpus(data.pop("target"), "target")
    if "sources" in data:
        src = data.pop("sources") or []
        if not isinstance(src, list):
            src = [src]
        kwargs["sources"] = [_corpus(s, f"sources[{i}]") for i, s in enumerate(src)]
    if "source" in data:  # a single source, spelt singular
        kwargs.setdefault("sources", []).append(_corpus(data.pop("source"), "source"))
    cfg = _build(ExperimentConfig, {**data, **kwargs}, "the experiment config")
    return cfg.validate()


def load_config(path: str | Path) -> ExperimentConfig:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    try:
        cfg = config_from_dict(data or {})
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    # corpus paths are relative to the config file
    for ref in [cfg.target, *cfg.sources]:
        if ref is not None and ref.path and not Path(ref.path).is_absolute():
            ref.path = str((path.parent / ref.path).resolve())
        if ref is not None and ref.path is None and ref.corpus.endswith((".yaml", ".yml")):
            spec = Path(ref.corpus)
            if not spec.is_absolute():
                ref.corpus = str((path.parent / spec).resolve())
    return cfg
