"""Which code a bundle may run: registered architectures, or a trusted factory hint.

A bundle names its architecture (a registry name) and a ``"module:Class"`` hint. Loading
calls the registered factory; an unregistered name falls back to the hint only when its
module *and* the class it resolves to belong to pathfer or to ``trusted_modules``, and
the class is an ``nn.Module``: a bundle is data, and must not choose arbitrary code.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from torch import nn

from pathfer.models.architectures import ARCHITECTURES, Factory
from pathfer.runtime.registry import import_object

TRUSTED_MODULE_PREFIXES: tuple[str, ...] = ("pathfer.",)


class FactoryError(RuntimeError):
    """An architecture that cannot be built, or whose factory is not trusted."""


def register_architecture(name: str, factory: Factory | str | None = None) -> Any:
    """Register an architecture factory under ``name`` (for loading bundles).

    ``factory`` is a callable returning an ``nn.Module`` from keyword arguments, or a
    ``"module:callable"`` string imported on first use. Without ``factory`` this returns
    a decorator::

        @register_architecture("my_cnn")
        class MyCNN(nn.Module): ...
    """
    if isinstance(factory, str) and ":" not in factory:
        raise ValueError(f"factory string must look like 'module:callable', not {factory!r}")
    return ARCHITECTURES.register(name, factory)


def available_architectures() -> list[str]:
    return sorted(ARCHITECTURES.list())


def _import_factory(spec: str) -> Factory:
    obj = import_object(spec)
    if not callable(obj):
        raise TypeError(f"{spec} is not callable")
    return obj


def factory_hint(factory: Any) -> str | None:
    mod = getattr(factory, "__module__", None)
    qual = getattr(factory, "__qualname__", None)
    if not mod or not qual or "<" in qual or mod == "__main__":
        return None
    return f"{mod}:{qual}"


def registered_factory(name: str) -> Factory | None:
    """The registered factory, or None when ``name`` is not registered."""
    if name not in ARCHITECTURES:
        return None
    try:
        return ARCHITECTURES.get(name)
    except (ImportError, AttributeError) as exc:
        raise FactoryError(f"architecture {name!r}: cannot import its factory ({exc})") from exc


def _trusted(module: str, trusted: Sequence[str]) -> bool:
    return any(module == t.rstrip(".") or module.startswith(t.rstrip(".") + ".") for t in trusted)


def resolve_factory(
    name: str, hint: str | None = None, trusted_modules: Sequence[str] = ()
) -> Factory:
    """The factory registered as ``name``; else the trusted ``hint`` ("module:callable").

    A hint is trusted only when both its module and the object it resolves to belong to
    pathfer or to ``trusted_modules`` (``pathfer.use.bundle:torch.nn.Identity`` names a
    pathfer module but resolves to torch's class: refused).
    """
    entry = registered_factory(name)
    if entry is None and hint:
        module = hint.partition(":")[0]
        trusted = tuple(TRUSTED_MODULE_PREFIXES) + tuple(trusted_modules)
        if not _trusted(module, trusted):
            raise FactoryError(
                f"architecture {name!r} is not registered and its factory {hint!r} lies outside "
                "pathfer; import the module that registers it, or pass "
                f"trusted_modules=[{module!r}] if you trust it"
            )
        # importing the module usually registers the name; else call the hint itself
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise FactoryError(f"architecture {name!r}: cannot import {module!r} ({exc})") from exc
        entry = registered_factory(name)
        if entry is None:  # not registered on import: accept the hint only if it is a Module
            try:
                obj = _import_factory(hint)
            except (ImportError, AttributeError, TypeError, ValueError) as exc:
                raise FactoryError(
                    f"architecture {name!r}: cannot resolve {hint!r} ({exc})"
                ) from exc
            if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
                raise FactoryError(
                    f"architecture {name!r}: {hint!r} is neither registered nor an nn.Module "
                    "class; import the module that registers it first"
                )
            owner = factory_hint(obj) or f"{getattr(obj, '__module__', '?')}:?"
            if not _trusted(owner.partition(":")[0], trusted):
                raise FactoryError(
                    f"architecture {name!r}: its factory {hint!r} resolves to {owner}, which "
                    f"lies outside the trusted modules; pass trusted_modules=["
                    f"{owner.partition(':')[0]!r}] if you trust it"
                )
            return obj
    if entry is None:
        raise FactoryError(
            f"unknown architecture {name!r}; registered: {', '.join(available_architectures())}"
        )
    return entry
