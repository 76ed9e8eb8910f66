"""Versions of the files pathfer writes and keeps: run folders, PathNet checkpoints,
model bundles.

Every such file records ``format_version``; files written before versions existed have
none and are version 1. A reader converts an older version through one function of its
own (``upgrade_checkpoint_v1``, ``upgrade_bundle_v1``) or refuses it with a
:class:`FormatError` that names the file, the version that wrote it and what to do. A
version newer than :data:`CURRENT` is always refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: the version this pathfer writes
CURRENT = 2
#: the key every versioned file's metadata holds
KEY = "format_version"


class FormatError(ValueError):
    """A file of a format version this pathfer cannot read; the message says what to do."""


def version_of(meta: dict[str, Any]) -> int:
    """The format version ``meta`` records (1 when it records none)."""
    v = meta.get(KEY, 1)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise FormatError(f"{KEY} must be a positive integer, got {v!r}")
    return v


def check_not_newer(meta: dict[str, Any], path: str | Path, what: str) -> int:
    """The version of ``meta``; a :class:`FormatError` when a newer pathfer wrote it."""
    v = version_of(meta)
    if v > CURRENT:
        raise FormatError(
            f"{path}: this {what} was written by a newer pathfer (format {v}; this one reads "
            f"formats up to {CURRENT}): upgrade pathfer to read it"
        )
    return v


def stamp(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with the current format version recorded."""
    return {**meta, KEY: CURRENT}


__all__ = ["CURRENT", "KEY", "FormatError", "version_of", "check_not_newer", "stamp"]
