"""Metrics for result records: frame/clip accuracy and UAR, summaries, paired tests, budgets.

A *result record* is what the runner produces for one ``(method, fold, seed)``::

    {
        "method": "pathnet_transfer", "fold": "fold0", "seed": 0,
        "labels": ["anger", "happiness", ...],        # class index i means labels[i]
        "y_true": int array (n_frames,),
        "proba": float array (n_frames, n_classes),    # rows are class probabilities
        "clip_ids": str array (n_frames,),             # frames of one clip share a label
        "train_time_s": float,
        "extra": {
            "source_acc_before": float, "source_acc_after": float,   # -> forgetting
            "generations": int, "epochs": int,
            "history": [{"generation": 0, "best_fitness": ..., ...}, ...],  # evolution
            "learning_curve": [{"time_s": ..., "step": ..., "val_acc": ...}, ...],
            "path_images": ["pathnet_transfer__fold0__seed0_path.png", ...],
        },
    }

Choices made here (and stated in reports):

- **UAR** is the mean, over the classes *present in the true labels*, of per-class recall.
  A class absent from a test fold has no defined recall, so it is left out rather than
  counted as 0 or 1; with every class present this is the usual macro-averaged recall.
- **Clip level**: a clip's probability vector is the mean of its frames' probability
  vectors; the predicted class is its argmax (ties -> lowest class index).
- **Standard deviations** are sample standard deviations (``ddof=1``) over the runs
  (folds x seeds) of a method; NaN when there is a single run.
- **Paired tests** are two-sided. The Wilcoxon signed-rank test drops zero differences
  (Wilcoxon's original method), is exact for at most 20 non-zero differences (the exact
  permutation distribution given the - possibly tied - midranks) and uses the normal
  approximation with tie correction and no continuity correction above that.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

METRICS = ("frame_acc", "frame_uar", "clip_acc", "clip_uar", "forgetting", "train_time_s")
WILCOXON_EXACT_MAX_N = 20
CURVE_ACC_KEYS = ("test_acc", "val_acc", "acc")

# ----------------------------------------------------------------------------- basic scores


def _as_labels(y: Any, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"{name} must hold integer class indices")
        arr = arr.astype(np.int64)
    return arr.astype(np.int64, copy=False)


def _check_pair(y: Any, pred: Any) -> tuple[np.ndarray, np.ndarray]:
    y_arr = _as_labels(y, "y")
    p_arr = _as_labels(pred, "pred")
    if y_arr.shape != p_arr.shape:
        raise ValueError(f"y and pred differ in length: {y_arr.shape[0]} != {p_arr.shape[0]}")
    if y_arr.size == 0:
        raise ValueError("y is empty: no samples to score")
    return y_arr, p_arr


def accuracy(y: Any, pred: Any) -> float:
    """Fraction of samples whose predicted class equals the true class."""
    y_arr, p_arr = _check_pair(y, pred)
    return float(np.mean(y_arr == p_arr))


def confusion(y: Any, pred: Any, n_classes: int) -> np.ndarray:
    """Confusion counts ``(n_classes, n_classes)`` int64; rows = true class, cols = predicted."""
    y_arr, p_arr = _check_pair(y, pred)
    for name, arr in (("y", y_arr), ("pred", p_arr)):
        if arr.min() < 0 or arr.max() >= n_classes:
            raise ValueError(f"{name} holds class indices outside [0, {n_classes})")
    flat = np.bincount(y_arr * n_classes + p_arr, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)


def uar(y: Any, pred: Any, n_classes: int) -> float:
    """Unweighted average recall: mean per-class recall over the classes present in ``y``.

    Classes that never occur in ``y`` have no defined recall and are skipped (see module
    docstring). Equals accuracy when every present class has the same number of samples.
    """
    cm = confusion(y, pred, n_classes)
    support = cm.sum(axis=1)
    present = support > 0
    recalls = np.diag(cm)[present] / support[present]
    return float(np.mean(recalls))


# ----------------------------------------------------------------------------- clip level


def clip_level(
    y_frame: Any, proba_frame: Any, clip_ids: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aggregate frames to clips: ``(y_clip, proba_clip, clip_order)``.

    ``clip_order`` lists the clip ids in order of first appearance; ``proba_clip[i]`` is the
    mean of the frame probabilities of clip ``clip_order[i]`` and ``y_clip[i]`` its label.
    Raises ``ValueError`` when the frames of one clip carry different labels.
    """
    y_arr = _as_labels(y_frame, "y_frame")
    proba = np.asarray(proba_frame, dtype=np.float64)
    ids = np.asarray(clip_ids)
    if proba.ndim != 2 or proba.shape[0] != y_arr.shape[0]:
        raise ValueError(
            f"proba must be (n_frames, n_classes) with n_frames={y_arr.shape[0]}, "
            f"got shape {proba.shape}"
        )
    if ids.ndim != 1 or ids.shape[0] != y_arr.shape[0]:
        raise ValueError(
            f"clip_ids must have one entry per frame ({y_arr.shape[0]}), got shape {ids.shape}"
        )
    codes, uniques = pd.factorize(pd.Series(ids, dtype=object), sort=False)
    n_clips = len(uniques)
    counts = np.bincount(codes, minlength=n_clips).astype(np.float64)
    sums = np.zeros((n_clips, proba.shape[1]), dtype=np.float64)
    np.add.at(sums, codes, proba)
    proba_clip = sums / counts[:, None] if n_clips else sums
    y_clip = np.full(n_clips, -1, dtype=np.int64)
    y_clip[codes] = y_arr
    mismatch = y_arr != y_clip[codes]
    if np.any(mismatch):
        bad = sorted({str(uniques[c]) for c in codes[mismatch]})
        raise ValueError(
            f"frames of one clip carry different labels for {len(bad)} clip(s), e.g. {bad[:3]}"
        )
    return y_clip, proba_clip, np.asarray(uniques, dtype=object)


# ----------------------------------------------------------------------------- records


def record_arrays(record: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Validated ``(y_true, proba, clip_ids, n_classes)`` of a record (clear errors)."""
    where = _record_name(record)
    for key in ("y_true", "proba"):
        if key not in record:
            raise ValueError(f"result record {where} has no '{key}'")
    y = _as_labels(record["y_true"], f"{where} y_true")
    proba = np.asarray(record["proba"], dtype=np.float64)
    if y.size == 0:
        raise ValueError(f"result record {where} has no frames")
    if proba.ndim != 2 or proba.shape[0] != y.shape[0]:
        raise ValueError(
            f"result record {where}: proba must be (n_frames={y.shape[0]}, n_classes), "
            f"got {proba.shape}"
        )
    labels = record.get("labels")
    n_classes = len(labels) if labels else proba.shape[1]
    if proba.shape[1] != n_classes:
        raise ValueError(
            f"result record {where}: proba has {proba.shape[1]} columns "
            f"but labels name {n_classes} classes"
        )
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"result record {where}: y_true outside [0, {n_classes})")
    clip_ids = record.get("clip_ids")
    if clip_ids is None:  # no clip information: every frame is its own clip
        ids = np.arange(y.shape[0]).astype(str).astype(object)
    else:
        ids = np.asarray(clip_ids).astype(str).astype(object)
    return y, proba, ids, n_classes


def _record_name(record: Mapping[str, Any]) -> str:
    return f"{record.get('method', '?')}/{record.get('fold', '?')}/seed{record.get('seed', '?')}"


def score(record: Mapping[str, Any]) -> dict[str, float]:
    """Scores of one record: frame/clip accuracy and UAR, train time, forgetting if known.

    Keys: ``frame_acc, frame_uar, clip_acc, clip_uar, n_frames, n_clips, train_time_s`` and,
    when ``extra`` has both ``source_acc_before`` and ``source_acc_after``, those two and
    ``forgetting = source_acc_before - source_acc_after``.
    """
    y, proba, ids, n_classes = record_arrays(record)
    pred = np.argmax(proba, axis=1)
    y_clip, proba_clip, order = clip_level(y, proba, ids)
    pred_clip = np.argmax(proba_clip, axis=1)
    out: dict[str, float] = {
        "frame_acc": accuracy(y, pred),
        "frame_uar": uar(y, pred, n_classes),
        "clip_acc": accuracy(y_clip, pred_clip),
        "clip_uar": uar(y_clip, pred_clip, n_classes),
        "n_frames": int(y.shape[0]),
        "n_clips": int(len(order)),
        "train_time_s": _float_or_nan(record.get("train_time_s")),
    }
    extra = record.get("extra") or {}
    before, after = extra.get("source_acc_before"), extra.get("source_acc_after")
    if before is not None and after is not None:
        out["source_acc_before"] = float(before)
        out["source_acc_after"] = float(after)
        out["forgetting"] = float(before) - float(after)
    return out


def _float_or_nan(value: Any) -> float:
    return float("nan") if value is None else float(value)


def score_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per record: ``method, fold, seed`` and every key of :func:`score`."""
    rows = []
    for rec in records:
        rows.append(
            {"method": rec["method"], "fold": rec["fold"], "seed": rec["seed"]} | score(rec)
        )
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["method", "fold", "seed", *METRICS[:4]])
    for col in ("forgetting", "source_acc_before", "source_acc_after"):
        if col not in df:
            df[col] = np.nan
    return df


def summarize(
    records: Iterable[Mapping[str, Any]] | pd.DataFrame, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per-method mean and sample std over folds x seeds.

    ``records`` is a list of result records or a :func:`score_table` frame. Returns one
    row per method (in order of first appearance) with ``n`` (runs), ``n_folds``,
    ``n_seeds`` and ``<metric>_mean`` / ``<metric>_std`` for each metric (NaN values, e.g.
    forgetting of a method without a source, are left out of that metric's mean).
    """
    df = records if isinstance(records, pd.DataFrame) else score_table(records)
    metrics = [m for m in (metrics or METRICS) if m in df.columns]
    rows = []
    for method, group in df.groupby("method", sort=False):
        row: dict[str, Any] = {
            "method": method,
            "n": len(group),
            "n_folds": group["fold"].nunique(),
            "n_seeds": group["seed"].nunique(),
        }
        for m in metrics:
            values = pd.to_numeric(group[m], errors="coerce").dropna().to_numpy(float)
            row[f"{m}_mean"] = float(values.mean()) if values.size else float("nan")
            row[f"{m}_std"] = float(values.std(ddof=1)) if values.size > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- distributions


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_bt = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    bt = math.exp(log_bt)
    if x < (a + 1.0) / (a + b + 2.0):
        return bt * _betacf(a, b, x) / a
    return 1.0 - bt * _betacf(b, a, 1.0 - x) / b


def t_sf_two_sided(t: float, df: float) -> float:
    """``P(|T| >= |t|)`` for Student's t with ``df`` degrees of freedom."""
    if math.isnan(t):
        return float("nan")
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def t_cdf(t: float, df: float) -> float:
    """Student's t cumulative distribution function."""
    tail = 0.5 * t_sf_two_sided(t, df)
    return 1.0 - tail if t > 0 else tail


def normal_sf(z: float) -> float:
    """Standard normal survival function ``P(Z >= z)``."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _midranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def wilcoxon_signed_rank(d: Any) -> dict[str, Any]:
    """Two-sided Wilcoxon signed-rank test on paired differences ``d``.

    Returns ``statistic`` (min of the positive- and negative-rank sums, as SciPy reports),
    ``pvalue``, ``n`` (non-zero differences) and ``method`` ("exact" or "normal").
    """
    d = np.asarray(d, dtype=np.float64)
    d = d[~np.isnan(d)]
    d = np.round(d, 12)  # float noise must not break ties (0.9 - 0.8 vs 0.8 - 0.7)
    d = d[d != 0]
    n = int(d.size)
    if n == 0:
        return {"statistic": 0.0, "pvalue": 1.0, "n": 0, "method": "exact"}
    ranks = _midranks(np.abs(d))
    r_plus = float(ranks[d > 0].sum())
    total = n * (n + 1) / 2.0
    stat = min(r_plus, total - r_plus)
    if n <= WILCOXON_EXACT_MAX_N:
        doubled = np.rint(2 * ranks).astype(np.int64)  # midranks are multiples of 1/2
        counts = np.zeros(int(doubled.sum()) + 1, dtype=np.float64)
        counts[0] = 1.0
        for r in doubled:  # distribution of the (doubled) positive-rank sum
            shifted = np.zeros_like(counts)
            shifted[r:] = counts[:-r] if r else counts
            counts = counts + shifted
        probs = counts / counts.sum()
        t2 = int(round(2 * r_plus))
        p_low = float(probs[: t2 + 1].sum())
        p_high = float(probs[t2:].sum())
        return {
            "statistic": stat,
            "pvalue": min(1.0, 2.0 * min(p_low, p_high)),
            "n": n,
            "method": "exact",
        }
    _, tie_counts = np.unique(np.abs(d), return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24.0 - float(np.sum(tie_counts**3 - tie_counts)) / 48.0
    z = (r_plus - total / 2.0) / math.sqrt(var) if var > 0 else 0.0
    return {
        "statistic": stat,
        "pvalue": min(1.0, 2.0 * normal_sf(abs(z))),
        "n": n,
        "method": "normal",
    }


def paired_t(d: Any) -> dict[str, float]:
    """Two-sided one-sample t-test of the paired differences ``d`` against 0.

    Constant non-zero differences give ``t = ±inf, p = 0``; all-zero differences
    ``t = 0, p = 1``; fewer than two differences ``NaN``.
    """
    d = np.asarray(d, dtype=np.float64)
    d = d[~np.isnan(d)]
    n = d.size
    if n < 2:
        return {"statistic": float("nan"), "pvalue": float("nan"), "df": float(max(n - 1, 0))}
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        t = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    else:
        t = mean / (sd / math.sqrt(n))
    return {"statistic": t, "pvalue": t_sf_two_sided(t, n - 1), "df": float(n - 1)}


def paired_test(a: Any, b: Any) -> dict[str, Any]:
    """Paired comparison of two methods over the same folds x seeds.

    ``a`` and ``b`` are either equal-length sequences already aligned pair by pair, or
    mappings ``{(fold, seed): value}`` (paired on their common keys). NaN pairs are
    dropped. Returns ``n, mean_a, mean_b, mean_diff (a - b), std_diff, t_stat,
    t_pvalue, wilcoxon_stat, wilcoxon_pvalue, wilcoxon_method``.
    """
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys = [k for k in a if k in b]
        try:
            keys = sorted(keys)
        except TypeError:
            pass
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
    w = (
        wilcoxon_signed_rank(d)
        if n
        else {"statistic": float("nan"), "pvalue": float("nan"), "method": "exact"}
    )
    nan = float("nan")
    return {
        "n": n,
        "mean_a": float(xa.mean()) if n else nan,
        "mean_b": float(xb.mean()) if n else nan,
        "mean_diff": float(d.mean()) if n else nan,
        "std_diff": float(d.std(ddof=1)) if n > 1 else nan,
        "t_stat": t["statistic"],
        "t_pvalue": t["pvalue"],
        "wilcoxon_stat": float(w["statistic"]),
        "wilcoxon_pvalue": float(w["pvalue"]),
        "wilcoxon_method": w["method"],
    }


def compare_to_reference(
    scores: pd.DataFrame, reference: str, metrics: Sequence[str] = ("clip_acc", "clip_uar")
) -> pd.DataFrame:
    """Paired tests of every other method against ``reference`` on each metric.

    ``scores`` is a :func:`score_table` frame; pairs are matched on ``(fold, seed)``.
    Differences are ``method - reference``. One row per (method, metric).
    """
    ref = scores[scores["method"] == reference]
    rows = []
    for method in scores["method"].drop_duplicates():
        if method == reference:
            continue
        other = scores[scores["method"] == method]
        for m in metrics:
            if m not in scores:
                continue
            a = {
                (str(f), s): v
                for f, s, v in zip(other["fold"], other["seed"], other[m], strict=True)
            }
            b = {(str(f), s): v for f, s, v in zip(ref["fold"], ref["seed"], ref[m], strict=True)}
            rows.append({"method": method, "reference": reference, "metric": m} | paired_test(a, b))
    columns = [
        "method",
        "reference",
        "metric",
        "n",
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
    return pd.DataFrame(rows, columns=columns)


# ----------------------------------------------------------------------------- curves


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
    """The learning curve of a record (``extra['learning_curve']``, alias ``extra['curve']``)."""
    extra = record.get("extra") or {}
    return extra.get("learning_curve") or extra.get("curve") or None


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
