"""`pathfer demo`: the whole pipeline on built-in synthetic corpora."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text


def demo(
    out: Path = typer.Option(Path("demo_output"), "--out", "-o", help="Where everything goes."),
    quick: bool = typer.Option(
        False, "--quick", help="A tiny run (a few minutes) to check the install."
    ),
) -> None:
    """Generate synthetic corpora, prepare them, run the within-corpus and cross-corpus
    experiments with PathNet and every baseline, and write the report."""
    from pathfer.study.demo import QUICK, run_demo
    from pathfer.study.experiments.provenance import JobsFailedError

    console = Console()
    try:
        run_demo(out, QUICK if quick else None, log=console.print)
    except JobsFailedError as exc:
        Console(stderr=True).print(Text.assemble(("error: ", "red"), str(exc)), soft_wrap=True)
        raise typer.Exit(1) from None
