"""Validated settings: pydantic dataclasses whose errors are one line naming the key path.

Every config pathfer reads (an experiment config and its sections, PathNet's network and
evolution settings) is a :func:`settings` class, and they all follow the same rules:

- unknown keys are refused, and the message lists the allowed ones (a typo never passes);
- a number written as a string is read as that number (``k: "5"`` is ``k: 5``; YAML 1.1
  reads ``lr: 1e-3`` as the string ``"1e-3"``, which becomes 0.001); a boolean is never a
  number and a number never a boolean; a number with a fraction is not an integer;
- :func:`explain` turns a ``ValidationError`` into one line,
  ``split.k: should be greater than or equal to 2, got 1``.

They stay dataclasses: ``dataclasses.asdict`` and ``dataclasses.replace`` work (and
``replace`` validates too).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Annotated, Any, TypeVar, Union

import pydantic
from pydantic import AllowInfNan, BeforeValidator, ConfigDict, Field, Strict, ValidationError

__all__ = [
    "Bool",
    "Float",
    "Int",
    "ValidationError",
    "allowed_keys",
    "explain",
    "positive",
    "settings",
]

T = TypeVar("T")


def _number_from_text(value: Any) -> Any:
    """``"5"`` -> 5, ``"1e-3"`` -> 0.001; anything else is left for the type check."""
    if isinstance(value, str):
        text = value.strip()
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
    return value


#: an integer (or an integer written as a string); never a bool or a fractional number
Int = Annotated[int, BeforeValidator(_number_from_text), Strict()]
#: a finite number (or one written as a string); never a bool, never inf or NaN (a
#: non-finite rate or fraction would train nothing and report NaN)
Float = Annotated[float, BeforeValidator(_number_from_text), Strict(), AllowInfNan(False)]
#: true or false (YAML's true/false/yes/no); never a number or a string
Bool = Annotated[bool, Strict()]


def positive(kind: Any = Float) -> Any:
    """``kind`` constrained to > 0."""
    return Annotated[kind, Field(gt=0)]


def settings(cls: type[T] | None = None, *, frozen: bool = False) -> Any:
    """Decorate a dataclass of settings: validated on construction and on assignment,
    unknown keys refused."""
    config = ConfigDict(extra="forbid", validate_assignment=True)

    def wrap(c: type[T]) -> type[T]:
        return pydantic.dataclasses.dataclass(c, config=config, frozen=frozen)

    return wrap if cls is None else wrap(cls)


# ----------------------------------------------------------------------------- messages
def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _field_types(cls: Any) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(cls, include_extras=False)
    except Exception:  # an unresolvable annotation: fall back to the raw strings
        hints = {}
    return {f.name: hints.get(f.name, f.type) for f in dataclasses.fields(cls)}


def _dataclass_in(tp: Any) -> Any:
    """The settings dataclass inside ``tp`` (``X``, ``X | None``, ``list[X]``), if any."""
    if dataclasses.is_dataclass(tp):
        return tp
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType, list, tuple, dict):
        for arg in typing.get_args(tp):
            found = _dataclass_in(arg)
            if found is not None:
                return found
    return None


def allowed_keys(root: Any, loc: tuple[Any, ...]) -> list[str] | None:
    """The keys allowed at ``loc`` (a path of field names) below the dataclass ``root``."""
    cls = root
    for part in loc:
        if isinstance(part, int):
            continue
        if cls is None or not dataclasses.is_dataclass(cls):
            return None
        cls = _dataclass_in(_field_types(cls).get(str(part)))
    if cls is None or not dataclasses.is_dataclass(cls):
        return None
    return [f.name for f in dataclasses.fields(cls)]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one(err: dict[str, Any], root: Any) -> str:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        allowed = allowed_keys(root, loc[:-1]) if root is not None else None
        where = _dotted(loc)
        tail = f"; allowed: {', '.join(allowed)}" if allowed else ""
        return f"{where}: unknown key{tail}"
    msg = str(err.get("msg", "invalid"))
    if kind == "value_error" and msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
        return f"{_dotted(loc)}: {msg}" if loc else msg
    if kind == "assertion_error" and msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, ") :]
    for prefix in ("Input should", "Value should"):
        if msg.startswith(prefix):
            msg = "should" + msg[len(prefix) :]
    if kind == "too_short":
        msg = f"should have at least {err.get('ctx', {}).get('min_length', 1)} item(s)"
    if kind == "missing_keyword_argument":
        msg = "is required"
    elif "input" in err and kind not in ("missing", "missing_argument"):
        msg += f", got {_short(err['input'])}"
    return f"{_dotted(loc)}: {msg}" if loc else msg


def explain(exc: ValidationError, root: Any = None) -> str:
    """One line for every problem of ``exc``, joined by ``"; "``; ``root`` (the validated
    dataclass) lets unknown keys list the allowed ones."""
    seen: list[str] = []
    for err in exc.errors(include_url=False):
        line = _one(err, root)
        if line not in seen:
            seen.append(line)
    return "; ".join(seen)
