"""`pathfer experiment run` and `pathfer report`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import typer
from rich.console import Console

from pathfer.cli.choices import one_of

experiment_app = typer.Typer(
    help="Run the paper's experiments from a config file.", no_args_is_help=True
)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are about the user's input (config, corpus, data): one line, exit 2."""
    from pathfer.data.datasets import PrepareError
    from pathfer.use.bundle import BundleError

    return (ValueError, FileNotFoundError, PrepareError, BundleError, ImportError, ConnectionError)


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


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
) -> None:
    """Run (or resume) an experiment: folds x methods x seeds, then the report."""
    from pathfer.runtime import get_executor
    from pathfer.study.experiments.config import load_config
    from pathfer.study.experiments.runner import run_experiment

    console = Console()
    try:
        cfg = load_config(config)
        if executor:
            cfg.executor = executor
        if workers:
            cfg.workers = workers
        cfg.validate()
        kwargs = {}
        if cfg.executor == "ray":  # grid progress every 30 s; connection errors reported below
            kwargs = {"address": address, "progress": console.print}
        ex = get_executor(cfg.executor, cfg.workers, **kwargs)
        run_dir = out or Path("runs") / cfg.name
        run_experiment(cfg, run_dir, executor=ex, log=console.print)
    except _user_errors() as exc:
        _fail(str(exc))
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
    """Rebuild a run's report, or merge several runs into one table."""
    from pathfer.study.report import merge_reports, write_report

    for r in runs:
        if not (r / "results").is_dir():
            _fail(
                f"{r}: not a results folder (no results/ inside); "
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
    """Train one method on the whole target corpus and save a model bundle for `predict`."""
    from pathfer.study.experiments.config import load_config
    from pathfer.study.experiments.train import train_model

    console = Console()
    try:
        train_model(load_config(config), method, out, log=console.print)
    except _user_errors() as exc:
        _fail(str(exc))
