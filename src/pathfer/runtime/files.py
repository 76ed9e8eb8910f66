"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never
half of one.

Every writer in pathfer (cache shards, crops, manifests, results, reports, checkpoints,
bundles, generated videos) goes through :func:`atomic_path`: the data is written to a
hidden temporary name in the same folder, flushed to disk, and renamed onto the target
with :func:`os.replace`. The temporary name ``.<name>.<pid>.<random>.tmp`` carries the
writer's process id, so a later run can tell a dead writer's leftovers
(:func:`stale_temporaries`) from a live writer's.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TMP_SUFFIX = ".tmp"


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed onto
    ``path``, on error removed. ``suffix`` is appended to the temporary name (writers that
    pick a format from the extension, e.g. ``.avi``, need it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}{suffix}")
    try:
        yield tmp
        if tmp.exists():
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, **dumps: Any) -> Path:
    """``obj`` as JSON (indent 2 and sorted keys unless ``dumps`` says otherwise)."""
    dumps = {"indent": 2, "sort_keys": True, **dumps}
    return atomic_write_text(path, json.dumps(obj, **dumps) + "\n")


def writer_alive(tmp: Path) -> bool:
    """Whether the process named in a temporary file's name (``.<name>.<pid>.<hex>.tmp``)
    still runs (and is not this one)."""
    try:
        pid = int(tmp.name.split(TMP_SUFFIX)[0].rsplit(".", 2)[-2])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return pid != os.getpid()


def stale_temporaries(folder: Path) -> list[Path]:
    """Temporary files in ``folder`` left by writers that no longer run."""
    return [p for p in folder.glob(f".*{TMP_SUFFIX}*") if not writer_alive(p)]
