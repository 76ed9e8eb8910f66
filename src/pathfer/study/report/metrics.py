"""Scores of result records: frame and clip accuracy, UAR, confusion counts (scikit-learn).

A *result record* is what the runner produces for one ``(method, fold, seed)``::

    {
        "method": "pathnet_transfer", "fold": "fold1of5", "seed": 0,
        "labels": ["anger", "happiness", ...],        # class index i means labels[i]
        "y_true": int array (n_frames,),
        "proba": float array (n_frames, n_classes),    # rows are class probabilities
        "clip_ids": str array (n_frames,),             # frames of one clip share a label
        "train_time_s": float,
        "extra": {
            "source_acc_before": float, "source_acc_after": float,   # -> forgetting
            "generations": int, "epochs": int,
            "history": [{"generation": 1, "best_fitness": ..., ...}, ...],  # evolution
            "learning_curve": [{"time_s": ..., "step": ..., "val_acc": ...}, ...],
            "path_images": ["pathnet_transfer__fold1of5__seed0__paths.png", ...],
        },
    }

Definitions (stated in the reports too):

- **accuracy** is scikit-learn's ``accuracy_score``;
- **UAR** is ``balanced_accuracy_score``: the mean, over the classes *present in the true
  labels*, of per-class recall. A class absent from a test fold has no recall and is left
  out (scikit-learn warns about it; the warning is silenced here as it is expected);
- **confusion** counts are ``confusion_matrix`` with every class index as a label;
- **clip level**: a clip's probability vector is the mean of its frames' probability
  vectors (a pandas group-by); the predicted class is its argmax (ties -> lowest index)
  (``clip_acc``, ``clip_uar``);
- **peak clip level** (``clip_peak_acc``, ``clip_peak_uar``): a clip's probability vector is
  that of its *peak frame*, the frame whose highest non-neutral probability is the largest
  (the first such frame on ties; with no ``neutral`` class, the frame with the highest
  probability). An onset-to-apex sequence is mostly neutral frames: the mean calls it
  neutral, the peak frame shows the expression it ends in.

- **summaries** (:func:`summarize`) are the mean and sample standard deviation
  (``ddof=1``) over a method's runs (folds x seeds); NaN when there is a single run.

Paired tests between methods are in :mod:`.stats`; learning curves in :mod:`.curves`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix

METRICS = (
    "frame_acc",
    "frame_uar",
    "clip_acc",
    "clip_uar",
    "clip_peak_acc",
    "clip_peak_uar",
    "forgetting",
    "train_time_s",
    "choice_acc",
)


def _as_labels(y: Any, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"{name} must hold integer class indices")
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
    return float(accuracy_score(*_check_pair(y, pred)))


def confusion(y: Any, pred: Any, n_classes: int) -> np.ndarray:
    """Confusion counts ``(n_classes, n_classes)`` int64; rows = true class, cols = predicted."""
    y_arr, p_arr = _check_pair(y, pred)
    for name, arr in (("y", y_arr), ("pred", p_arr)):
        if arr.min() < 0 or arr.max() >= n_classes:
            raise ValueError(f"{name} holds class indices outside [0, {n_classes})")
    return confusion_matrix(y_arr, p_arr, labels=np.arange(n_classes)).astype(np.int64)


def uar(y: Any, pred: Any, n_classes: int | None = None) -> float:
    """Unweighted average recall over the classes present in ``y`` (balanced accuracy).

    ``n_classes``, when given, only checks that every index lies in ``[0, n_classes)``.
    """
    y_arr, p_arr = _check_pair(y, pred)
    if n_classes is not None:
        confusion(y_arr, p_arr, n_classes)  # raises on indices outside the classes
    with warnings.catch_warnings():  # both expected: a test fold need not hold every class
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
        warnings.filterwarnings("ignore", "A single label was found")
        return float(balanced_accuracy_score(y_arr, p_arr))


# ----------------------------------------------------------------------------- clip level


#: how a clip's frames make its probabilities (``report: {clip_scores: ...}``)
CLIP_SCORES = ("mean", "peak")


def peak_frames(proba: np.ndarray, keys: np.ndarray, neutral: int | None) -> np.ndarray:
    """Row index of each clip's peak frame (clips in order of first appearance): the frame
    whose highest non-neutral probability (column ``neutral`` left out) is the largest,
    the first one on ties."""
    emotive = proba if neutral is None else np.delete(proba, neutral, axis=1)
    top = emotive.max(axis=1) if emotive.shape[1] else np.zeros(len(proba))
    frame = pd.DataFrame({"key": keys, "top": top, "row": np.arange(len(proba))})
    # idxmax keeps the first maximum; the groups come in order of first appearance
    best = frame.groupby("key", sort=False)["top"].idxmax()
    return frame.loc[best.to_numpy(), "row"].to_numpy(dtype=np.int64)


def clip_level(
    y_frame: Any,
    proba_frame: Any,
    clip_ids: Any,
    how: str = "mean",
    neutral: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aggregate frames to clips: ``(y_clip, proba_clip, clip_order)``.

    ``clip_order`` lists the clip ids in order of first appearance; ``proba_clip[i]`` is the
    mean of the frame probabilities of clip ``clip_order[i]`` (``how="mean"``) or those of
    its peak frame (``how="peak"``, :func:`peak_frames`; ``neutral`` is the index of the
    neutral class, if any), and ``y_clip[i]`` its label. Raises ``ValueError`` when the
    frames of one clip carry different labels.
    """
    if how not in CLIP_SCORES:
        raise ValueError(f"clip score {how!r} is not one of {', '.join(CLIP_SCORES)}")
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
    keys = pd.Series(ids, dtype=object).astype(str).to_numpy()
    by_clip = pd.DataFrame(proba).groupby(keys, sort=False)
    labels = pd.Series(y_arr).groupby(keys, sort=False)
    n_labels = labels.nunique()
    if (n_labels > 1).any():
        bad = sorted(n_labels.index[n_labels > 1])
        raise ValueError(
            f"frames of one clip carry different labels for {len(bad)} clip(s), e.g. {bad[:3]}"
        )
    if how == "peak":
        proba_clip = proba[peak_frames(proba, keys, neutral)]
    else:
        proba_clip = by_clip.mean().to_numpy(dtype=np.float64).reshape(-1, proba.shape[1])
    y_clip = labels.first().to_numpy(dtype=np.int64)
    return y_clip, proba_clip, n_labels.index.to_numpy(dtype=object)


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

    Keys: ``frame_acc, frame_uar, clip_acc, clip_uar, clip_peak_acc, clip_peak_uar,
    n_frames, n_clips, train_time_s`` and,
    when ``extra`` has both ``source_acc_before`` and ``source_acc_after``, those two and
    ``forgetting = source_acc_before - source_acc_after``; ``choice_acc`` (frame accuracy
    on the choice subjects, ``split.choice_fraction``) when the run had them.
    """
    y, proba, ids, _ = record_arrays(record)
    pred = np.argmax(proba, axis=1)
    y_clip, proba_clip, order = clip_level(y, proba, ids)
    pred_clip = np.argmax(proba_clip, axis=1)
    labels = list(record.get("labels") or [])
    neutral = labels.index("neutral") if "neutral" in labels else None
    _, proba_peak, _ = clip_level(y, proba, ids, "peak", neutral)
    pred_peak = np.argmax(proba_peak, axis=1)
    out: dict[str, float] = {
        "frame_acc": accuracy(y, pred),
        "frame_uar": uar(y, pred),
        "clip_acc": accuracy(y_clip, pred_clip),
        "clip_uar": uar(y_clip, pred_clip),
        "clip_peak_acc": accuracy(y_clip, pred_peak),
        "clip_peak_uar": uar(y_clip, pred_peak),
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
    if extra.get("choice_acc") is not None:
        out["choice_acc"] = float(extra["choice_acc"])
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
    scores: pd.DataFrame | Iterable[Mapping[str, Any]], metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per-method mean and sample std over folds x seeds.

    ``scores`` is a :func:`~.metrics.score_table` frame or a list of result records. One
    row per method (per ``run`` and method when the table has a ``run`` column), in
    order of first appearance, with ``n`` (runs), ``n_folds``, ``n_seeds`` and
    ``<metric>_mean`` / ``<metric>_std`` for each metric. NaN values (e.g. forgetting of a
    method without a source) are left out of that metric's mean and std.
    """
    if not isinstance(scores, pd.DataFrame):
        scores = score_table(scores)
    metrics = [m for m in (metrics or METRICS) if m in scores.columns]
    keys = [k for k in ("run", "method") if k in scores.columns]
    if scores.empty:
        cols = keys + ["n", "n_folds", "n_seeds"]
        return pd.DataFrame(columns=cols + [f"{m}_{s}" for m in metrics for s in ("mean", "std")])
    values = scores[metrics].apply(pd.to_numeric, errors="coerce")
    groups = values.groupby([scores[k] for k in keys], sort=False)
    out = groups.agg(["mean", "std"])  # pandas' std is the sample std (ddof=1)
    out.columns = [f"{m}_{stat}" for m, stat in out.columns]
    counts = scores.groupby(keys, sort=False).agg(
        n=("fold", "size"), n_folds=("fold", "nunique"), n_seeds=("seed", "nunique")
    )
    return counts.join(out).reset_index()
