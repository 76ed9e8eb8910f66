"""pathfer's command line: one thin module per command group.

Each command module holds a plain function with typer annotations; this file only
registers them, so ``pathfer --help`` lists every command in one place.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pathfer",
    help="Facial emotion recognition from video with PathNet transfer between corpora.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _register() -> None:
    from pathfer.cli import demo, experiment, predict, prepare

    app.command("prepare")(prepare.prepare)
    app.add_typer(experiment.experiment_app, name="experiment")
    app.command("report")(experiment.report)
    app.command("train")(experiment.train)
    app.command("predict")(predict.predict)
    app.command("export")(predict.export)
    app.command("demo")(demo.demo)


_register()


def main() -> None:  # pragma: no cover - console entry point
    app()
