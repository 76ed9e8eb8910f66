"""Run an experiment: prepare the corpora, cut the folds, run methods x folds x seeds.

The plan (:mod:`.plan`: every corpus in every method's crop, the folds) is made once in
the driver; every job is a picklable spec (:class:`SourceJob`, :class:`FoldJob`: the
resolved config, the views, the fold) that re-opens the prepared datasets by path, in its
method's crop, so the same jobs run inline, on a local process pool or on a Ray
cluster. Each finished (method, fold, seed) is saved at once; a restarted run skips what
is done. Source models (PathNet after the source tasks, the source CNNs) are trained once
per family and seed, in the crop of the methods using them, and shared by every fold.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathfer.data.datasets.splits import Split
from pathfer.models.pathnet.recipes import get_recipe
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
from pathfer.study.results import result_exists, save_result


# --------------------------------------------------------------------------- jobs
def _threads(cfg: ExperimentConfig) -> None:
    """Every job computes with ``cfg.threads`` torch threads, whatever the machine: the
    thread count changes how sums are split, hence the numbers (see docs/experiments.md);
    subnormal floats are flushed to zero (:func:`~pathfer.models.nn.set_job_numerics`)."""
    from pathfer.models.nn import set_job_numerics

    set_job_numerics(cfg.threads)


def run_name(method: str, n_subjects: int | None) -> str:
    """A result's method name: ``finetune``, or ``finetune@2subj`` for a learning curve."""
    return method if not n_subjects else f"{method}@{n_subjects}subj"


@dataclass(frozen=True)
class SourceJob:
    """Train the source model of one family for one seed (every fold of the seed loads it)."""

    config: ExperimentConfig
    run_dir: str
    family: str
    seed: int
    sources: list[View]

    def run(self) -> dict[str, Any]:
        cfg = self.config
        _threads(cfg)
        tasks = [source_task(v, cfg, self.seed) for v in self.sources]
        return M.train_sources(
            self.family,
            tasks,
            self.seed,
            cfg.pathnet,
            cfg.source_evolution,
            cfg.train,
            Path(self.run_dir) / "sources",
            budget=family_budget(cfg, self.family),
            engine=get_recipe(cfg.recipe).engine_settings(),
        )


@dataclass(frozen=True)
class FoldJob:
    """Run one method on one fold for one seed (``n_subjects``: with only that many of
    the fold's training subjects) and save its result."""

    config: ExperimentConfig
    run_dir: str
    method: str
    seed: int
    split: Split
    target: View
    sources: list[View]
    n_subjects: int | None = None

    @property
    def name(self) -> str:
        return run_name(self.method, self.n_subjects)

    def run(self) -> dict[str, Any]:
        cfg, seed, split = self.config, self.seed, self.split
        _threads(cfg)
        target = fold_task(self.target, split, cfg, seed, self.n_subjects)
        sources = [source_task(v, cfg, seed) for v in self.sources]
        data = M.FoldData(
            target=target,
            seed=seed,
            pathnet=cfg.pathnet,
            evolution=cfg.evolution,
            train=cfg.train,
            source_dir=Path(self.run_dir) / "sources",
            sources=sources,
            artifacts=Path(self.run_dir) / "artifacts",
            tag=f"{self.name}__{split.name}__seed{seed}",
            budget=cfg.budgets.get(self.method),
            source_evolution=cfg.source_evolution,
            recipe=cfg.recipe,
        )
        import torch

        torch.manual_seed(seed)
        cpu0 = time.process_time()
        out = M.METHODS.get(self.method)(data)
        # the job's CPU time (this process): on a busy machine, what the job would have
        # taken on a core of its own, where its wall time (train_time_s) counts the waits too
        out.extra["cpu_time_s"] = time.process_time() - cpu0
        # training subjects the fold really had (fit + validation): where the learning
        # curve's full fold sits
        out.extra["target_train_subjects"] = target.train_subjects
        return self._save(target, split, out)

    def _save(self, target: M.TaskData, split: Split, out: M.MethodOutput) -> dict[str, Any]:
        if target.choice is not None and out.model is not None:  # subjects nothing selected on
            out.extra["choice_acc"] = accuracy_of(out.model, target.choice)
            out.extra["choice_n"] = len(target.choice.y)
        y_true = target.test.y.numpy()
        record = {
            "method": self.name,
            "fold": split.name,
            "seed": self.seed,
            "labels": target.labels,
            "y_true": y_true,
            "proba": out.proba,
            "clip_ids": target.test.clip_ids,
            "train_time_s": out.train_time_s,
            "extra": out.extra,
        }
        save_result(self.run_dir, record)
        acc = float((out.proba.argmax(1) == y_true).mean())
        return {"method": self.name, "fold": split.name, "seed": self.seed, "acc": acc}


Job = SourceJob | FoldJob


def run_job(job: Job) -> dict[str, Any]:
    """Run a source or a fold job (one pool runs both)."""
    return job.run()


# --------------------------------------------------------------------------- driver
def run_experiment(
    cfg: ExperimentConfig,
    run_dir: str | Path,
    *,
    executor: Executor | None = None,
    command: str | None = None,
    log: Callable[[str], None] = print,
    new_run: bool = False,
) -> Path:
    """Run (or resume) ``cfg`` into ``run_dir``; returns the run folder.

    A folder holding results of another config is refused (:class:`RunMismatchError`),
    or with ``new_run`` left alone for a new folder beside it. When jobs fail, the others
    still run and their results are saved, and :class:`JobsFailedError` is raised at the
    end. The report is not written here (:func:`pathfer.study.run.run_and_report` does
    both): the jobs import nothing of the report's statistics.
    """
    resolved = cfg.to_dict()
    cmd = command or " ".join(shlex.quote(a) for a in ["pathfer", *sys.argv[1:]])
    run_dir = open_run(Path(run_dir), resolved, cmd, new_run=new_run, log=log)
    executor = executor or get_executor(cfg.executor, cfg.workers)
    plan = make_plan(cfg, log, executor)  # the same executor (and cluster) prepares
    log(
        f"{cfg.name}: {len(cfg.methods)} methods x {len(plan.folds)} folds x {len(cfg.seeds)} "
        f"seeds on {plan.target.name} ({', '.join(plan.labels)})"
    )
    grid = _Grid(cfg, plan, str(run_dir.absolute()))
    if grid.done:
        log(f"resuming: {grid.done} finished runs kept")
    failed: list[dict[str, str]] = []
    # stage 1: the source models (once per family and seed) and, beside them, every run
    # that needs no source, so no worker idles while the longest source trains
    _drain(executor, run_job, grid.source_jobs() + grid.fold_jobs(False, failed), log, failed)
    # stage 2: the runs built on a source model
    _drain(executor, run_job, grid.fold_jobs(True, failed), log, failed)
    record_failures(run_dir, failed)
    if failed:
        log(f"{len(failed)} job(s) failed:\n  " + "\n  ".join(_line(f) for f in failed))
        raise JobsFailedError(run_dir, failed)
    return run_dir


Keyed = tuple[tuple[str, ...], Job]


class _Grid:
    """The jobs of a run: source models once per family and seed, then every
    (seed, fold, subjects, method) not yet saved."""

    def __init__(self, cfg: ExperimentConfig, plan: Plan, run_dir: str) -> None:
        self.cfg, self.plan, self.run_dir = cfg, plan, run_dir
        self.cells = [
            (seed, split, method, n)
            for seed in cfg.seeds
            for split in plan.folds
            for n in [None, *cfg.target_subjects]
            for method in cfg.methods
        ]
        self.done = sum(self._saved(m, n, f, s) for s, f, m, n in self.cells)
        self.rank = {m: i for i, m in enumerate(M.by_cost(list(cfg.methods)))}

    def _saved(self, method: str, n: int | None, split: Split, seed: int) -> bool:
        return result_exists(self.run_dir, run_name(method, n), split.name, seed)

    def source_done(self, family: str, seed: int) -> bool:
        return (Path(self.run_dir) / "sources" / f"{family}_seed{seed}.json").exists()

    def source_jobs(self) -> list[Keyed]:
        families = sorted({M.needs_source(m) for m in self.cfg.methods if M.needs_source(m)})
        return [
            (
                ("source", fam, f"seed {seed}"),
                SourceJob(self.cfg, self.run_dir, fam, seed, self.plan.sources_for(fam)),
            )
            for fam in families
            for seed in self.cfg.seeds
            if not self.source_done(fam, seed)
        ]

    def fold_jobs(self, on_source: bool, failed: list[dict[str, str]]) -> list[Keyed]:
        """The fold jobs (with a source model or without) not yet saved; a job whose source
        model is missing is added to ``failed``."""
        jobs: list[Keyed] = []
        for seed, split, method, n in self.cells:
            fam = M.needs_source(method)
            if bool(fam) != on_source or self._saved(method, n, split, seed):
                continue
            name = run_name(method, n)
            if fam and not self.source_done(fam, seed):
                failed.append(
                    {
                        "job": f"run {name} {split.name} seed {seed}",
                        "error": f"its source model ({fam}, seed {seed}) failed",
                    }
                )
                continue
            sources = self.plan.sources_for(fam) if fam else []
            target = self.plan.target_for(method)
            job = FoldJob(self.cfg, self.run_dir, method, seed, split, target, sources, n)
            jobs.append((("run", name, split.name, f"seed {seed}"), job))
        jobs.sort(key=lambda job: self.rank[job[1].method])  # stable: dearest first
        return jobs


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
