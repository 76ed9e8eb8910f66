"""Statistical tests between methods over runs: paired t-test and Wilcoxon (scipy).

Choices made here (and stated in the reports):

- **Paired tests compare methods only within one experiment** (one run folder): the same
  target corpus, the same folds, the same test subjects. A merged report never pairs
  methods of different experiments.
- **Seeds are averaged within a fold before testing.** Runs of one fold with different
  seeds share their test subjects, so they are not independent pairs; each fold gives one
  difference (the mean over the seeds both methods have on that fold), and ``n`` is the
  number of folds.
- **Tests** are two-sided: scipy's paired t-test on the differences and scipy's Wilcoxon
  signed-rank test (zero differences dropped, Wilcoxon's original method) with scipy's
  ``method="auto"``: its exact distribution without ties (up to 50 pairs), the exact
  permutation distribution over all ``2**n`` sign patterns with tied differences (up to
  13 pairs), otherwise the normal approximation with tie correction.
- **Fewer than** :data:`MIN_PAIRS` **pairs get no test**: no statistic and no p-value
  (NaN; the reports print "–" and say "n < 3"). With two folds a t-test's p-value is
  whatever two differences happen to be (``7.5e-17`` for two nearly equal ones), and no
  Wilcoxon p-value can fall below 0.5.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

#: scipy's method="auto" (scipy/stats/_wilcoxon.py): exact without ties up to 50 pairs,
#: exact permutations with ties up to 13 pairs; mirrored here to name the method used
WILCOXON_EXACT_NO_TIES_MAX_N = 50
WILCOXON_EXACT_TIES_MAX_N = 13
PAIRED_COLUMNS = [
    "run",
    "method",
    "reference",
    "metric",
    "n",
    "n_seeds",
    "mean_a",
    "mean_b",
    "mean_diff",
    "std_diff",
    "t_stat",
    "t_pvalue",
    "wilcoxon_stat",
    "wilcoxon_pvalue",
    "wilcoxon_method",
]


# ----------------------------------------------------------------------------- paired tests


#: the fewest paired differences (folds) that get a test statistic and a p-value
MIN_PAIRS = 3
_NO_TEST = {"statistic": math.nan, "pvalue": math.nan}


def _differences(d: Any) -> np.ndarray:
    d = np.asarray(d, dtype=np.float64).ravel()
    return d[~np.isnan(d)]


def paired_t(d: Any) -> dict[str, float]:
    """Two-sided one-sample t-test of the paired differences ``d`` against 0 (scipy).

    Fewer than :data:`MIN_PAIRS` differences give NaN. All-zero differences give ``t = 0, p = 1``:
    scipy returns NaN there (zero variance), but "no difference at all" is the honest
    reading. Constant non-zero differences give ``t = ±inf, p = 0`` as in scipy.
    """
    d = _differences(d)
    n = d.size
    if n < MIN_PAIRS:
        return {**_NO_TEST, "df": float(max(n - 1, 0))}
    if not np.any(d):
        return {"statistic": 0.0, "pvalue": 1.0, "df": float(n - 1)}
    with warnings.catch_warnings():  # "precision loss" for (near-)constant differences
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_1samp(d, 0.0)
    return {"statistic": float(res.statistic), "pvalue": float(res.pvalue), "df": float(n - 1)}


def wilcoxon_signed_rank(d: Any) -> dict[str, Any]:
    """Two-sided Wilcoxon signed-rank test on paired differences ``d`` (scipy).

    Returns ``statistic`` (the smaller of the positive- and negative-rank sums),
    ``pvalue``, ``n`` (non-zero differences) and ``method`` ("exact" or "normal"; see the
    module docstring for which is used when); NaN for fewer than :data:`MIN_PAIRS`
    differences (zeros included).
    """
    d = _differences(d)
    if d.size < MIN_PAIRS:
        return {**_NO_TEST, "n": int(d.size), "method": "–"}
    d = np.round(d, 12)  # float noise must not break ties (0.9 - 0.8 vs 0.8 - 0.7)
    d = d[d != 0]
    n = int(d.size)
    if n == 0:
        return {"statistic": 0.0, "pvalue": 1.0, "n": 0, "method": "exact"}
    ties = np.unique(np.abs(d)).size < n
    limit = WILCOXON_EXACT_TIES_MAX_N if ties else WILCOXON_EXACT_NO_TIES_MAX_N
    res = stats.wilcoxon(d, zero_method="wilcox", method="auto")
    return {
        "statistic": float(res.statistic),
        "pvalue": float(min(1.0, res.pvalue)),
        "n": n,
        "method": "exact" if n <= limit else "normal",
    }


def paired_test(a: Any, b: Any) -> dict[str, Any]:
    """Paired comparison of two samples: ``n, mean_a, mean_b, mean_diff (a - b),
    std_diff, t_stat, t_pvalue, wilcoxon_stat, wilcoxon_pvalue, wilcoxon_method``.

    ``a`` and ``b`` are equal-length sequences aligned pair by pair, or mappings
    ``{key: value}`` paired on their common keys. Pairs with a NaN are dropped.
    """
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys = [k for k in a if k in b]
        xa = np.array([a[k] for k in keys], dtype=np.float64)
        xb = np.array([b[k] for k in keys], dtype=np.float64)
    else:
        xa = np.asarray(a, dtype=np.float64).ravel()
        xb = np.asarray(b, dtype=np.float64).ravel()
        if xa.shape != xb.shape:
            raise ValueError(f"paired samples differ in length: {xa.size} != {xb.size}")
    keep = ~(np.isnan(xa) | np.isnan(xb))
    xa, xb = xa[keep], xb[keep]
    d = xa - xb
    n = int(d.size)
    t = paired_t(d)
    w = wilcoxon_signed_rank(d)
    return {
        "n": n,
        "mean_a": float(xa.mean()) if n else math.nan,
        "mean_b": float(xb.mean()) if n else math.nan,
        "mean_diff": float(d.mean()) if n else math.nan,
        "std_diff": float(d.std(ddof=1)) if n > 1 else math.nan,
        "t_stat": t["statistic"],
        "t_pvalue": t["pvalue"],
        "wilcoxon_stat": float(w["statistic"]),
        "wilcoxon_pvalue": float(w["pvalue"]),
        "wilcoxon_method": w.get("method", "–"),
    }


def fold_means(
    scores: pd.DataFrame, method: str, reference: str, metric: str
) -> tuple[dict[str, float], dict[str, float], int]:
    """Per fold, the mean over seeds of ``metric`` for ``method`` and ``reference``, using
    only the (fold, seed) runs both have: ``({fold: value}, {fold: value}, max seeds)``."""
    a = scores[scores["method"] == method].set_index(["fold", "seed"])[metric]
    b = scores[scores["method"] == reference].set_index(["fold", "seed"])[metric]
    both = a.index.intersection(b.index)
    a = pd.to_numeric(a.loc[both], errors="coerce")
    b = pd.to_numeric(b.loc[both], errors="coerce")
    keep = a.notna() & b.notna()
    a, b = a[keep], b[keep]
    if a.empty:
        return {}, {}, 0
    folds = a.index.get_level_values("fold")
    seeds = int(a.groupby(folds).size().max())
    return a.groupby(folds).mean().to_dict(), b.groupby(folds).mean().to_dict(), seeds


def compare_within_runs(
    scores: pd.DataFrame,
    references: Mapping[str, str],
    metrics: Sequence[str] = ("clip_acc", "clip_uar"),
) -> pd.DataFrame:
    """Paired tests of every method against its experiment's reference, per metric.

    ``scores`` is a score table with a ``run`` column (one run folder = one experiment);
    ``references`` maps each run to its reference method. Methods are paired only with the
    reference of their own run, on fold means over seeds (:func:`fold_means`);
    differences are ``method - reference``. One row per (run, method, metric).
    """
    rows = []
    for run, ref in references.items():
        in_run = scores[scores["run"] == run]
        for method in in_run["method"].drop_duplicates():
            if method == ref:
                continue
            for m in metrics:
                if m not in in_run:
                    continue
                a, b, seeds = fold_means(in_run, method, ref, m)
                row = {"run": run, "method": method, "reference": ref, "metric": m}
                rows.append(row | paired_test(a, b) | {"n_seeds": seeds})
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)
