"""Number formatting and small layout helpers shared by the report's sections."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from pathfer.study.report.analysis import Report


def fmt(x: Any, digits: int = 3) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(x) else f"{x:.{digits}f}"


def mean_std(row: Mapping[str, Any], metric: str, digits: int = 3) -> str:
    mean, std = row.get(f"{metric}_mean", math.nan), row.get(f"{metric}_std", math.nan)
    if mean is None or math.isnan(float(mean)):
        return "–"
    if std is None or math.isnan(float(std)):
        return f"{float(mean):.{digits}f}"
    return f"{float(mean):.{digits}f} ± {float(std):.{digits}f}"


def pvalue(x: Any) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(x):
        return "–"
    if x == 0.0:  # a t-test of constant, non-zero differences
        return "0 (no variance)"
    return f"{x:.2e}" if x < 1e-3 else f"{x:.3f}"


def experiment_heading(r: Report, run: str, level: int = 3, note: str = "") -> None:
    if r.merged:
        r.doc.h(level, f"Experiment {run}{note}")


def summary_rows(r: Report, run: str) -> pd.DataFrame:
    s = r.summary
    return s[s["run"] == run] if "run" in s else s
