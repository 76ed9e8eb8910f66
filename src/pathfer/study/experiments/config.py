"""Experiment configuration: one YAML file per experiment, validated fully at load.

An experiment is *sources -> target*: zero or more source datasets learnt first (in
order), then a target dataset evaluated subject-independently. The paper's three
settings are all this shape:

- ``single``: no source; methods learn the target corpus alone;
- ``within``: one corpus cut in two disjoint parts (by subjects, or by classes); part A
  is the source, part B the target (knowledge accumulation within a corpus);
- ``transfer``: other corpora are the sources (SAVEE -> eNTERFACE and back; A -> B -> C).

Every section is a validated settings class (:mod:`pathfer.runtime.validation`: unknown
keys refused with the allowed ones listed, numeric strings read as numbers), and so are
``pathnet:`` and ``evolution:`` (:class:`PathNetConfig`, :class:`EvolutionConfig`). A bad
value fails in :func:`load_config`, before any preparation, with one line naming the file,
the key path and what is allowed. A section is one class, so a method-specific section
(its own ``preparation``, say) is one more field of the same type.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field, TypeAdapter, field_validator, model_validator

from pathfer.data import emotions
from pathfer.data.corpora import available_corpora, is_spec
from pathfer.data.faces import CropSettings, available_detectors, default_detector
from pathfer.data.video import FrameSampling
from pathfer.models.pathnet.config import EvolutionConfig, PathNetConfig
from pathfer.runtime.validation import (
    Bool,
    Float,
    Int,
    ValidationError,
    explain,
    positive,
    settings,
)
from pathfer.study.experiments.methods import METHODS

#: the built-in methods (the registry, ``METHODS.list()``, also has any registered later)
ALL_METHODS = tuple(METHODS.list())


class ConfigError(ValueError):
    """A bad configuration value; the message names the file, the key and what is allowed."""


def _as_list(value: Any) -> Any:
    """A single value where a list is expected is a list of one (``seeds: 1``,
    ``methods: cnn_scratch``)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _corpus_ref(value: Any) -> Any:
    """``target: savee`` is ``target: {corpus: savee}``."""
    return {"corpus": value} if isinstance(value, str) else value


def _emotion(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be an emotion name, got {value!r}")
    try:
        return emotions.canonical(value)
    except emotions.UnknownEmotionError:
        raise ValueError(
            f"unknown emotion {value!r}; allowed: {', '.join(emotions.CANONICAL_EMOTIONS)}"
        ) from None


def _labels(value: Any) -> Any:
    if isinstance(value, str) and value in ("shared", "all"):
        return value
    if isinstance(value, (list, tuple)):
        return [_emotion(v) for v in value]
    raise ValueError(f"must be 'shared', 'all' or a list of emotions, got {value!r}")


def _unique(values: list[Any], what: str) -> list[Any]:
    twice = sorted({str(v) for v in values if values.count(v) > 1})
    if twice:
        raise ValueError(f"lists {', '.join(twice)} twice; give each {what} once")
    return values


Seed = Annotated[Int, Field(ge=0)]
Emotion = Annotated[str, BeforeValidator(_emotion)]


@settings
class CorpusRef:
    """A corpus to prepare: a registered adapter name and its root, or a YAML spec file."""

    corpus: str
    path: str | None = None

    @field_validator("corpus")
    @classmethod
    def _known(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("is empty; give a corpus name or a .yaml corpus spec")
        names = available_corpora()
        if not is_spec(v) and v.strip().lower() not in names:
            raise ValueError(
                f"unknown corpus {v!r}; allowed: {', '.join(names)} or a .yaml corpus spec"
            )
        return v

    def key(self) -> str:
        return f"{self.corpus}:{self.path}"


CorpusField = Annotated[CorpusRef, BeforeValidator(_corpus_ref)]


@settings
class Preparation:
    """How clips become face crops (the cache key of a prepared dataset)."""

    frames: Annotated[Int, Field(ge=1)] = 16
    sampling: Literal["uniform", "every", "all"] = "uniform"
    every: Annotated[Int, Field(ge=1)] = 5
    size: Annotated[Int, Field(ge=8, le=512)] = 48
    margin: Annotated[Float, Field(ge=0, le=1)] = 0.15
    equalize: Bool = True
    #: a registered face detector; None: the default (yunet where installed, else haar),
    #: resolved to its name at load, so the run's config records the detector it used
    detector: str | None = Field(default=None, validate_default=True)
    align: Bool = False

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, v: str | None) -> str:
        if v is None:
            return default_detector()
        names = available_detectors()
        if v not in names:
            raise ValueError(f"unknown face detector {v!r}; allowed: {', '.join(names)}")
        return v

    def sampling_settings(self) -> FrameSampling:
        return FrameSampling(self.sampling, n=self.frames, k=self.every)

    def crop_settings(self) -> CropSettings:
        return CropSettings(
            size=self.size,
            margin=self.margin,
            equalize=self.equalize,
            detector=self.detector,
            align=self.align,
        )


@settings
class SplitConfig:
    kind: Literal["group_kfold", "loso"] = "group_kfold"
    k: Annotated[Int, Field(ge=2)] = 5
    #: share of the *training* subjects of each fold held out for validation
    #: (early stopping, PathNet fitness, learning-rate choice); never the test fold
    val_fraction: Annotated[Float, Field(ge=0, lt=1)] = 0.25
    #: share of the source corpus' subjects held out to measure forgetting
    source_test_fraction: Annotated[Float, Field(ge=0, lt=1)] = 0.25


@settings
class WithinConfig:
    """How ``within`` cuts one corpus into task A (source) and task B (target)."""

    by: Literal["subjects", "classes"] = "subjects"
    a_fraction: Annotated[Float, Field(gt=0, lt=1)] = 0.5  # share of subjects in task A
    #: the classes of task A, when ``by: classes``
    a_classes: Annotated[list[Emotion], BeforeValidator(_as_list)] = dataclasses.field(
        default_factory=list
    )


@settings
class TrainBudget:
    """Budget and tuning grid for the gradient-trained baselines."""

    lrs: Annotated[list[positive(Float)], BeforeValidator(_as_list), Field(min_length=1)] = (
        dataclasses.field(default_factory=lambda: [3e-3, 1e-3])
    )
    batch_size: Annotated[Int, Field(ge=1)] = 32
    max_steps: Annotated[Int, Field(ge=1)] = 1500
    #: early stopping: epochs (one validation pass each) without a better validation accuracy
    patience: Annotated[Int, Field(ge=1)] = 6
    weight_decay: Annotated[Float, Field(ge=0)] = 1e-4


@settings
class ExperimentConfig:
    name: Annotated[str, Field(min_length=1, pattern=r"^[^/\\]+$")] = "experiment"
    kind: Literal["single", "within", "transfer"] = "transfer"
    target: Annotated[CorpusRef | None, BeforeValidator(_corpus_ref)] = None
    sources: Annotated[list[CorpusField], BeforeValidator(_as_list)] = dataclasses.field(
        default_factory=list
    )
    labels: Annotated[Any, BeforeValidator(_labels)] = "shared"
    methods: Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)] = (
        dataclasses.field(default_factory=lambda: METHODS.list())
    )
    seeds: Annotated[list[Seed], BeforeValidator(_as_list), Field(min_length=1)] = (
        dataclasses.field(default_factory=lambda: [0])
    )
    cache: Annotated[str, Field(min_length=1)] = "pathfer_cache"
    executor: Literal["local", "inline", "ray"] = "local"
    #: parallel jobs (processes, or Ray tasks); changes nothing in the numbers
    workers: Annotated[Int, Field(ge=1)] = 1
    #: torch threads of each job: part of what a seed fixes (other counts, other sums)
    threads: Annotated[Int, Field(ge=1)] = 1
    preparation: Preparation = dataclasses.field(default_factory=Preparation)
    split: SplitConfig = dataclasses.field(default_factory=SplitConfig)
    within: WithinConfig = dataclasses.field(default_factory=WithinConfig)
    train: TrainBudget = dataclasses.field(default_factory=TrainBudget)
    pathnet: PathNetConfig = dataclasses.field(default_factory=PathNetConfig)
    evolution: EvolutionConfig = dataclasses.field(default_factory=EvolutionConfig)
    #: run only the first folds (quick looks, demos)
    max_folds: Annotated[Int, Field(ge=1)] | None = None
    #: learning curve: also run every method with only this many target training subjects
    #: per fold (e.g. [1, 2, 4]); results are named ``method@Nsubj``
    target_subjects: Annotated[list[Annotated[Int, Field(ge=1)]], BeforeValidator(_as_list)] = (
        dataclasses.field(default_factory=list)
    )

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, v: list[str]) -> list[str]:
        unknown = [m for m in v if m not in METHODS]
        if unknown:
            raise ValueError(
                f"unknown method(s) {', '.join(map(str, unknown))}; "
                f"allowed: {', '.join(METHODS.list())}"
            )
        return _unique([METHODS.key(m) for m in v], "method")

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, v: list[int]) -> list[int]:
        return _unique(v, "seed")

    @field_validator("target_subjects")
    @classmethod
    def _unique_counts(cls, v: list[int]) -> list[int]:
        return _unique(v, "count")

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        if self.target is None:
            raise ValueError(
                "target is required: {corpus: NAME, path: ROOT} or {corpus: spec.yaml}"
            )
        if self.kind == "transfer" and not self.sources:
            raise ValueError("kind 'transfer' needs at least one entry under sources")
        if self.kind != "transfer" and self.sources:
            raise ValueError(f"kind {self.kind!r} takes no sources (use kind: transfer)")
        if self.kind == "within" and self.within.by == "classes" and not self.within.a_classes:
            raise ValueError("within.by: classes needs within.a_classes (the classes of task A)")
        sourced = [m for m in self.methods if METHODS.meta(m)["needs_source"]]
        if sourced and self.kind == "single":
            raise ValueError(
                f"methods {', '.join(sourced)} need a source task; use kind: within or "
                "transfer, or drop them"
            )
        if isinstance(self.labels, list) and len(set(self.labels)) < 2:
            raise ValueError(f"labels: give at least two emotions to learn, got {self.labels}")
        if self.pathnet.input_size != self.preparation.size:
            raise ValueError(
                f"pathnet.input_size ({self.pathnet.input_size}) differs from "
                f"preparation.size ({self.preparation.size}): the network takes the prepared "
                "crops; leave pathnet.input_size out"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """The resolved config: every value, defaults included, as plain YAML/JSON types."""
        return _ADAPTER.dump_python(self, mode="json")


_ADAPTER = TypeAdapter(ExperimentConfig)


def _prepare_raw(data: dict[str, Any]) -> dict[str, Any]:
    """Spellings that need the whole mapping: ``source:`` (one source, singular) and
    PathNet's ``input_size``, which is the crop size unless given."""
    data = dict(data)
    if "source" in data:
        data["sources"] = _as_list(data.get("sources")) + [data.pop("source")]
    prep = data.get("preparation")
    size = prep.get("size", Preparation.size) if isinstance(prep, dict) else Preparation.size
    pathnet = data.get("pathnet")
    if pathnet is None or isinstance(pathnet, dict):
        pathnet = dict(pathnet or {})
        if "input_size" not in pathnet:
            pathnet["input_size"] = size
        data["pathnet"] = pathnet
    return data


def config_from_dict(data: Any) -> ExperimentConfig:
    """Validate a config mapping; a :class:`ConfigError` names every bad key on one line."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"an experiment config must be a YAML mapping (key: value), not {type(data).__name__}"
        )
    try:
        return _ADAPTER.validate_python(_prepare_raw(data))
    except ValidationError as exc:
        raise ConfigError(explain(exc, ExperimentConfig)) from None


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment config; corpus paths are relative to the file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if not path.is_file():
        raise ConfigError(f"{path}: is not a file; give an experiment config (.yaml)")
    try:
        text = path.read_bytes().decode("utf-8")
        if "\x00" in text:
            raise UnicodeError("it holds NUL bytes")
    except UnicodeError as exc:
        raise ConfigError(
            f"{path}: not a text file ({exc}); give an experiment config (.yaml)"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split())
        raise ConfigError(f"{path}: not valid YAML ({first})") from None
    try:
        cfg = config_from_dict({} if data is None else data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for ref in [cfg.target, *cfg.sources]:
        if ref is None:
            continue
        if ref.path and not Path(ref.path).is_absolute():
            ref.path = str((path.parent / ref.path).resolve())
        if ref.path is None and is_spec(ref.corpus):
            spec = Path(ref.corpus)
            if not spec.is_absolute():
                ref.corpus = str((path.parent / spec).resolve())
    return cfg
