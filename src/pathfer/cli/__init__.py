"""pathfer's command line: one thin module per command group.

Each command module holds a plain function with typer annotations; this file only
registers them, so ``pathfer --help`` lists every command in one place. Habits shared by
every command: ``--version``; defaults shown in ``--help``; a short flag means the same in
every command (``-o`` out, ``-m`` model, ``-j`` workers, ``-k`` every, ``-q`` quiet, ...);
fixed values list their choices; user errors exit 2 with one line, Ctrl-C (or SIGTERM)
exits 130.
"""

from __future__ import annotations

import signal

import typer

from pathfer.cli.choices import ChoicesCommand

app = typer.Typer(
    name="pathfer",
    help="Facial emotion recognition from video with PathNet transfer between corpora.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _show_version(value: bool) -> None:
    if value:
        import pathfer

        typer.echo(f"pathfer {pathfer.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Facial emotion recognition from video with PathNet transfer between corpora."""


def _register() -> None:
    from pathfer.cli import demo, experiment, learn, predict, prepare

    app.command("prepare", cls=ChoicesCommand)(prepare.prepare)
    app.add_typer(experiment.experiment_app, name="experiment")
    app.command("report")(experiment.report)
    app.command("train", cls=ChoicesCommand)(experiment.train)
    app.command("predict", cls=ChoicesCommand)(predict.predict)
    app.command("export")(predict.export)
    app.command("demo")(demo.demo)
    app.command("learn")(learn.learn)
    app.command("inspect")(learn.inspect)


_register()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """The console entry point. A SIGTERM (a batch scheduler's, `timeout`'s, `kill`'s) stops a
    command as Ctrl-C does: what is done is kept, worker processes stop, the exit is 130."""
    signal.signal(signal.SIGTERM, _interrupt)
    app()
