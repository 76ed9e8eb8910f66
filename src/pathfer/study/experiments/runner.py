"""Run an experiment: prepare the corpora, cut the folds, run methods x folds x seeds.

The plan (:mod:`.plan`: every corpus in every method's crop, the folds) is made once in
the driver; every job is a picklable spec that re-opens the prepared datasets by path, in
its method's crop, so the same jobs run inline, on a local process pool or on a Ray
cluster. Each finished (method, fold, seed) is saved at once; a restarted run skips what
is done. Source models (PathNet after the source tasks, the source CNNs) are trained once
per family and seed, in the crop of the methods using them, and shared by every fold.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pathfer.runtime import Executor, get_executor
from pathfer.study.experiments import methods as M
from pathfer.study.experiments.config import ExperimentConfig
from pathfer.study.experiments.methods.base import accuracy_of
from pathfer.study.experiments.plan import (  # noqa: F401 - re-exported: the runner's API
    Plan,
    View,
    crop_key,
    family_budget,
    fewer_subjects,
    fold_task,
    make_plan,
    prepare_ref,
    source_task,
    validation_cut,
)
from pathfer.study.experiments.provenance import JobsFailedError, open_run, record_failures
from pathfer.study.report import write_report
from pathfer.study.results import load_results, result_exists, save_result


# --------------------------------------------------------------------------- jobs
def _threads(cfg: ExperimentConfig) -> None:
    """Every job computes with ``cfg.threads`` torch threads, whatever the machine: the
    thread count changes how sums are split, hence the numbers (see docs/experiments.md);
    subnormal floats are flushed to zero (:func:`~pathfer.models.nn.set_job_numerics`)."""
    from pathfer.models.nn import set_job_numerics

    set_job_numerics(cfg.threads)


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
        cfg.source_evolution.as_dict(),
        cfg.train,
        Path(spec["run_dir"]) / "sources",
        budget=family_budget(cfg, spec["family"]),
    )


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
        budget=cfg.budgets.get(method),
    )
    import torch

    torch.manual_seed(seed)
    cpu0 = time.process_time()
    out = M.METHODS.get(method)(data)
    # the job's CPU time (this process): on a busy machine, what the job would have taken
    # on a core of its own, where its wall time (train_time_s) counts the waits too
    out.extra["cpu_time_s"] = time.process_time() - cpu0
    if target.choice is not None and out.model is not None:  # subjects nothing selected on
        out.extra["choice_acc"] = accuracy_of(out.model, target.choice)
        out.extra["choice_n"] = len(target.choice.y)
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


def run_job(spec: dict[str, Any]) -> dict[str, Any]:
    """A source job (its spec names a ``family``) or a fold job: one pool runs both."""
    return run_source_job(spec) if "family" in spec else run_fold_job(spec)


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

    def source_done(fam: str, seed: int) -> bool:
        return (run_dir / "sources" / f"{fam}_seed{seed}.json").exists()

    # stage 1: the source models (once per family and seed) and, beside them, every run
    # that needs no source, so no worker idles while the longest source trains
    families = sorted({M.needs_source(m) for m in cfg.methods if M.needs_source(m)})
    sources = []
    for fam in families:
        for seed in cfg.seeds:
            if source_done(fam, seed):
                continue
            spec = {**spec_base, "family": fam, "seed": seed, "sources": plan.sources_for(fam)}
            sources.append((("source", fam, f"seed {seed}"), spec))
    grid = [
        (seed, split, method, n)
        for seed in cfg.seeds
        for split in plan.folds
        for n in [None, *cfg.target_subjects]
        for method in cfg.methods
    ]
    done = sum(result_exists(run_dir, run_name(m, n), f.name, s) for s, f, m, n in grid)
    if done:
        log(f"resuming: {done} finished runs kept")
    rank = {m: i for i, m in enumerate(M.by_cost(list(cfg.methods)))}
    failed: list[dict[str, str]] = []

    def fold_jobs(on_source: bool) -> list[tuple[tuple, dict[str, Any]]]:
        jobs = []
        for seed, split, method, n in grid:
            fam = M.needs_source(method)
            name = run_name(method, n)
            if bool(fam) != on_source or result_exists(run_dir, name, split.name, seed):
                continue
            if fam and not source_done(fam, seed):
                failed.append(
                    {
                        "job": f"run {name} {split.name} seed {seed}",
                        "error": f"its source model ({fam}, seed {seed}) failed",
                    }
                )
                continue
            spec = {**spec_base, "method": method, "seed": seed, "split": split, "n_subjects": n}
            spec.update(
                target=plan.target_for(method), sources=plan.sources_for(fam) if fam else []
            )
            jobs.append((("run", name, split.name, f"seed {seed}"), spec))
        jobs.sort(key=lambda job: rank[job[1]["method"]])  # stable: dearest first
        return jobs

    _drain(executor, run_job, sources + fold_jobs(on_source=False), log, failed)
    # stage 2: the runs built on a source model
    _drain(executor, run_job, fold_jobs(on_source=True), log, failed)
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
