"""An experiment run and its report, the way ``pathfer experiment run`` does both: the
runner (:mod:`pathfer.study.experiments.runner`) runs the jobs, the report
(:mod:`pathfer.study.report`) reads their results."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pathfer.runtime import Executor
from pathfer.study.experiments.config import ExperimentConfig
from pathfer.study.experiments.provenance import JobsFailedError
from pathfer.study.experiments.runner import run_experiment
from pathfer.study.report import write_report
from pathfer.study.results import load_results


def run_and_report(
    cfg: ExperimentConfig,
    run_dir: str | Path,
    *,
    executor: Executor | None = None,
    command: str | None = None,
    log: Callable[[str], None] = print,
    new_run: bool = False,
) -> Path:
    """Run (or resume) ``cfg`` into ``run_dir`` (:func:`run_experiment`), then write the
    run's report; when jobs failed, the report of the others is written before
    :class:`JobsFailedError` is raised again."""
    try:
        done = run_experiment(
            cfg, run_dir, executor=executor, command=command, log=log, new_run=new_run
        )
    except JobsFailedError as exc:
        _report(exc.run_dir, log)
        raise
    _report(done, log)
    return done


def _report(run_dir: Path, log: Callable[[str], None]) -> None:
    if load_results(run_dir, strict=False):
        paths = write_report(run_dir)
        log(f"report: {paths.report_html}")
