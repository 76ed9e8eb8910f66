"""The data side of an experiment: corpora prepared in every crop the methods want, the
labels, the source and target views, the folds (cut once, applied to every crop), and each
fold's fit / validation / test parts.

A method's crop (``crops:`` in the config, else the one it registered, else
``preparation:``) changes only size, margin and equalisation: faces are found once per
frame with the experiment's detector, so every crop of a corpus holds the same frames in
the same order (:func:`check_aligned`) and one fold applies to all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pathfer.data import emotions
from pathfer.data.corpora import scan_target
from pathfer.data.datasets import FaceDataset, PrepareError, corpus_crop, prepare_corpus
from pathfer.data.datasets.splits import (
    Split,
    group_kfold,
    holdout_subjects,
    loso,
    stratified_clips,
)
from pathfer.runtime import Executor, get_executor
from pathfer.study.experiments import methods as M
from pathfer.study.experiments.config import (
    ConfigError,
    CorpusRef,
    ExperimentConfig,
    Preparation,
)


@dataclass
class View:
    """A labelled part of a prepared corpus, in each of the crops the methods want.

    ``paths`` maps a crop key (:func:`crop_key`) to the corpus prepared with that crop;
    the folders hold the same frames in the same order (checked by :func:`make_plan`), so
    ``index`` (frames of ``FaceDataset.load(path).restrict(labels)``) and every fold
    apply to each of them. ``crop`` is the key :meth:`load` reads; :meth:`at` picks another.
    """

    name: str
    paths: dict[str, str]
    labels: list[str]
    index: np.ndarray
    crop: str = ""

    @property
    def path(self) -> str:
        return self.paths[self.crop]

    def at(self, crop: str) -> View:
        """The same frames in another crop."""
        if crop not in self.paths:
            raise KeyError(f"{self.name} was not prepared with crop {crop}")
        return dataclasses.replace(self, crop=crop)

    def load(self) -> FaceDataset:
        return FaceDataset.load(self.path).restrict(self.labels).select(self.index)


@dataclass
class Plan:
    target: View
    sources: list[View]
    folds: list[Split]
    labels: list[str]
    #: (corpus key, crop key) -> prepared dataset folder
    prepared: dict[tuple[str, str], str] = field(default_factory=dict)
    #: method -> the key of its crop; family of source models -> the key of theirs
    method_crops: dict[str, str] = field(default_factory=dict)
    family_crops: dict[str, str] = field(default_factory=dict)

    def target_for(self, method: str) -> View:
        return self.target.at(self.method_crops[method])

    def sources_for(self, family: str) -> list[View]:
        return [v.at(self.family_crops[family]) for v in self.sources]


# --------------------------------------------------------------------------- data
def crop_key(p: Preparation) -> str:
    """A short name of a crop: ``48px-m0.15-eq`` (size, margin, equalised or not)."""
    return f"{p.size}px-m{p.margin:g}-{'eq' if p.equalize else 'noeq'}"


def method_crops(cfg: ExperimentConfig) -> tuple[dict[str, Preparation], dict[str, str], str]:
    """The distinct crops of the config's methods (key -> preparation), each method's crop
    key, and the key of the crop the folds are cut on (the experiment's preparation when
    a method uses it, else the first method's)."""
    crops: dict[str, Preparation] = {}
    by_method: dict[str, str] = {}
    for m in cfg.methods:
        prep = cfg.method_preparation(m)
        key = crop_key(prep)
        crops.setdefault(key, prep)
        by_method[m] = key
    base = crop_key(cfg.preparation)
    if base not in crops:
        base = next(iter(crops))
    return crops, by_method, base


def prepare_ref(
    ref: CorpusRef,
    cfg: ExperimentConfig,
    log: Callable[[str], None],
    executor: Executor | None = None,
    preparation: Preparation | None = None,
) -> str:
    p = preparation or cfg.preparation
    scan = scan_target(ref.corpus, ref.path)
    if executor is None and cfg.executor != "local":
        executor = get_executor(cfg.executor, cfg.workers)
    report = prepare_corpus(
        scan,
        cfg.cache,
        sampling=p.sampling_settings(),
        crop=p.crop_settings(),
        executor=executor,
        workers=cfg.workers,
        progress=False,
    )
    state = "reused" if report.reused else "prepared"
    faces = corpus_crop(scan, p.crop_settings())
    crop = crop_key(p) + ("" if faces.detector == p.detector else f", detector {faces.detector}")
    log(
        f"{scan.name} ({crop}): {state} {report.n_clips} clips, {report.n_skipped} skipped "
        f"-> {report.path}"
    )
    return str(report.path.absolute())  # jobs may run on another node (or cwd)


_ALIGNED = ["clip_id", "frame_index", "label", "subject"]


def check_aligned(paths: dict[str, str], base: str, corpus: str) -> None:
    """Every crop of a corpus must hold the same frames in the same order as the base crop
    (faces are found once per frame, whatever the crop), so the folds apply to each."""
    ref = FaceDataset.load(paths[base]).manifest[_ALIGNED]
    for key, path in paths.items():
        if key == base:
            continue
        other = FaceDataset.load(path).manifest[_ALIGNED]
        if len(other) != len(ref) or not other.equals(ref):
            raise PrepareError(
                f"{corpus}: the {key} crops ({path}) hold other frames than the {base} "
                f"crops ({paths[base]}): {len(other)} vs {len(ref)} frames; delete both "
                "folders and run again"
            )


def make_plan(
    cfg: ExperimentConfig,
    log: Callable[[str], None] = print,
    executor: Executor | None = None,
) -> Plan:
    """Prepare every corpus in every distinct crop of the methods, cut the folds once (on
    the base crop) and check that they apply to every crop."""
    assert cfg.target is not None
    refs = [cfg.target, *cfg.sources]
    crops, by_method, base = method_crops(cfg)
    families: dict[str, str] = {}
    for m in cfg.methods:
        fam = M.needs_source(m)
        if fam:
            families.setdefault(fam, by_method[m])  # one crop per family (config checks)
    # the target in every method's crop; a source in the crops of the source models
    # trained on it (and the base crop, which gives the labels)
    need: dict[str, list[str]] = {}
    for ref in refs:
        wanted = set(crops) if ref is cfg.target else {base, *families.values()}
        have = need.setdefault(ref.key(), [])
        have += [k for k in crops if k in wanted and k not in have]
    prepared = {
        (key, crop): prepare_ref(ref, cfg, log, executor, crops[crop])
        for ref in {r.key(): r for r in refs}.values()
        for key in [ref.key()]
        for crop in need[key]
    }
    paths = {key: {k: prepared[(key, k)] for k in ks} for key, ks in need.items()}
    for ref in refs:
        check_aligned(paths[ref.key()], base, ref.corpus)
    target_ds = FaceDataset.load(prepared[(cfg.target.key(), base)])
    source_ds = [FaceDataset.load(prepared[(r.key(), base)]) for r in cfg.sources]
    tpaths = paths[cfg.target.key()]

    if cfg.kind == "within" and cfg.within.by == "classes":
        a_labels = emotions.ordered(cfg.within.a_classes)
        b_labels = [x for x in target_ds.labels if x not in a_labels]
        if not b_labels or not set(a_labels) <= set(target_ds.labels):
            raise ConfigError(
                f"within.a_classes {a_labels} must be a proper subset of the corpus' "
                f"labels {target_ds.labels}"
            )
        a = target_ds.restrict(a_labels)
        b = target_ds.restrict(b_labels)
        source_views = [View("A", tpaths, a_labels, np.arange(len(a)), base)]
        target_view = View("B", tpaths, b_labels, np.arange(len(b)), base)
        labels = b_labels
    else:
        if isinstance(cfg.labels, list):
            labels = emotions.ordered(cfg.labels)
        elif cfg.labels == "shared":
            labels = emotions.shared_labels(target_ds.labels, *[d.labels for d in source_ds])
        elif cfg.labels == "all":
            labels = target_ds.labels
        else:
            raise ConfigError(f"labels must be 'shared', 'all' or a list, not {cfg.labels!r}")
        if len(labels) < 2:
            raise ConfigError(f"fewer than two labels to learn: {labels}")
        t = target_ds.restrict(labels)
        if cfg.kind == "within":
            subjects = t.subjects  # natural order: the cut is documented and seed-free
            n_a = max(1, min(len(subjects) - 1, round(cfg.within.a_fraction * len(subjects))))
            in_a = np.isin(t.groups, subjects[:n_a])
            source_views = [View("A", tpaths, labels, np.flatnonzero(in_a), base)]
            target_view = View("B", tpaths, labels, np.flatnonzero(~in_a), base)
        else:
            target_view = View(cfg.target.corpus, tpaths, labels, np.arange(len(t)), base)
            source_views = []
            for ref, ds in zip(cfg.sources, source_ds, strict=True):
                s = ds.restrict(labels)
                name = (
                    Path(ref.corpus).stem if ref.corpus.endswith((".yaml", ".yml")) else ref.corpus
                )
                source_views.append(View(name, paths[ref.key()], labels, np.arange(len(s)), base))

    tds = target_view.load()
    if cfg.split.kind == "loso":
        folds = loso(tds)
    else:
        k = min(cfg.split.k, len(tds.subjects))
        if k < 2:
            raise ConfigError(f"the target has {len(tds.subjects)} subject(s); need >= 2 for folds")
        folds = group_kfold(tds, k, seed=0)  # folds are fixed across seeds and methods
    if cfg.max_folds:
        folds = folds[: cfg.max_folds]
    return Plan(target_view, source_views, folds, labels, prepared, by_method, families)


def family_budget(cfg: ExperimentConfig, family: str) -> Any:
    """The training budget of a CNN source family: that of the first method using it."""
    for m in cfg.methods:
        if M.needs_source(m) == family:
            return cfg.budgets.get(m)
    return None


def _part(ds: FaceDataset, idx: np.ndarray) -> M.Part:
    x, y = ds.tensors(idx)
    return M.Part(x, y, ds.clip_ids[idx])


def _task(name: str, ds: FaceDataset, fit_idx, val_idx, test_idx) -> M.TaskData:
    return M.TaskData(
        name, list(ds.labels), _part(ds, fit_idx), _part(ds, val_idx), _part(ds, test_idx)
    )


def source_task(view: View, cfg: ExperimentConfig, seed: int) -> M.TaskData:
    """Source subjects split into fit / validation / held-out test (to measure forgetting)."""
    ds = view.load()
    everything = np.arange(len(ds))
    if cfg.split.source_test_fraction > 0 and len(ds.subjects) >= 3:
        cut = holdout_subjects(ds, everything, fraction=cfg.split.source_test_fraction, seed=seed)
        train, test = cut.train_idx, cut.test_idx
    else:
        train, test = everything, None
    inner = validation_cut(ds, train, cfg.split.val_fraction, seed)
    return _task(
        view.name, ds, inner.train_idx, inner.test_idx, inner.test_idx if test is None else test
    )


def validation_cut(ds: FaceDataset, train_idx: np.ndarray, fraction: float, seed: int) -> Split:
    """Fit / validation frames of a training part: whole subjects held out when there are
    at least two; with a single training subject, a stratified clip-level cut (never the
    test fold either way)."""
    if len(set(ds.groups[train_idx])) >= 2:
        return holdout_subjects(ds, train_idx, fraction=fraction or 0.25, seed=seed)
    sub = ds.select(train_idx)
    cut = stratified_clips(sub, test_size=fraction or 0.25, seed=seed)[0]
    return Split(cut.name, train_idx[cut.train_idx], train_idx[cut.test_idx])


def fold_task(
    view: View, split: Split, cfg: ExperimentConfig, seed: int, n_subjects: int | None = None
) -> M.TaskData:
    """The target of one fold: fit / validation subjects of its training part (less the
    choice subjects, when ``split.choice_fraction`` cuts some), the fold's test part.

    ``n_subjects`` (a learning curve's N): only that many training subjects are kept, drawn
    after the choice cut, so every N and the full fold are scored on the same choice
    subjects."""
    ds = view.load()
    train, choice = choice_cut(ds, split.train_idx, cfg.split.choice_fraction, seed)
    if n_subjects:
        train = fewer_subjects(view, Split(split.name, train, split.test_idx), n_subjects, seed)
        train = train.train_idx
    inner = validation_cut(ds, train, cfg.split.val_fraction, seed)
    task = _task(view.name, ds, inner.train_idx, inner.test_idx, split.test_idx)
    task.train_subjects = len(set(ds.groups[train]))
    if choice is not None:
        task.choice = _part(ds, choice)
    return task


def choice_cut(
    ds: FaceDataset, train_idx: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(rest, choice)``: whole training subjects held out from every method, only to be
    scored (``choice`` is None when ``fraction`` is 0 or the part has fewer than 4
    subjects: fit and validation subjects come first)."""
    if fraction <= 0 or len(set(ds.groups[train_idx])) < 4:
        return train_idx, None
    # another stream than the validation cut's, so the two groups are drawn independently
    cut = holdout_subjects(ds, train_idx, fraction=fraction, seed=seed + 7919)
    return cut.train_idx, cut.test_idx


def fewer_subjects(view: View, split: Split, n: int, seed: int) -> Split:
    """The fold with only ``n`` of its training subjects (a seeded choice, nested: the
    subjects kept for ``n`` are among those kept for any larger ``n``)."""
    ds = view.load()
    subjects = sorted(set(ds.groups[split.train_idx]))
    if n >= len(subjects):
        return split
    rng = np.random.default_rng([seed, len(subjects)])
    keep = {subjects[i] for i in rng.permutation(len(subjects))[:n]}
    mask = np.isin(ds.groups[split.train_idx], list(keep))
    return Split(split.name, split.train_idx[mask], split.test_idx)
