"""Run an experiment: prepare the corpora, cut the folds, run methods x folds x seeds.

The plan is made once in the driver; every job is a picklable spec that re-opens the
prepared datasets by path, so the same jobs run inline, on a local process pool or on a
Ray cluster. Each finished (method, fold, seed) is saved at once; a restarted run skips
what is done. Source models (PathNet after the source tasks, the source CNN) are trained
once per seed and shared by every fold.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pathfer.data import emotions
from pathfer.data.corpora import scan_target
from pathfer.data.datasets import FaceDataset, prepare_corpus
from pathfer.data.datasets.splits import (
    Split,
    group_kfold,
    holdout_subjects,
    loso,
    stratified_clips,
)
from pathfer.runtime import Executor, get_executor
from pathfer.study.experiments import methods as M
from pathfer.study.experiments.config import ConfigError, CorpusRef, ExperimentConfig
from pathfer.study.experiments.provenance import JobsFailedError, open_run, record_failures
from pathfer.study.report import write_report
from pathfer.study.results import load_results, result_exists, save_result


@dataclass
class View:
    """A labelled part of a prepared dataset.

    ``index`` are frames of ``FaceDataset.load(path).restrict(labels)``.
    """

    name: str
    path: str
    labels: list[str]
    index: np.ndarray

    def load(self) -> FaceDataset:
        return FaceDataset.load(self.path).restrict(self.labels).select(self.index)


@dataclass
class Plan:
    target: View
    sources: list[View]
    folds: list[Split]
    labels: list[str]
    prepared: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- data
def prepare_ref(
    ref: CorpusRef,
    cfg: ExperimentConfig,
    log: Callable[[str], None],
    executor: Executor | None = None,
) -> str:
    p = cfg.preparation
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
    log(f"{scan.name}: {state} {report.n_clips} clips, {report.n_skipped} skipped -> {report.path}")
    return str(report.path.absolute())  # jobs may run on another node (or cwd)


def make_plan(
    cfg: ExperimentConfig,
    log: Callable[[str], None] = print,
    executor: Executor | None = None,
) -> Plan:
    assert cfg.target is not None
    refs = [cfg.target, *cfg.sources]
    prepared = {ref.key(): prepare_ref(ref, cfg, log, executor) for ref in refs}
    target_ds = FaceDataset.load(prepared[cfg.target.key()])
    source_ds = [FaceDataset.load(prepared[r.key()]) for r in cfg.sources]

    if cfg.kind == "within" and cfg.within.by == "classes":
        a_labels = emotions.ordered(cfg.within.a_classes)
        b_labels = [x for x in target_ds.labels if x not in a_labels]
        if not b_labels or not set(a_labels) <= set(target_ds.labels):
            raise ConfigError(
                f"within.a_classes {a_labels} must be a proper subset of the corpus' "
                f"labels {target_ds.labels}"
            )
        path = prepared[cfg.target.key()]
        a = target_ds.restrict(a_labels)
        b = target_ds.restrict(b_labels)
        source_views = [View("A", path, a_labels, np.arange(len(a)))]
        target_view = View("B", path, b_labels, np.arange(len(b)))
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
        tpath = prepared[cfg.target.key()]
        t = target_ds.restrict(labels)
        if cfg.kind == "within":
            subjects = t.subjects  # natural order: the cut is documented and seed-free
            n_a = max(1, min(len(subjects) - 1, round(cfg.within.a_fraction * len(subjects))))
            in_a = np.isin(t.groups, subjects[:n_a])
            source_views = [View("A", tpath, labels, np.flatnonzero(in_a))]
            target_view = View("B", tpath, labels, np.flatnonzero(~in_a))
        else:
            target_view = View(cfg.target.corpus, tpath, labels, np.arange(len(t)))
            source_views = []
            for ref, ds in zip(cfg.sources, source_ds, strict=True):
                s = ds.restrict(labels)
                name = (
                    Path(ref.corpus).stem if ref.corpus.endswith((".yaml", ".yml")) else ref.corpus
                )
                source_views.append(View(name, prepared[ref.key()], labels, np.arange(len(s))))

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
    return Plan(target_view, source_views, folds, labels, prepared)


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


def fold_task(view: View, split: Split, cfg: ExperimentConfig, seed: int) -> M.TaskData:
    ds = view.load()
    inner = validation_cut(ds, split.train_idx, cfg.split.val_fraction, seed)
    return _task(view.name, ds, inner.train_idx, inner.test_idx, split.test_idx)


# --------------------------------------------------------------------------- jobs
def _threads(cfg: ExperimentConfig) -> None:
    """Every job computes with ``cfg.threads`` torch threads, whatever the machine: the
    thread count changes how sums are split, hence the numbers (see docs/experiments.md)."""
    import torch

    torch.set_num_threads(cfg.threads)


def _config(d: dict[str, Any]) -> ExperimentConfig:
    from pathfer.study.experiments.config import config_from_dict

    return config_from_dict(d)


def run_source_job(spec: dict[str, Any]) -> dict[str, Any]:
    cfg = _config(spec["config"])
    _threads(cfg)
    tasks = [source_task(v, cfg, spec["seed"]) for v in spec["sources"]]
    return M.train_sources(
        spec["family"],
        tasks,
        spec["seed"],
        cfg.pathnet.as_dict(),
        cfg.evolution.as_dict(),
        cfg.train,
        Path(spec["run_dir"]) / "sources",
    )


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


def run_name(method: str, n_subjects: int | None) -> str:
    """A result's method name: ``finetune``, or ``finetune@2subj`` for a learning curve."""
    return method if not n_subjects else f"{method}@{n_subjects}subj"


def run_fold_job(spec: dict[str, Any]) -> dict[str, Any]:
    cfg = _config(spec["config"])
    _threads(cfg)
    seed, split, method = spec["seed"], spec["split"], spec["method"]
    n_subjects = spec.get("n_subjects")
    if n_subjects:
        split = fewer_subjects(spec["target"], split, n_subjects, seed)
    name = run_name(method, n_subjects)
    target = fold_task(spec["target"], split, cfg, seed)
    sources = [source_task(v, cfg, seed) for v in spec["sources"]] if M.needs_source(method) else []
    tag = f"{name}__{split.name}__seed{seed}"
    data = M.FoldData(
        target=target,
        seed=seed,
        pathnet=cfg.pathnet.as_dict(),
        evolution=cfg.evolution.as_dict(),
        train=cfg.train,
        source_dir=Path(spec["run_dir"]) / "sources",
        sources=sources,
        artifacts=Path(spec["run_dir"]) / "artifacts",
        tag=tag,
    )
    import torch

    torch.manual_seed(seed)
    out = M.METHODS.get(method)(data)
    if n_subjects:
        out.extra["target_train_subjects"] = n_subjects
    record = {
        "method": name,
        "fold": split.name,
        "seed": seed,
        "labels": target.labels,
        "y_true": target.test.y.numpy(),
        "proba": out.proba,
        "clip_ids": target.test.clip_ids,
        "train_time_s": out.train_time_s,
        "extra": out.extra,
    }
    save_result(spec["run_dir"], record)
    return {
        "method": name,
        "fold": split.name,
        "seed": seed,
        "acc": float((out.proba.argmax(1) == record["y_true"]).mean()),
    }


# --------------------------------------------------------------------------- driver
def run_experiment(
    cfg: ExperimentConfig,
    run_dir: str | Path,
    *,
    executor: Executor | None = None,
    command: str | None = None,
    log: Callable[[str], None] = print,
    report: bool = True,
    new_run: bool = False,
) -> Path:
    """Run (or resume) ``cfg`` into ``run_dir``; returns the run folder.

    A folder holding results of another config is refused (:class:`RunMismatchError`),
    or with ``new_run`` left alone for a new folder beside it. When jobs fail, the others
    still run, their results and the report are written, and :class:`JobsFailedError`
    is raised at the end.
    """
    resolved = cfg.to_dict()
    cmd = command or " ".join(shlex.quote(a) for a in ["pathfer", *sys.argv[1:]])
    run_dir = open_run(Path(run_dir), resolved, cmd, new_run=new_run, log=log)

    executor = executor or get_executor(cfg.executor, cfg.workers)
    plan = make_plan(cfg, log, executor)  # the same executor (and cluster) prepares
    spec_base = {"config": resolved, "run_dir": str(run_dir.absolute())}
    log(
        f"{cfg.name}: {len(cfg.methods)} methods x {len(plan.folds)} folds x {len(cfg.seeds)} "
        f"seeds on {plan.target.name} ({', '.join(plan.labels)})"
    )

    # stage 1: source models, once per (family, seed)
    families = sorted({M.needs_source(m) for m in cfg.methods if M.needs_source(m)})
    jobs = []
    for fam in families:
        for seed in cfg.seeds:
            if (run_dir / "sources" / f"{fam}_seed{seed}.json").exists():
                continue
            spec = {**spec_base, "family": fam, "seed": seed, "sources": plan.sources}
            jobs.append((("source", fam, f"seed {seed}"), spec))
    failed: list[dict[str, str]] = []
    _drain(executor, run_source_job, jobs, log, failed)

    # stage 2: methods x folds x seeds
    jobs = []
    grid = [
        (seed, split, method, n)
        for seed in cfg.seeds
        for split in plan.folds
        for n in [None, *cfg.target_subjects]
        for method in cfg.methods
    ]
    for seed, split, method, n in grid:
        name = run_name(method, n)
        if result_exists(run_dir, name, split.name, seed):
            continue
        fam = M.needs_source(method)
        if fam and not (run_dir / "sources" / f"{fam}_seed{seed}.json").exists():
            failed.append(
                {
                    "job": f"run {name} {split.name} seed {seed}",
                    "error": f"its source model ({fam}, seed {seed}) failed",
                }
            )
            continue
        spec = {**spec_base, "method": method, "seed": seed, "split": split, "n_subjects": n}
        spec.update(target=plan.target, sources=plan.sources)
        jobs.append((("run", name, split.name, f"seed {seed}"), spec))
    done = sum(result_exists(run_dir, run_name(m, n), f.name, s) for s, f, m, n in grid)
    rank = {m: i for i, m in enumerate(M.by_cost(list(cfg.methods)))}
    jobs.sort(key=lambda job: rank[job[1]["method"]])  # stable: dearest first
    if done:
        log(f"resuming: {done} finished runs kept")
    _drain(executor, run_fold_job, jobs, log, failed)
    record_failures(run_dir, failed)
    if failed:
        log(f"{len(failed)} job(s) failed:\n  " + "\n  ".join(_line(f) for f in failed))
    if report and load_results(run_dir, strict=False):
        paths = write_report(run_dir)
        log(f"report: {paths.report_html}")
    if failed:
        raise JobsFailedError(run_dir, failed)
    return run_dir


def _line(f: dict[str, str]) -> str:
    return f"{f['job']}: {f['error']}"


def _drain(executor, fn, jobs, log, failed: list[dict[str, str]]) -> None:
    if not jobs:
        return
    t0 = time.perf_counter()
    for i, out in enumerate(executor.run(fn, jobs), start=1):
        key = " ".join(str(k) for k in out.key)
        if out.ok:
            v = out.value or {}
            acc = f" acc {v['acc']:.3f}" if "acc" in v else ""
            log(f"[{i}/{len(jobs)}] {key} done{acc} ({time.perf_counter() - t0:.0f}s)")
        else:
            text = (out.error or "").strip()
            first = text.splitlines()[0] if text else "unknown error"
            failed.append({"job": key, "error": first, "detail": text})
            log(f"[{i}/{len(jobs)}] {key} FAILED: {first}")
