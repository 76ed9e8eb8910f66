# Over 400 lines: every section of an experiment config and their cross-checks, in one place.
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
``pathnet:`` and ``evolution:`` (:class:`PathNetConfig`, :class:`EvolutionConfig`). PathNet's
settings start from a named recipe (``recipe: default``, see
:mod:`pathfer.models.pathnet.recipes`): ``pathnet:`` and ``evolution:`` change some of its
keys, ``source_evolution:`` only those that differ for the source. A bad
value fails in :func:`load_config`, before any preparation, with one line naming the file,
the key path and what is allowed. A section is one class, so a method-specific section
(its own ``preparation``, say) is one more field of the same type.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field, TypeAdapter, field_validator, model_validator

from pathfer.data import emotions
from pathfer.data.corpora import available_corpora, is_spec
from pathfer.data.faces import CropSettings, available_detectors, default_detector
from pathfer.data.faces.crop import CropMargin, CropSize
from pathfer.data.video import FrameSampling
from pathfer.models.pathnet.config import EvolutionConfig, PathNetConfig
from pathfer.models.pathnet.recipes import RECIPES, get_recipe
from pathfer.runtime import formats
from pathfer.runtime.validation import (
    Bool,
    Float,
    Int,
    ValidationError,
    explain,
    settings,
)
from pathfer.study.experiments.budgets import MethodBudget, TrainBudget, as_list
from pathfer.study.experiments.methods import FER2013_CROP, METHODS

#: the built-in methods (the registry, ``METHODS.list()``, also has any registered later)
ALL_METHODS = tuple(METHODS.list())


class ConfigError(ValueError):
    """A bad configuration value; the message names the file, the key and what is allowed."""


def _corpus_ref(value: Any) -> Any:
    """``target: savee`` is ``target: {corpus: savee}``."""
    return {"corpus": value} if isinstance(value, str) else value


def _overrides(value: Any) -> Any:
    """``source_evolution:``: keys of ``evolution:`` to change (nothing: none)."""
    if value is None:
        return {}
    if not isinstance(value, (dict, EvolutionConfig)):
        raise ValueError(
            f"must be a mapping of evolution: keys, e.g. {{generations: 80}}, got {value!r}"
        )
    return value


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
    size: CropSize = CropSettings.size
    margin: CropMargin = CropSettings.margin
    equalize: Bool = CropSettings.equalize
    #: a registered face detector; None: the default (:func:`default_detector`), resolved
    #: to its name at load, so the run's config records the detector it used
    detector: str | None = Field(default=None, validate_default=True)
    align: Bool = CropSettings.align

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
    #: share of the *training* subjects of each fold held out from every method (not fitted,
    #: not validated on, not early-stopped on) and only scored (``choice_acc``), to choose
    #: between variants of a method on subjects nothing selected on (validation accuracy is
    #: optimistic after selecting on it: early stopping, PathNet's fitness). Cut before the
    #: validation subjects; 0: off (every training subject is fitted or validated on)
    choice_fraction: Annotated[Float, Field(ge=0, lt=1)] = 0.0
    #: share of the source corpus' subjects held out to measure forgetting
    source_test_fraction: Annotated[Float, Field(ge=0, lt=1)] = 0.25


@settings
class WithinConfig:
    """How ``within`` cuts one corpus into task A (source) and task B (target)."""

    by: Literal["subjects", "classes"] = "subjects"
    a_fraction: Annotated[Float, Field(gt=0, lt=1)] = 0.5  # share of subjects in task A
    #: the classes of task A, when ``by: classes``
    a_classes: Annotated[list[Emotion], BeforeValidator(as_list)] = dataclasses.field(
        default_factory=list
    )


@settings
class ReportSettings:
    """What the report shows (``report:``); it changes no number a run computes."""

    #: how a clip's frames make its scores, side by side: ``mean`` (mean probabilities)
    #: and ``peak`` (the frame furthest from neutral; see study/report/metrics.py)
    clip_scores: Annotated[
        list[Literal["mean", "peak"]], BeforeValidator(as_list), Field(min_length=1)
    ] = dataclasses.field(default_factory=lambda: ["mean", "peak"])

    @field_validator("clip_scores")
    @classmethod
    def _unique_scores(cls, v: list[str]) -> list[str]:
        return _unique(v, "clip score")


@settings
class CropOverride:
    """A method's face crop (``crops: {method: {...}}``); a field left out comes from the
    method's registered crop, then ``preparation:``. The detector, alignment and frame
    sampling are the experiment's (every method sees the same frames and faces). The
    resolved config lists every method's crop in full."""

    size: CropSize | None = None
    margin: CropMargin | None = None
    equalize: Bool | None = None


@settings
class ExperimentConfig:
    name: Annotated[str, Field(min_length=1, pattern=r"^[^/\\]+$")] = "experiment"
    kind: Literal["single", "within", "transfer"] = "transfer"
    target: Annotated[CorpusRef | None, BeforeValidator(_corpus_ref)] = None
    sources: Annotated[list[CorpusField], BeforeValidator(as_list)] = dataclasses.field(
        default_factory=list
    )
    labels: Annotated[Any, BeforeValidator(_labels)] = "shared"
    methods: Annotated[list[str], BeforeValidator(as_list), Field(min_length=1)] = (
        dataclasses.field(default_factory=lambda: METHODS.list())
    )
    seeds: Annotated[list[Seed], BeforeValidator(as_list), Field(min_length=1)] = dataclasses.field(
        default_factory=lambda: [0]
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
    #: per-method training budgets (override ``train:`` and the method's recipe)
    budgets: dict[str, MethodBudget] = dataclasses.field(default_factory=dict)
    #: per-method face crops (override the method's registered crop and ``preparation:``)
    crops: dict[str, CropOverride] = dataclasses.field(default_factory=dict)
    #: the named PathNet settings (:data:`~pathfer.models.pathnet.recipes.RECIPES`) that
    #: ``pathnet:``, ``evolution:`` and ``source_evolution:`` change some keys of
    recipe: str = "default"
    #: the recipe's network with these keys changed (resolved in full)
    pathnet: PathNetConfig = dataclasses.field(default_factory=PathNetConfig)
    #: the recipe's evolution with these keys changed (resolved in full)
    evolution: EvolutionConfig = dataclasses.field(default_factory=EvolutionConfig)
    #: how the source PathNet is evolved: ``evolution:`` with the recipe's source keys and
    #: these changed (e.g. ``{generations: 80}``). The source model is trained once per
    #: seed and serves every fold, so a larger budget here costs little; the resolved
    #: config holds it in full
    source_evolution: Annotated[Any, BeforeValidator(_overrides)] = dataclasses.field(
        default_factory=dict
    )
    #: run only the first folds (quick looks, demos)
    max_folds: Annotated[Int, Field(ge=1)] | None = None
    #: learning curve: also run every method with only this many target training subjects
    #: per fold (e.g. [1, 2, 4]); results are named ``method@Nsubj``
    target_subjects: Annotated[list[Annotated[Int, Field(ge=1)]], BeforeValidator(as_list)] = (
        dataclasses.field(default_factory=list)
    )
    report: ReportSettings = dataclasses.field(default_factory=ReportSettings)

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

    @field_validator("recipe")
    @classmethod
    def _known_recipe(cls, v: str) -> str:
        get_recipe(v)  # a ValueError naming the known recipes
        return v

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
        sourced = [m for m in self.methods if METHODS.meta(m).get("needs_source")]
        if sourced and self.kind == "single":
            raise ValueError(
                f"methods {', '.join(sourced)} need a source task; use kind: within or "
                "transfer, or drop them"
            )
        if isinstance(self.labels, list) and len(set(self.labels)) < 2:
            raise ValueError(f"labels: give at least two emotions to learn, got {self.labels}")
        for what, given in (("crops", self.crops), ("budgets", self.budgets)):
            stray = [m for m in given if m not in self.methods]
            if stray:
                raise ValueError(
                    f"{what} names {', '.join(stray)}, not among the methods "
                    f"({', '.join(self.methods)}); add it to methods or drop the entry"
                )
        untrained = [m for m in self.budgets if METHODS.meta(m).get("recipe") is None]
        if untrained:
            raise ValueError(
                f"budgets: {', '.join(untrained)} has no training budget here (PathNet's is "
                "evolution:, zero-shot trains nothing); drop the entry"
            )
        problem = pathnet_size_problem(self.preparation.size, self.pathnet)
        if problem:  # the resolved config holds a PathNet of this size, whatever the methods
            raise ValueError(f"preparation.size: {problem}")
        object.__setattr__(self, "crops", _resolve_crops(self))
        for m, crop in self.crops.items():  # PathNet methods (no recipe) on their own crop
            if _builds_pathnet(m):
                problem = pathnet_size_problem(crop.size, self.pathnet)
                if problem:
                    raise ValueError(f"crops.{m}.size: {problem}")
        object.__setattr__(self, "budgets", _resolve_budgets(self))
        _same_source_crops(self)
        object.__setattr__(self, "source_evolution", _source_evolution(self))
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

    def method_preparation(self, method: str) -> Preparation:
        """The preparation of ``method``'s crops: the experiment's, with its crop."""
        crop = self.crops.get(method)
        if crop is None:
            return self.preparation
        return dataclasses.replace(
            self.preparation, size=crop.size, margin=crop.margin, equalize=crop.equalize
        )

    def method_budget(self, method: str) -> MethodBudget:
        """The training budget of a gradient-trained ``method`` (resolved at load)."""
        return self.budgets[method]


def fer2013_crop() -> dict[str, Any]:
    """The crop the shipped FER2013 mini-Xception was trained with, read from its bundle."""
    from pathfer.use.bundle import default_bundle_path, read_meta

    crop = read_meta(default_bundle_path())["crop"]
    return {k: crop[k] for k in ("size", "margin", "equalize")}


def registered_crop(method: str) -> dict[str, Any]:
    """The crop fields ``method`` registered (``{}``: the experiment's preparation)."""
    crop = METHODS.meta(method).get("crop")
    if crop is None:
        return {}
    if crop == FER2013_CROP:
        return fer2013_crop()
    if isinstance(crop, dict):
        return dict(crop)
    raise ValueError(f"method {method!r} registered an unknown crop {crop!r}")


def _resolve_crops(cfg: ExperimentConfig) -> dict[str, CropOverride]:
    """Every method's crop in full: preparation < the method's registered crop < ``crops:``."""
    base = {"size": cfg.preparation.size, "margin": cfg.preparation.margin}
    base["equalize"] = cfg.preparation.equalize
    out = {}
    for m in cfg.methods:
        fields = {**base, **registered_crop(m)}
        given = cfg.crops.get(m)
        if given is not None:
            fields.update({k: v for k, v in dataclasses.asdict(given).items() if v is not None})
        out[m] = CropOverride(**fields)
    return out


def _source_evolution(cfg: ExperimentConfig) -> EvolutionConfig:
    """``source_evolution:`` in full: ``evolution:`` with its keys changed. ``train_layers``
    is not carried over: a source is a first task, which trains every layer."""
    given = cfg.source_evolution
    if isinstance(given, EvolutionConfig):
        given = given.as_dict()
    base = {**cfg.evolution.as_dict(), "train_layers": None}
    try:
        return EvolutionConfig.from_dict({**base, **given})
    except ValidationError as e:
        raise ValueError(f"source_evolution: {explain(e, EvolutionConfig)}") from None


def _resolve_budgets(cfg: ExperimentConfig) -> dict[str, MethodBudget]:
    """Every trained method's budget in full: its recipe < ``train:`` < ``budgets:``."""
    out = {}
    for m in cfg.methods:
        recipe = METHODS.meta(m).get("recipe")
        if recipe is None:
            continue
        given = cfg.budgets.get(m) or MethodBudget()
        lrs = given.lrs or [lr * recipe.lr_scale for lr in cfg.train.lrs]
        epochs = given.max_epochs or cfg.train.max_epochs or recipe.max_epochs
        patience = given.patience or cfg.train.patience or recipe.patience
        out[m] = MethodBudget(
            lrs=[float(f"{lr:.6g}") for lr in lrs], max_epochs=epochs, patience=patience
        )
    return out


def _same_source_crops(cfg: ExperimentConfig) -> None:
    """Methods sharing a source model (trained once per seed) must want the same crop."""
    by_family: dict[str, list[str]] = {}
    for m in cfg.methods:
        fam = METHODS.meta(m).get("needs_source")
        if fam:
            by_family.setdefault(fam, []).append(m)
    for fam, names in by_family.items():
        crops = {json.dumps(dataclasses.asdict(cfg.crops[m]), sort_keys=True) for m in names}
        if len(crops) > 1:
            raise ValueError(
                f"crops: {', '.join(names)} share the {fam} source model, so they need the "
                "same crop; give them the same crops: entry"
            )


_ADAPTER = TypeAdapter(ExperimentConfig)


def _with_recipe(data: dict[str, Any]) -> dict[str, Any]:
    """``pathnet:``, ``evolution:`` and ``source_evolution:`` over the recipe's keys (an
    unknown recipe is left to the field's check; a settings object is taken as it is)."""
    name = data.setdefault("recipe", "default")
    if not isinstance(name, str) or name not in RECIPES:
        return data
    recipe = get_recipe(name)
    for key, base in (
        ("pathnet", recipe.pathnet),
        ("evolution", recipe.evolution),
        ("source_evolution", recipe.source_evolution),
    ):
        given = data.get(key)
        if given is None or isinstance(given, dict):
            data[key] = {**base, **(given or {})}
    return data


def _builds_pathnet(method: str) -> bool:
    """A method that trains a PathNet on its crops (no tuned_fit recipe, and trains)."""
    meta = METHODS.meta(method)
    return meta.get("recipe") is None and bool(meta.get("trains", True))


def pathnet_size_problem(size: Any, pathnet: Any) -> str | None:
    """Why a crop of ``size`` px cannot feed a PathNet of ``pathnet`` (a PathNetConfig or
    its keys), or None. Said at load, before anything is prepared, naming the numbers."""
    get = pathnet.get if isinstance(pathnet, dict) else lambda k, d: getattr(pathnet, k, d)
    layers = get("layers", PathNetConfig.layers)
    pool, factor = get("pool", PathNetConfig.pool), get("pool_size", PathNetConfig.pool_size)
    if pool == "none" or not all(type(v) is int and v >= 1 for v in (size, layers, factor)):
        return None  # nothing shrinks, or a bad value its own check reports
    if factor == 1 or size >= factor**layers:
        return None
    fit = int(math.floor(math.log(size, factor) + 1e-9)) if size >= factor else 0
    fewer = f" or at most {fit} layers" if fit >= 1 else ""
    return (
        f"{size} px is too small for pathnet's {layers} layers pooled by {factor}; use at "
        f"least {factor**layers}{fewer}"
    )


def _prepare_raw(data: dict[str, Any]) -> dict[str, Any]:
    """Spellings that need the whole mapping: the recipe, ``source:`` (one source,
    singular) and PathNet's ``input_size``, which is the crop size unless given. A
    recorded config's ``format_version`` is checked and dropped (a run folder's
    ``config.yaml`` is a config too)."""
    data = dict(data)
    if formats.KEY in data:
        try:
            version = formats.version_of(data)
        except formats.FormatError as exc:
            raise ConfigError(str(exc)) from None
        if version > formats.CURRENT:
            raise ConfigError(
                f"written by a newer pathfer (format {version}); upgrade pathfer to read it"
            )
        del data[formats.KEY]
    data = _with_recipe(data)
    if "source" in data:
        data["sources"] = as_list(data.get("sources")) + [data.pop("source")]
    prep = data.get("preparation")
    size = prep.get("size", Preparation.size) if isinstance(prep, dict) else Preparation.size
    pathnet = data.get("pathnet")
    if pathnet is None or isinstance(pathnet, dict):
        pathnet = dict(pathnet or {})
        if "input_size" not in pathnet:
            pathnet["input_size"] = size
            if pathnet_size_problem(size, pathnet):
                # a stand-in the network takes: ExperimentConfig then refuses the size,
                # naming preparation.size (after the crop's own range is checked)
                pathnet["input_size"] = pathnet.get("pool_size", PathNetConfig.pool_size) ** (
                    pathnet.get("layers", PathNetConfig.layers)
                )
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
