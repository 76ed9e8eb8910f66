"""`pathfer learn` (one more task onto a multi-task model) and `pathfer inspect` (its tasks)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _fail(message: str, code: int = 2) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def _user_errors() -> tuple[type[BaseException], ...]:
    from pathfer.data.datasets import PrepareError
    from pathfer.use.bundle import BundleError

    return (ValueError, FileNotFoundError, PrepareError, BundleError)


def learn(
    data: list[str] = typer.Argument(
        ...,
        metavar="DATA...",
        help="A corpus and its folder (savee /data/SAVEE), a corpus spec (.yaml) or an "
        "experiment config (.yaml).",
    ),
    onto: str = typer.Option(
        ..., "--onto", help="A model file written by `pathfer learn`, or 'builtin'."
    ),
    task: str = typer.Option(..., "--task", "-t", help="Name of the new task."),
    out: Path = typer.Option(..., "--out", "-o", help="The new model file (.safetensors)."),
    cache: str = typer.Option("pathfer_cache", "--cache", help="Prepared-data cache."),
    recipe: Optional[str] = typer.Option(  # noqa: UP045
        None, "--recipe", help="PathNet recipe.", show_default="fer2013 onto builtin, else default"
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the new task's evolution."),
    refit: bool = typer.Option(
        True,
        "--refit/--no-refit",
        help="Once the validation subjects chose the path and the finish length, train the "
        "finish again on every training subject, as experiments do (--no-refit: keep the "
        "chosen weights, trained on the fit subjects only).",
    ),
    train_layers: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--train-layers",
        metavar="L,L,...",
        help="The only layers the task may train, e.g. 0,1,2,3: elsewhere its path reuses "
        "frozen modules, so the model file grows less (over the mini-Xception, 0,1,2,3 keeps "
        "the last stage, 62 percent of its weights, frozen).",
        show_default="every layer",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Learn a corpus as a new task of a model; every earlier task stays bit-identical.

    Interrupted (Ctrl-C), the same command resumes where it stopped."""
    from pathfer.study.learn import learn_data, learn_evolution
    from pathfer.use.learn import check_train_layers, learn_onto
    from pathfer.use.model_file import check_task_name, load_model

    console = Console(stderr=True)
    try:
        layers = _layers(train_layers)
        model = load_model(onto, seed=seed)
        check_task_name(model, task)
        check_train_layers(model, layers)
        if out.suffix != ".safetensors":
            raise ValueError(f"{out}: a model file name must end in .safetensors")
        log = (lambda m: None) if quiet else (lambda m: console.print(escape(str(m))))
        items, given = learn_data(data, model, cache=cache, seed=seed, log=log)
        evolution = learn_evolution(given, model)
        with _progress(console, quiet) as progress:
            new = learn_onto(
                model, task, items, out, recipe=recipe, evolution=evolution,
                progress=progress, work_key=" ".join(data) + f" {cache}", refit=refit,
                train_layers=layers,
            )  # fmt: skip
    except KeyboardInterrupt:
        console.print(
            "[yellow]interrupted;[/] run the same command again to resume where it stopped",
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    except _user_errors() as exc:
        if os.environ.get("PATHFER_DEBUG"):
            raise
        _fail(str(exc))
    acc = new.tasks[task]["val_accuracy"]
    Console().print(
        f"learnt task {escape(task)} (validation accuracy {acc:.3f}) -> {escape(str(out))}; "
        f"tasks: {', '.join(new.names)}"
    )


def _layers(text: str | None) -> list[int] | None:
    """``--train-layers 0,1,2``: the layer indices (None when not given)."""
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(
            f"--train-layers {text!r}: give layer indices separated by commas, e.g. 0,1,2,3"
        ) from None


class _progress:
    """A rich progress bar fed by ``learn_task``'s records (generations, then the finish)."""

    def __init__(self, console: Console, quiet: bool) -> None:
        self.console, self.quiet = console, quiet

    def __enter__(self) -> Any:
        if self.quiet:
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), console=self.console, transient=False,
        )  # fmt: skip
        self.bar.__enter__()
        self.ids: dict[str, Any] = {}
        return self.update

    def update(self, rec: dict[str, Any]) -> None:
        stage = rec.get("stage", "evolve")
        if stage not in self.ids:
            self.ids[stage] = self.bar.add_task(stage, total=None, info="")
        if stage == "evolve":
            info = f"generation {rec['generation']}, best {rec['best_fitness']:.3f}"
        else:
            info = f"step {rec.get('step', '?')}, val {rec.get('val_accuracy', float('nan')):.3f}"
        self.bar.update(self.ids[stage], advance=1, info=info)

    def __exit__(self, *exc: object) -> None:
        if not self.quiet:
            self.bar.__exit__(*exc)


def inspect(
    model: str = typer.Argument(..., help="A model file, or 'builtin'."),
    plot: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--plot", help="PNG of the tasks' paths through the modules.", show_default=False
    ),
) -> None:
    """List a model's tasks: labels, validation accuracy, data, modules trained and reused."""
    from pathfer.use.model_file import BUILTIN, load_model

    try:
        m = load_model(model)
    except _user_errors() as exc:
        _fail(str(exc))
    size = os.path.getsize(m.path) if m.path else None
    console = Console()
    title = f"{BUILTIN if m.path is None else m.path.name}: {len(m.names)} task(s)"
    if size is not None:
        title += f", {size / 1e6:.2f} MB"
    console.print(_task_table(m, title))
    if plot is not None:
        from pathfer.models.pathnet.plots import plot_supernet

        path = plot_supernet(m.pathnet, plot, title=title)
        console.print(f"paths -> {escape(str(path))}")


def _task_table(m: Any, title: str) -> Table:
    table = Table(title=title)
    for col in ("task", "labels", "val. acc.", "data", "trained", "reused (from)"):
        table.add_column(col, overflow="fold")
    for name in m.names:
        entry = m.tasks[name]
        trained, reused = m.modules_of(name)
        prov = entry.get("provenance", {})
        acc = entry.get("val_accuracy")
        data = str(prov.get("corpus", "?"))
        if "frames_fit" in prov:
            data += f" ({prov['frames_fit']} + {prov.get('frames_val', 0)} frames)"
        table.add_row(
            escape(name),
            ", ".join(entry["labels"]),
            "-" if acc is None else f"{acc:.3f}",
            escape(data),
            " ".join(f"L{layer}M{mod}" for layer, mod in trained) or "-",
            " ".join(f"L{layer}M{mod} ({owner})" for layer, mod, owner in reused) or "-",
        )
    return table
