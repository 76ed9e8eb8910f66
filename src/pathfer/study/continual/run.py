"""Run (or resume) a chain study into a folder, then write its report.

The folder: ``config.yaml`` (resolved), ``command.txt``, ``environment.json`` (as an
experiment's), ``jobs/<way>.<order>.json`` (one finished job each: its steps),
``steps/`` (finished PathNet steps, for resuming), ``models/`` (what each way keeps
after each step: PathNet model files, the fine-tuned network with its heads, the separate
bundles), ``failures.json`` when jobs failed, and the report (``report.md``,
``matrix.csv``, ``chain.png``).
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from pathfer.runtime import Executor, get_executor
from pathfer.runtime.files import atomic_write_json
from pathfer.study.continual.config import ChainConfig
from pathfer.study.continual.data import prepare_chain
from pathfer.study.continual.report import write_chain_report
from pathfer.study.continual.ways import chain_jobs, job_record_path, run_chain_job
from pathfer.study.experiments.provenance import JobsFailedError, open_run, record_failures


def start_crop():
    """The crop of the start model's modules (the shipped FER2013 mini-Xception's)."""
    from pathfer.use.bundle import default_bundle_path, load_bundle

    return load_bundle(default_bundle_path()).crop


def run_chain(
    cfg: ChainConfig,
    run_dir: str | Path,
    *,
    executor: Executor | None = None,
    log: Callable[[str], None] = print,
    new_run: bool = False,
) -> Path:
    """Run every job of ``cfg`` not finished yet, then write the report; when jobs
    failed, the report of the others is written before :class:`JobsFailedError`."""
    command = " ".join(shlex.quote(a) for a in ["pathfer", *sys.argv[1:]])
    run_dir = open_run(Path(run_dir), cfg.to_dict(), command, new_run=new_run, log=log)
    corpora = prepare_chain(cfg, start_crop(), log)
    jobs = chain_jobs(cfg, corpora, str(run_dir.absolute()))
    todo = [j for j in jobs if not job_record_path(run_dir, j).is_file()]
    if len(todo) < len(jobs):
        log(f"resuming: {len(jobs) - len(todo)} finished jobs kept")
    log(f"{cfg.name}: {len(todo)} jobs ({', '.join(j.key for j in todo)})")
    executor = executor or get_executor("local", cfg.workers)
    failed = []
    for outcome in executor.run(run_chain_job, [(j.key, j) for j in todo]):
        job = next(j for j in todo if j.key == outcome.key)
        if outcome.ok:
            atomic_write_json(job_record_path(run_dir, job), outcome.value)
            log(f"done: {job.key}")
        else:
            first = (outcome.error or "unknown error").splitlines()[0]
            failed.append({"job": job.key, "error": first})
            log(f"failed: {job.key}: {first}")
    record_failures(run_dir, failed)
    if any((run_dir / "jobs").glob("*.json")):
        paths = write_chain_report(run_dir)
        log(f"report: {paths[0]}")
    if failed:
        raise JobsFailedError(run_dir, failed)
    return run_dir


def load_jobs(run_dir: str | Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(Path(run_dir, "jobs").glob("*.json"))]


__all__ = ["load_jobs", "run_chain", "start_crop"]
