"""Learning curves of result records: accuracy over wall-clock time, equal-budget tables.

A curve is ``extra["learning_curve"]``: points ``{"time_s": ..., "val_acc": ...}`` (or
``test_acc`` / ``acc``) recorded during training. Comparing methods *at the same time
budget* reads the accuracy of each run's last point at or before the budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

CURVE_ACC_KEYS = ("test_acc", "val_acc", "acc")


def curve_points(curve: Sequence[Mapping[str, Any]] | None, key: str | None = None):
    """``(time_s, acc)`` arrays of a learning curve sorted by time (empty when no curve).

    ``key`` names the accuracy field; by default the first of ``test_acc, val_acc, acc``
    present in the points.
    """
    if not curve:
        return np.zeros(0), np.zeros(0)
    if key is None:
        key = next((k for k in CURVE_ACC_KEYS if any(k in p for p in curve)), None)
        if key is None:
            raise ValueError(f"learning-curve points have none of {CURVE_ACC_KEYS}")
    pts = [(float(p["time_s"]), float(p[key])) for p in curve if p.get(key) is not None]
    pts.sort(key=lambda tp: tp[0])
    if not pts:
        return np.zeros(0), np.zeros(0)
    times, accs = zip(*pts, strict=True)
    return np.asarray(times), np.asarray(accs)


def time_to_accuracy(
    curve: Sequence[Mapping[str, Any]] | None, threshold: float, key: str | None = None
) -> float | None:
    """Wall-clock seconds of the first curve point with accuracy >= ``threshold``; None if never."""
    times, accs = curve_points(curve, key)
    hit = np.nonzero(accs >= threshold)[0]
    return float(times[hit[0]]) if hit.size else None


def accuracy_at(
    curve: Sequence[Mapping[str, Any]] | None, budget_s: float, key: str | None = None
) -> float:
    """Accuracy of the last curve point at or before ``budget_s``; NaN when there is none."""
    times, accs = curve_points(curve, key)
    idx = np.nonzero(times <= budget_s)[0]
    return float(accs[idx[-1]]) if idx.size else float("nan")


def record_curve(record: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The learning curve of a record (``extra['learning_curve']``)."""
    extra = record.get("extra") or {}
    return extra.get("learning_curve") or None


def common_budget(records: Iterable[Mapping[str, Any]], key: str | None = None) -> float | None:
    """Default equal budget: the earliest final curve time over all runs with a curve.

    At this budget every run is still inside (or at the end of) its recorded curve.
    """
    ends = []
    for rec in records:
        times, _ = curve_points(record_curve(rec), key)
        if times.size:
            ends.append(float(times[-1]))
    return min(ends) if ends else None


def equal_budget(
    records: Iterable[Mapping[str, Any]], budget_s: float | None = None, key: str | None = None
) -> pd.DataFrame:
    """Each method's accuracy at a common wall-clock budget, from its learning curves.

    Per run the accuracy is that of the last curve point at or before ``budget_s`` (NaN if
    the curve starts later). Per method: ``budget_s, acc_mean, acc_std, n`` (runs with a
    curve) and ``n_at_budget`` (runs with a point inside the budget; the mean is over these).
    Methods without any curve are left out. ``budget_s=None`` uses :func:`common_budget`.
    """
    records = list(records)
    if budget_s is None:
        budget_s = common_budget(records, key)
    cols = ["method", "budget_s", "acc_mean", "acc_std", "n", "n_at_budget"]
    if budget_s is None:
        return pd.DataFrame(columns=cols)
    per_method: dict[str, list[float]] = {}
    for rec in records:
        curve = record_curve(rec)
        if not curve:
            continue
        per_method.setdefault(rec["method"], []).append(accuracy_at(curve, budget_s, key))
    rows = []
    for method, accs in per_method.items():
        arr = np.asarray(accs, dtype=np.float64)
        ok = arr[~np.isnan(arr)]
        rows.append(
            {
                "method": method,
                "budget_s": float(budget_s),
                "acc_mean": float(ok.mean()) if ok.size else float("nan"),
                "acc_std": float(ok.std(ddof=1)) if ok.size > 1 else float("nan"),
                "n": int(arr.size),
                "n_at_budget": int(ok.size),
            }
        )
    return pd.DataFrame(rows, columns=cols)
