"""Persist result records as JSON, one file per ``(method, fold, seed)``.

Layout: ``run_dir/results/<method>__<fold>__seed<k>.json``. Arrays are stored as lists and
come back as numpy arrays (``y_true`` int64, ``proba`` float64 ``(n, C)``, ``clip_ids``
str). Writes are atomic (temporary file in the same folder, fsync, ``os.replace``), so a
run interrupted at any point leaves only complete files and can resume by skipping the
``(method, fold, seed)`` triples whose file exists (:func:`result_exists`).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pathfer.runtime.files import atomic_write_text

RESULTS_DIR = "results"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(part: Any) -> str:
    return _UNSAFE.sub("_", str(part)) or "_"


def result_filename(method: str, fold: Any, seed: Any) -> str:
    """``<method>__<fold>__seed<k>.json`` with characters outside ``[A-Za-z0-9._-]`` as ``_``."""
    return f"{_safe(method)}__{_safe(fold)}__seed{_safe(seed)}.json"


def result_path(run_dir: str | Path, method: str, fold: Any, seed: Any) -> Path:
    return Path(run_dir) / RESULTS_DIR / result_filename(method, fold, seed)


def result_exists(run_dir: str | Path, method: str, fold: Any, seed: Any) -> bool:
    """Whether a finished result for ``(method, fold, seed)`` is already on disk (resume)."""
    return result_path(run_dir, method, fold, seed).is_file()


def to_jsonable(obj: Any) -> Any:
    """Numpy arrays/scalars -> lists/Python numbers, Paths -> str, non-finite floats -> None."""
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def save_result(run_dir: str | Path, record: Mapping[str, Any]) -> Path:
    """Write one result record to ``run_dir/results/<method>__<fold>__seed<k>.json``."""
    for key in ("method", "fold", "seed", "y_true", "proba"):
        if key not in record:
            raise ValueError(f"result record lacks '{key}'; cannot save it")
    path = result_path(run_dir, record["method"], record["fold"], record["seed"])
    text = json.dumps(to_jsonable(dict(record)), allow_nan=False)
    return atomic_write_text(path, text)


def record_from_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a loaded JSON record back into arrays (``y_true``, ``proba``, ``clip_ids``)."""
    rec = dict(data)
    rec["y_true"] = np.asarray(rec.get("y_true", []), dtype=np.int64)
    proba = np.asarray(rec.get("proba", []), dtype=np.float64)
    if proba.ndim == 1 and proba.size == 0:
        proba = proba.reshape(0, len(rec.get("labels") or []))
    rec["proba"] = proba
    if rec.get("clip_ids") is not None:
        rec["clip_ids"] = np.asarray([str(c) for c in rec["clip_ids"]], dtype=object)
    rec.setdefault("extra", {})
    if rec["extra"] is None:
        rec["extra"] = {}
    return rec


def load_results(run_dir: str | Path, strict: bool = True) -> list[dict[str, Any]]:
    """All records under ``run_dir/results`` (sorted by file name).

    Hidden files (the atomic writer's temporaries) are ignored. An unreadable file raises
    ``ValueError`` naming it, or with ``strict=False`` is skipped with a warning.
    """
    folder = Path(run_dir) / RESULTS_DIR
    if not folder.is_dir():
        return []
    records = []
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            records.append(record_from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError) as exc:
            msg = f"cannot read result file {path}: {exc}"
            if strict:
                raise ValueError(msg) from exc
            warnings.warn(msg + " (skipped)", stacklevel=2)
    return records
