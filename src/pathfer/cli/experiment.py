"""`pathfer experiment run` and `pathfer report`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, Optional

import typer
from rich.console import Console
from rich.text import Text

from pathfer.cli.choices import one_of

experiment_app = typer.Typer(
    help="Run the paper's experiments from a config file.", no_args_is_help=True
)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are about the user's input (config, corpus, data): one line, exit 2."""
    from pathfer.data.datasets import PrepareError
    from pathfer.use.bundle import BundleError

    return (ValueError, FileNotFoundError, PrepareError, BundleError, ImportError, ConnectionError)


@contextlib.contextmanager
def _as_exit(kept: str) -> Iterator[None]:
    """A run's errors as an exit status: failed jobs 1 (what finished is saved), a user
    error 2 (one line), Ctrl-C 130 (saying what is ``kept`` for a rerun to resume)."""
    from pathfer.study.experiments.provenance import JobsFailedError

    try:
        yield
    except JobsFailedError as exc:
        _fail(str(exc), code=1)
    except _user_errors() as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        Console(stderr=True).print(
            f"[yellow]interrupted;[/] {kept}: run the same command again to resume where "
            "it stopped",
            soft_wrap=True,
        )
        raise typer.Exit(130) from None


def _fail(message: str, code: int = 2) -> None:
    """One line on stderr and exit: 2 for a user error (config, data), 1 for failed jobs."""
    Console(stderr=True).print(Text.assemble(("error: ", "red"), message), soft_wrap=True)
    raise typer.Exit(code)


@experiment_app.command("run")
def run(
    config: Path = typer.Argument(..., help="Experiment config (YAML); see configs/."),
    out: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--out", "-o", help="Results folder.", show_default="runs/<config name>"
    ),
    executor: Optional[Literal["local", "inline", "ray"]] = typer.Option(  # noqa: UP045
        None,
        "--executor",
        help="local (process pool), inline, or ray.",
        show_default="the config's",
    ),
    workers: Optional[int] = typer.Option(  # noqa: UP045
        None, "--workers", "-j", min=1, help="Parallel jobs.", show_default="the config's"
    ),
    address: Optional[str] = typer.Option(  # noqa: UP045
        None, "--address", help="Ray cluster address (or set RAY_ADDRESS)."
    ),
    new_run: bool = typer.Option(
        False,
        "--new-run",
        help="If the results folder holds a run of another config, start a new folder "
        "beside it (<out>-2, ...) instead of refusing.",
    ),
) -> None:
    """Run (or resume) an experiment: folds x methods x seeds, then the report. A config
    with `kind: chain` runs a continual-learning study instead (docs/continual.md).

    Exits 1 when any job failed (after saving and reporting the others), 2 on a bad
    config or bad data."""
    from pathfer.runtime import get_executor
    from pathfer.study.continual.config import is_chain_config
    from pathfer.study.experiments.config import config_from_dict, load_config
    from pathfer.study.run import run_and_report

    console = Console()
    if is_chain_config(config):
        _run_chain(config, out, workers, new_run, console)
        return
    with _as_exit("the finished runs are kept"):
        cfg = load_config(config)
        overrides = {"executor": executor, "workers": workers}
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if overrides:
            cfg = config_from_dict({**cfg.to_dict(), **overrides})
        kwargs = {}
        if cfg.executor == "ray":  # grid progress every 30 s; connection errors reported below
            kwargs = {"address": address, "progress": console.print}
        ex = get_executor(cfg.executor, cfg.workers, **kwargs)
        run_dir = out or Path("runs") / cfg.name
        run_dir = run_and_report(cfg, run_dir, executor=ex, log=console.print, new_run=new_run)
    console.print(f"results: {run_dir}")


def _run_chain(
    config: Path, out: Path | None, workers: int | None, new_run: bool, console: Console
) -> None:
    """``kind: chain``: a continual-learning study (:mod:`pathfer.study.continual`)."""
    from pathfer.runtime import get_executor
    from pathfer.study.continual.config import chain_config_from_dict, load_chain_config
    from pathfer.study.continual.run import run_chain

    with _as_exit("finished jobs and steps are kept"):
        cfg = load_chain_config(config)
        if workers is not None:
            cfg = chain_config_from_dict({**cfg.to_dict(), "workers": workers})
        run_dir = run_chain(
            cfg,
            out or Path("runs") / cfg.name,
            executor=get_executor("local", cfg.workers),
            log=console.print,
            new_run=new_run,
        )
    console.print(f"results: {run_dir}")


def report(
    runs: list[Path] = typer.Argument(..., help="One or more results folders."),
    out: Optional[Path] = typer.Option(  # noqa: UP045
        None,
        "--out",
        "-o",
        help="Where to write (required to merge).",
        show_default="the run folder",
    ),
) -> None:
    """Rebuild a run's report, or merge several runs into one table.

    Exits 1 (after writing the report) when a run's last session had failed jobs."""
    from pathfer.study.experiments.provenance import failure_summary, read_failures
    from pathfer.study.report import merge_reports, write_report
    from pathfer.study.results import load_results

    if len(runs) == 1 and (runs[0] / "jobs").is_dir() and out is None:  # a chain study
        from pathfer.study.continual.report import write_chain_report

        Console().print(f"report: {write_chain_report(runs[0])[0]}")
        return
    for r in runs:
        if not (r / "results").is_dir() and not read_failures(r):
            _fail(
                f"{r}: not a results folder (no results/ or failures.json inside); "
                "run `pathfer experiment run` first"
            )
    try:
        if len(runs) == 1:
            paths = write_report(runs[0], out_dir=out)
        else:
            if out is None:
                _fail("merging several runs needs --out DIR")
            paths = merge_reports(runs, out)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    Console().print(f"report: {paths.report_md}\n        {paths.report_html}")
    for r in runs:
        failed = read_failures(r)
        if failed:
            covers = "only the finished jobs" if load_results(r) else "the failures (none finished)"
            _fail(failure_summary(failed, r) + f"; the report covers {covers}", code=1)


def train(
    config: Path = typer.Argument(..., help="Experiment config (YAML): corpora and budgets."),
    out: Path = typer.Option(..., "--out", "-o", help="Bundle file to write (.safetensors)."),
    method: str = typer.Option(
        "pathnet_transfer",
        "--method",
        metavar="METHOD",
        callback=one_of("METHOD"),
        help="Method to train.",
    ),
) -> None:
    """Train one method on the whole target corpus and save a model bundle for `predict`.

    Exits 2 on a bad config or bad data, 1 when training itself failed."""
    from pathfer.study.experiments.config import load_config
    from pathfer.study.experiments.train import train_model

    console = Console()
    try:
        train_model(load_config(config), method, out, log=console.print)
    except _user_errors() as exc:
        _fail(str(exc))
    except Exception as exc:  # a failed training job: one line, exit 1, like `experiment run`
        if os.environ.get("PATHFER_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        _fail(
            f"training {method} failed: {type(exc).__name__}: {first} "
            "(PATHFER_DEBUG=1 shows the traceback)",
            code=1,
        )
