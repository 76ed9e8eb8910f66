"""One registry shape for everything pathfer looks up by name: corpora, face detectors,
experiment methods and model architectures (in the spirit of timm's ``register_model``).

::

    DETECTORS = Registry("face detector")

    @DETECTORS.register("haar", needs_download=False)
    class HaarDetector: ...

    DETECTORS.get("haar")        # the registered object (a class or function)
    DETECTORS.meta("haar")       # {"needs_download": False}
    DETECTORS.list("h*")         # ["haar"]

An entry may also be a ``"module:attribute"`` string, imported on first use, so that
optional or heavy implementations cost nothing until they are asked for.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown name; the message lists what is registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def import_object(spec: str) -> Any:
    """The object named by ``"package.module:attr.sub"``."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"{spec!r} does not look like 'module:attribute'")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Names -> objects (or lazy ``"module:attribute"`` strings), each with metadata."""

    def __init__(self, kind: str, aliases: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._aliases = {k.lower(): v for k, v in (aliases or {}).items()}

    def register(self, name: str, obj: T | str | None = None, **meta: Any) -> Any:
        """Register ``obj`` under ``name``; without ``obj``, a decorator."""
        if obj is None:

            def deco(o: T) -> T:
                self.register(name, o, **meta)
                return o

            return deco
        if isinstance(obj, str) and ":" not in obj:
            raise ValueError(f"a lazy {self.kind} must look like 'module:attribute', not {obj!r}")
        self._entries[name] = obj
        self._meta[name] = dict(meta)
        return obj

    def key(self, name: str) -> str:
        """The registered name for ``name`` (aliases and case resolved)."""
        if name in self._entries:
            return name
        low = name.strip().lower()
        low = self._aliases.get(low, low)
        for k in self._entries:
            if k.lower() == low:
                return k
        raise RegistryError(f"unknown {self.kind} {name!r}; available: {', '.join(self.list())}")

    def get(self, name: str) -> T:
        key = self.key(name)
        entry = self._entries[key]
        if isinstance(entry, str):
            entry = import_object(entry)
            self._entries[key] = entry
        return entry  # type: ignore[return-value]

    def meta(self, name: str) -> dict[str, Any]:
        return dict(self._meta[self.key(name)])

    def list(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style ``pattern``, in registration order."""
        return [n for n in self._entries if fnmatch.fnmatchcase(n, pattern)]

    def where(self, predicate: Callable[[dict[str, Any]], bool]) -> list[str]:
        """Names whose metadata satisfies ``predicate``."""
        return [n for n in self._entries if predicate(self._meta[n])]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.key(name)
        except RegistryError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    @contextmanager
    def scoped(self) -> Iterator[Registry[T]]:
        """Registrations made inside the block are undone at its end (tests, experiments)."""
        saved = dict(self._entries), dict(self._meta)
        try:
            yield self
        finally:
            self._entries, self._meta = saved
