"""Accuracy against the number of target training subjects: the learning-curve study.

A run with ``target_subjects: [2, 4, ...]`` holds, beside each method's full-fold results
(``method``), results with only N of each fold's training subjects (``method@Nsubj``).
From one experiment's result records this module computes:

- **points** (:func:`curve_points`): per method and size, the mean over folds of the
  per-fold means (seeds averaged within a fold, as the paired tests do: runs of one fold
  share their test subjects) and a 95 % t-interval over those fold means (scipy's
  ``ttest_1samp(...).confidence_interval``), NaN with fewer than
  :data:`~.stats.MIN_PAIRS` folds; beside it the mean CPU seconds of one job;
- **paired differences** (:func:`paired_sizes`): for the named pairs of :data:`PAIRS`,
  per size, the mean of the per-fold differences, its 95 % t-interval (scipy's
  ``ttest_rel(...).confidence_interval``), and the paired t and Wilcoxon p-values of
  :func:`~.stats.paired_test`; no interval and no test with fewer than
  :data:`~.stats.MIN_PAIRS` folds.

Accuracies here are in percent and differences in percentage points.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pathfer.study.report import metrics as M
from pathfer.study.report import stats as S

#: ``method@Nsubj``: a method run with N target training subjects per fold
SIZE_NAME = re.compile(r"^(?P<base>.+)@(?P<n>\d+)subj$")
#: the paired differences shown per size (A - B), where a run has both methods
PAIRS = (
    ("pathnet_fer", "mini_xception_finetune"),
    ("pathnet_transfer", "finetune"),
    ("pathnet_transfer", "reference_finetune"),
)
CONFIDENCE = 0.95
ALL = "all"


def split_name(method: str) -> tuple[str, int | None]:
    """``("finetune", 2)`` for ``finetune@2subj``; ``("finetune", None)`` for the full fold."""
    m = SIZE_NAME.match(method)
    return (m["base"], int(m["n"])) if m else (method, None)


def sized_name(base: str, n: int | None) -> str:
    return base if n is None else f"{base}@{n}subj"


def has_sizes(methods: Sequence[str]) -> bool:
    return any(split_name(m)[1] is not None for m in methods)


@dataclass
class Sizes:
    """One experiment's learning curve over target training subjects."""

    metric: str
    ns: list[int]  # the sizes run, ascending (the full fold is not among them)
    x_all: float  # where the full fold is drawn
    all_measured: bool  # x_all is the mean recorded count of a full fold's subjects
    points: pd.DataFrame  # POINT_COLUMNS
    pairs: pd.DataFrame  # PAIR_COLUMNS
    chance: float | None = None

    def sizes(self) -> list[int | None]:
        """Every size, the full fold (None) last."""
        return [*self.ns, None]


POINT_COLUMNS = [
    "method",
    "size",
    "x",
    "n_folds",
    "n_seeds",
    "mean",
    "ci_low",
    "ci_high",
    "cpu_s",
    "cpu_is_wall",
]
PAIR_COLUMNS = [
    "a",
    "b",
    "size",
    "n",
    "n_seeds",
    "mean_diff",
    "ci_low",
    "ci_high",
    "t_pvalue",
    "wilcoxon_pvalue",
    "cpu_a",
    "cpu_b",
    "cpu_a_is_wall",
    "cpu_b_is_wall",
]


def job_table(records: Sequence[Mapping[str, Any]], metric: str) -> pd.DataFrame:
    """One row per record: ``method, fold, seed``, ``metric`` in percent, ``cpu_time_s``
    (the job's process CPU time, ``extra.cpu_time_s``; NaN where not recorded),
    ``train_time_s`` (wall) and ``subjects`` (``extra.target_train_subjects``)."""
    scores = M.score_table(records)
    extra = [r.get("extra") or {} for r in records]
    return pd.DataFrame(
        {
            "method": scores["method"],
            "fold": scores["fold"].astype(str),
            "seed": scores["seed"].astype(str),
            metric: 100 * pd.to_numeric(scores[metric], errors="coerce"),
            "cpu_time_s": [_num(e.get("cpu_time_s")) for e in extra],
            "train_time_s": pd.to_numeric(scores["train_time_s"], errors="coerce"),
            "subjects": [_num(e.get("target_train_subjects")) for e in extra],
        }
    )


def _num(v: Any) -> float:
    try:
        return math.nan if v is None else float(v)
    except (TypeError, ValueError):
        return math.nan


def t_interval(values: Sequence[float]) -> tuple[float, float]:
    """95 % t-interval of the mean of ``values`` (scipy); NaN for fewer than
    :data:`~.stats.MIN_PAIRS` values; a point for values without spread."""
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size < S.MIN_PAIRS:
        return math.nan, math.nan
    if np.ptp(x) == 0:  # scipy gives NaN for zero variance; every value is the mean
        return float(x[0]), float(x[0])
    ci = stats.ttest_1samp(x, 0.0).confidence_interval(CONFIDENCE)
    return float(ci.low), float(ci.high)


def paired_interval(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """95 % t-interval of the mean paired difference ``a - b`` (scipy's ``ttest_rel``);
    NaN for fewer than :data:`~.stats.MIN_PAIRS` pairs."""
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if xa.size < S.MIN_PAIRS:
        return math.nan, math.nan
    d = xa - xb
    if np.ptp(d) == 0:
        return float(d[0]), float(d[0])
    with warnings.catch_warnings():  # "precision loss" for nearly constant differences
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = stats.ttest_rel(xa, xb).confidence_interval(CONFIDENCE)
    return float(ci.low), float(ci.high)


def _cpu(jobs: pd.DataFrame) -> tuple[float, bool]:
    """Mean CPU seconds of one job; the wall time (and True) where CPU was not recorded."""
    if len(jobs) and jobs["cpu_time_s"].notna().all():
        return float(jobs["cpu_time_s"].mean()), False
    return float(jobs["train_time_s"].mean()) if len(jobs) else math.nan, True


def _bases(methods: Sequence[str], order: Sequence[str] = ()) -> list[str]:
    """The methods without their sizes: those of ``order`` first, in its order."""
    present = list(dict.fromkeys(split_name(m)[0] for m in methods))
    first = [b for b in dict.fromkeys(split_name(m)[0] for m in order) if b in present]
    return first + [b for b in present if b not in first]


def curve_points(
    jobs: pd.DataFrame, metric: str, ns: Sequence[int], x_all: float, order: Sequence[str] = ()
) -> pd.DataFrame:
    """:data:`POINT_COLUMNS` rows: every method x size present in ``jobs``, methods in
    ``order`` first."""
    rows = []
    bases = _bases(list(jobs["method"]), order)
    for base in bases:
        for n in [*ns, None]:
            mine = jobs[jobs["method"] == sized_name(base, n)]
            if mine.empty:
                continue
            folds = mine.groupby("fold", sort=True)[metric].mean().dropna()
            lo, hi = t_interval(folds.to_numpy())
            cpu, wall = _cpu(mine)
            rows.append(
                {
                    "method": base,
                    "size": ALL if n is None else str(n),
                    "x": x_all if n is None else float(n),
                    "n_folds": len(folds),
                    "n_seeds": int(mine.groupby("fold")["seed"].nunique().max()),
                    "mean": float(folds.mean()) if len(folds) else math.nan,
                    "ci_low": lo,
                    "ci_high": hi,
                    "cpu_s": cpu,
                    "cpu_is_wall": wall,
                }
            )
    return pd.DataFrame(rows, columns=POINT_COLUMNS)


def paired_sizes(jobs: pd.DataFrame, metric: str, ns: Sequence[int]) -> pd.DataFrame:
    """:data:`PAIR_COLUMNS` rows: each pair of :data:`PAIRS` whose both methods ran, per
    size where both have results (fold means over the seeds both have,
    :func:`~.stats.fold_means`)."""
    present = set(jobs["method"])
    rows = []
    for a, b in PAIRS:
        for n in [*ns, None]:
            ma, mb = sized_name(a, n), sized_name(b, n)
            if ma not in present or mb not in present:
                continue
            fa, fb, seeds = S.fold_means(jobs, ma, mb, metric)
            folds = [f for f in fa if f in fb]
            xa = [fa[f] for f in folds]
            xb = [fb[f] for f in folds]
            test = S.paired_test(xa, xb)
            lo, hi = paired_interval(xa, xb)
            cpu_a, wall_a = _cpu(jobs[jobs["method"] == ma])
            cpu_b, wall_b = _cpu(jobs[jobs["method"] == mb])
            rows.append(
                {
                    "a": a,
                    "b": b,
                    "size": ALL if n is None else str(n),
                    "n": test["n"],
                    "n_seeds": seeds,
                    "mean_diff": test["mean_diff"],
                    "ci_low": lo,
                    "ci_high": hi,
                    "t_pvalue": test["t_pvalue"],
                    "wilcoxon_pvalue": test["wilcoxon_pvalue"],
                    "cpu_a": cpu_a,
                    "cpu_b": cpu_b,
                    "cpu_a_is_wall": wall_a,
                    "cpu_b_is_wall": wall_b,
                }
            )
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def analyse_sizes(
    records: Sequence[Mapping[str, Any]],
    metric: str,
    chance: float | None = None,
    order: Sequence[str] = (),
) -> Sizes | None:
    """The learning curve of one experiment's records (methods named without a run
    prefix; those in ``order`` first); None when no record is a ``method@Nsubj`` result.

    The full fold is drawn at the mean number of training subjects its records state
    (``extra.target_train_subjects``) when every full-fold record states it, else one
    doubling right of the largest N (``all_measured`` says which).
    """
    methods = [str(r["method"]) for r in records]
    ns = sorted({n for m in methods if (n := split_name(m)[1]) is not None})
    if not ns:
        return None
    jobs = job_table(records, metric)
    full = jobs[[split_name(m)[1] is None for m in jobs["method"]]]
    measured = len(full) > 0 and bool(full["subjects"].notna().all())
    x_all = float(full["subjects"].mean()) if measured else 2.0 * ns[-1]
    return Sizes(
        metric=metric,
        ns=ns,
        x_all=x_all,
        all_measured=measured,
        points=curve_points(jobs, metric, ns, x_all, order),
        pairs=paired_sizes(jobs, metric, ns),
        chance=chance,
    )


# ----------------------------------------------------------------------------- tables


def _pct(x: float, digits: int = 1) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _signed(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:+.1f}"


def _p(x: float) -> str:
    if math.isnan(x):
        return "–"
    if x == 0.0:
        return "0 (no variance)"
    return f"{x:.2e}" if x < 1e-3 else f"{x:.3f}"


def _cpu_cell(s: float, wall: bool) -> str:
    return "–" if math.isnan(s) else f"{s:.0f}" + (" (wall)" * wall)


def size_label(n: int | None) -> str:
    return ALL if n is None else f"N={n}"


def curve_table(sz: Sizes) -> tuple[list[str], list[list[str]]]:
    """Header and rows: per method, for each size, accuracy (mean ± half the 95 %
    interval, or the mean alone with fewer than 3 folds) and CPU s per job."""
    header = ["method", "folds (seeds)"]
    for n in sz.sizes():
        header += [f"{size_label(n)} acc %", "CPU s"]
    rows = []
    for method, pts in sz.points.groupby("method", sort=False):
        by_size = {p["size"]: p for _, p in pts.iterrows()}
        folds = f"{int(pts['n_folds'].max())} ({int(pts['n_seeds'].max())})"
        row = [method, folds]
        for n in sz.sizes():
            p = by_size.get(ALL if n is None else str(n))
            if p is None:
                row += ["–", "–"]
                continue
            acc = _pct(p["mean"])
            if not math.isnan(p["ci_low"]):
                acc += f" ± {(p['ci_high'] - p['ci_low']) / 2:.1f}"
            row += [acc, _cpu_cell(p["cpu_s"], bool(p["cpu_is_wall"]))]
        rows.append(row)
    return header, rows


PAIR_HEADER = [
    "pair (A − B)",
    "size",
    "difference (points)",
    "95% CI",
    "paired t p",
    "Wilcoxon p",
    "pairs (folds)",
    "CPU s A / B",
]


def pair_rows(sz: Sizes) -> list[list[str]]:
    """Rows under :data:`PAIR_HEADER`: no interval and no p-value with fewer than 3 pairs."""
    rows = []
    for _, p in sz.pairs.iterrows():
        n = int(p["n"])
        few = n < S.MIN_PAIRS
        ci = "–" if few else f"[{p['ci_low']:+.1f}, {p['ci_high']:+.1f}]"
        rows.append(
            [
                f"{p['a']} − {p['b']}",
                p["size"] if p["size"] == ALL else f"N={p['size']}",
                _signed(p["mean_diff"]),
                ci,
                "–" if few else _p(p["t_pvalue"]),
                "–" if few else _p(p["wilcoxon_pvalue"]),
                f"{n} (n < {S.MIN_PAIRS})" if few else str(n),
                f"{_cpu_cell(p['cpu_a'], bool(p['cpu_a_is_wall']))} / "
                f"{_cpu_cell(p['cpu_b'], bool(p['cpu_b_is_wall']))}",
            ]
        )
    return rows
