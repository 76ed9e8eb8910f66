"""`pathfer demo`: the whole pipeline on built-in synthetic corpora."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text


def demo(
    out: Path = typer.Option(Path("demo_output"), "--out", "-o", help="Where everything goes."),
    quick: bool = typer.Option(
        False, "--quick", help="A tiny run of every method (under 3 min) to check the install."
    ),
    full: bool = typer.Option(
        False,
        "--full",
        help="Every registered method (the default runs PathNet and the paper's baselines).",
    ),
) -> None:
    """Generate synthetic corpora, prepare them, run the within-corpus and cross-corpus
    experiments with PathNet and the paper's baselines, and write the report."""
    from pathfer.study.demo import FULL, QUICK, run_demo
    from pathfer.study.experiments.provenance import JobsFailedError

    if quick and full:
        Console(stderr=True).print("error: give --quick or --full, not both")
        raise typer.Exit(2)
    console = Console()
    try:
        run_demo(out, QUICK if quick else FULL if full else None, log=console.print)
    except JobsFailedError as exc:
        Console(stderr=True).print(Text.assemble(("error: ", "red"), str(exc)), soft_wrap=True)
        raise typer.Exit(1) from None
