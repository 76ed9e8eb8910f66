"""Choices for options whose values come from a registry (face detectors, methods).

Their names are known only once the registering modules are imported (the methods import
torch, seconds on a small machine), so they are looked up when needed, not when the CLI
starts: the option's metavar ``DETECTOR`` or ``METHOD`` becomes ``<haar|...>`` when help is
shown (:class:`ChoicesCommand`), and its callback rejects other values with the list.
"""

from __future__ import annotations

from collections.abc import Callable

import typer
from typer.core import TyperCommand


def detector_names() -> list[str]:
    from pathfer.data.faces import available_detectors

    return available_detectors()


def method_names() -> list[str]:
    from pathfer.study.experiments.methods import METHODS

    return METHODS.list()


#: metavar placeholder -> the names it stands for
LAZY_CHOICES: dict[str, Callable[[], list[str]]] = {
    "DETECTOR": detector_names,
    "METHOD": method_names,
}


def one_of(kind: str) -> Callable[[str | None], str | None]:
    """An option callback that accepts only the registered names of ``kind`` (a LAZY_CHOICES
    key); None (option not given) passes."""

    def check(value: str | None) -> str | None:
        if value is None:
            return value
        names = LAZY_CHOICES[kind]()
        if value not in names:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(map(repr, names))}.")
        return value

    return check


class ChoicesCommand(TyperCommand):
    """A command whose help lists the registered names of its lazily chosen options."""

    def format_help(self, ctx, formatter) -> None:  # noqa: ANN001 - typer's signature
        for param in self.params:
            names = LAZY_CHOICES.get(getattr(param, "metavar", None) or "")
            if names is not None:
                param.metavar = "<" + "|".join(names()) + ">"
        return super().format_help(ctx, formatter)
