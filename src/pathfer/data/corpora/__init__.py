"""Corpus adapters: turn a corpus folder into labelled clips (and a list of problems).

>>> scan = get_corpus("savee").scan("/data/SAVEE")          # doctest: +SKIP
>>> scan = scan_target("my_corpus.yaml")                      # doctest: +SKIP

Every adapter has ``name``, ``description``, ``layout`` and ``scan(root) -> CorpusScan``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pathfer.data.corpora.base import (
    CORPORA,
    ERROR,
    IGNORED,
    Clip,
    CorpusError,
    CorpusScan,
    Problem,
    natural_key,
)
from pathfer.data.corpora.enterface import EnterfaceCorpus
from pathfer.data.corpora.ravdess import RavdessCorpus
from pathfer.data.corpora.savee import SaveeCorpus
from pathfer.data.corpora.spec import SpecCorpus
from pathfer.runtime.registry import RegistryError

__all__ = [
    "CORPORA",
    "ERROR",
    "IGNORED",
    "Clip",
    "Corpus",
    "CorpusError",
    "CorpusScan",
    "EnterfaceCorpus",
    "Problem",
    "RavdessCorpus",
    "SaveeCorpus",
    "SpecCorpus",
    "available_corpora",
    "get_corpus",
    "load_spec",
    "natural_key",
    "register_corpus",
    "scan_target",
]


class Corpus(Protocol):
    name: str
    layout: str

    def scan(self, root: str | Path) -> CorpusScan: ...


def register_corpus(name: str, factory: Callable[[], Corpus]) -> None:
    """Make a corpus adapter available by name (to ``get_corpus`` and the CLI)."""
    CORPORA.register(name.lower(), factory)


def available_corpora() -> list[str]:
    return CORPORA.list()


def get_corpus(name: str) -> Corpus:
    """A new adapter of the registered corpus ``name`` (case and aliases forgiven)."""
    try:
        return CORPORA.get(name)()
    except RegistryError as exc:
        raise CorpusError(f"{exc} (or pass a .yaml corpus spec)") from None


def load_spec(path: str | Path) -> SpecCorpus:
    return SpecCorpus.from_yaml(path)


def is_spec(target: str) -> bool:
    return target.lower().endswith((".yaml", ".yml"))


def scan_target(target: str, root: str | Path | None = None) -> CorpusScan:
    """Scan a corpus given by name (``root`` required) or by a YAML spec path.

    When a named adapter finds nothing, the error says which other layout the folder
    looks like, if any (e.g. pointing ``savee`` at an eNTERFACE folder).
    """
    if is_spec(target):
        return load_spec(target).scan(root)
    corpus = get_corpus(target)
    if root is None:
        raise CorpusError(f"{corpus.name}: give the corpus folder (expected: {corpus.layout})")
    try:
        return corpus.scan(root)
    except CorpusError as exc:
        other = _guess_layout(Path(root), exclude=corpus.name)
        if other:
            raise CorpusError(f"{exc}. The folder looks like a {other} corpus") from None
        raise


def _guess_layout(root: Path, exclude: str) -> str | None:
    if not root.is_dir():
        return None
    for name in ("enterface", "savee", "ravdess"):
        if name == exclude:
            continue
        try:
            scan = get_corpus(name).scan(root)
        except (CorpusError, OSError):
            continue
        if len(scan.clips) > len(scan.errors):
            return f"{name!r}"
    return None
