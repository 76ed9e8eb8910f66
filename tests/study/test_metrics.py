"""Scores (scikit-learn) and learning curves, checked against hand-computed cases and
properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathfer.study.report import curves as C
from pathfer.study.report import metrics as M

# ----------------------------------------------------------------------------- hand cases

# 3 classes, unbalanced: 4 x class 0, 2 x class 1, 2 x class 2
Y3 = [0, 0, 0, 0, 1, 1, 2, 2]
P3 = [0, 0, 0, 0, 0, 1, 0, 2]


def test_accuracy_and_uar_differ_on_unbalanced_hand_case():
    # correct: 4 (class 0) + 1 (class 1) + 1 (class 2) = 6 of 8
    assert M.accuracy(Y3, P3) == pytest.approx(6 / 8)
    # recalls: class 0 = 4/4, class 1 = 1/2, class 2 = 1/2 -> mean = 2/3
    assert M.uar(Y3, P3) == pytest.approx(2 / 3)


def test_confusion_hand_case():
    cm = M.confusion(Y3, P3, 3)
    expected = np.array([[4, 0, 0], [1, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64


def test_uar_skips_classes_absent_from_truth():
    # class 2 never occurs in y (it is only predicted): recalls 1/2 (class 0), 2/2 (class 1)
    assert M.uar([0, 0, 1, 1], [0, 2, 1, 1]) == pytest.approx(0.75)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="empty"):
        M.accuracy([], [])
    with pytest.raises(ValueError, match="length"):
        M.accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="outside"):
        M.confusion([0, 3], [0, 1], 3)


def test_clip_level_mean_of_probabilities_hand_case():
    # clip "a" (label 0): frames 0.6/0.4, 0.6/0.4, 0.0/1.0 -> mean 0.4/0.6 -> predicts 1,
    # although a majority vote of frames would say 0. clip "b" (label 1): 0.2/0.8 -> 1.
    y = [0, 1, 0, 0]
    proba = [[0.6, 0.4], [0.2, 0.8], [0.6, 0.4], [0.0, 1.0]]
    ids = ["a", "b", "a", "a"]
    y_clip, p_clip, order = M.clip_level(y, proba, ids)
    assert list(order) == ["a", "b"]
    np.testing.assert_array_equal(y_clip, [0, 1])
    np.testing.assert_allclose(p_clip, [[0.4, 0.6], [0.2, 0.8]])
    rec = {
        "method": "m",
        "fold": 0,
        "seed": 0,
        "labels": ["x", "y"],
        "y_true": y,
        "proba": proba,
        "clip_ids": ids,
        "train_time_s": 2.5,
    }
    s = M.score(rec)
    assert s["frame_acc"] == pytest.approx(3 / 4)  # frame preds 0, 1, 0, 1
    assert s["clip_acc"] == pytest.approx(1 / 2)
    assert s["clip_uar"] == pytest.approx(1 / 2)  # recall 0 (class 0), 1 (class 1)
    assert s["n_clips"] == 2 and s["n_frames"] == 4 and s["train_time_s"] == 2.5
    assert "forgetting" not in s


def test_clip_with_mixed_labels_raises():
    with pytest.raises(ValueError, match="different labels"):
        M.clip_level([0, 1], [[1.0, 0.0], [0.0, 1.0]], ["a", "a"])


def test_score_forgetting_and_validation():
    rec = {
        "method": "m",
        "fold": "f",
        "seed": 1,
        "labels": ["a", "b"],
        "y_true": [0, 1],
        "proba": [[0.9, 0.1], [0.3, 0.7]],
        "clip_ids": ["c1", "c2"],
        "train_time_s": 1.0,
        "extra": {"source_acc_before": 0.8, "source_acc_after": 0.65},
    }
    s = M.score(rec)
    assert s["forgetting"] == pytest.approx(0.15)
    bad = dict(rec, proba=[[0.9, 0.1, 0.0], [0.3, 0.7, 0.0]])
    with pytest.raises(ValueError, match="labels name 2"):
        M.score(bad)


# ----------------------------------------------------------------------------- curves

CURVE = [
    {"time_s": 10.0, "step": 1, "val_acc": 0.3},
    {"time_s": 20.0, "step": 2, "val_acc": 0.55},
    {"time_s": 30.0, "step": 3, "val_acc": 0.5},
    {"time_s": 40.0, "step": 4, "val_acc": 0.7},
]


def test_time_to_accuracy_and_accuracy_at():
    assert C.time_to_accuracy(CURVE, 0.5) == 20.0
    assert C.time_to_accuracy(CURVE, 0.7) == 40.0
    assert C.time_to_accuracy(CURVE, 0.9) is None
    assert C.time_to_accuracy([], 0.1) is None
    assert C.accuracy_at(CURVE, 35.0) == 0.5
    assert C.accuracy_at(CURVE, 20.0) == 0.55
    assert math.isnan(C.accuracy_at(CURVE, 5.0))


def test_equal_budget_hand_case():
    fast = [{"time_s": 5.0, "val_acc": 0.6}, {"time_s": 15.0, "val_acc": 0.8}]
    recs = [
        {"method": "slow", "extra": {"learning_curve": CURVE}},
        {"method": "fast", "extra": {"learning_curve": fast}},
        {"method": "fast", "extra": {"learning_curve": [{"time_s": 12.0, "val_acc": 0.4}]}},
        {"method": "nocurve", "extra": {}},
    ]
    t = C.equal_budget(recs, 12.0).set_index("method")
    assert set(t.index) == {"slow", "fast"}
    assert t.loc["slow", "acc_mean"] == pytest.approx(0.3)
    assert t.loc["fast", "acc_mean"] == pytest.approx((0.6 + 0.4) / 2)
    assert t.loc["fast", "n"] == 2 and t.loc["fast", "n_at_budget"] == 2
    # default budget: earliest end of any curve = 12 s
    assert C.common_budget(recs) == 12.0
    t = C.equal_budget(recs, 7.0).set_index("method")
    assert t.loc["fast", "n_at_budget"] == 1 and math.isnan(t.loc["slow", "acc_mean"])


# ----------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    n_classes=st.integers(2, 6),
    per_class=st.integers(1, 8),
    data=st.data(),
)
def test_uar_equals_accuracy_on_balanced_data(n_classes, per_class, data):
    y = np.repeat(np.arange(n_classes), per_class)
    pred = np.array(
        data.draw(st.lists(st.integers(0, n_classes - 1), min_size=y.size, max_size=y.size))
    )
    assert M.uar(y, pred) == pytest.approx(M.accuracy(y, pred))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n_classes=st.integers(2, 5), n=st.integers(2, 40), times=st.integers(2, 4))
def test_uar_ignores_class_sizes_and_confusion_counts_every_sample(data, n_classes, n, times):
    """Repeating every sample of one class changes its weight in accuracy, never in UAR."""
    y = np.array(data.draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)))
    pred = np.array(data.draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)))
    k = int(y[0])
    extra = np.repeat(np.flatnonzero(y == k), times - 1)
    y2, pred2 = np.concatenate([y, y[extra]]), np.concatenate([pred, pred[extra]])
    assert M.uar(y2, pred2) == pytest.approx(M.uar(y, pred))
    cm = M.confusion(y, pred, n_classes)
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(y, minlength=n_classes))
    np.testing.assert_array_equal(cm.sum(axis=0), np.bincount(pred, minlength=n_classes))
    assert np.trace(cm) == int(np.sum(y == pred))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n_classes=st.integers(2, 5), n=st.integers(1, 30))
def test_one_frame_per_clip_equals_frame_level(data, n_classes, n):
    y = np.array(data.draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)))
    raw = data.draw(
        st.lists(
            st.lists(st.floats(0.01, 1.0), min_size=n_classes, max_size=n_classes),
            min_size=n,
            max_size=n,
        )
    )
    proba = np.array(raw) / np.array(raw).sum(axis=1, keepdims=True)
    ids = [f"clip{i}" for i in range(n)]
    y_clip, p_clip, order = M.clip_level(y, proba, ids)
    np.testing.assert_array_equal(y_clip, y)
    np.testing.assert_allclose(p_clip, proba)
    rec = {"method": "m", "fold": 0, "seed": 0, "y_true": y, "proba": proba, "clip_ids": ids}
    s = M.score(rec)
    assert s["clip_acc"] == s["frame_acc"] and s["clip_uar"] == s["frame_uar"]


def test_uar_checks_class_indices_when_told_the_classes():
    assert M.uar([0, 1, 1], [0, 1, 0], 2) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="outside"):
        M.uar([0, 2], [0, 1], 2)


# ----------------------------------------------------------------------------- summaries


def test_summarize_hand_case():
    df = pd.DataFrame(
        {
            "method": ["a", "a", "a", "b"],
            "fold": [0, 1, 2, 0],
            "seed": [0, 0, 0, 0],
            "clip_acc": [0.5, 0.7, 0.9, 0.4],
            "forgetting": [np.nan, np.nan, np.nan, 0.1],
        }
    )
    s = M.summarize(df).set_index("method")
    assert list(s.index) == ["a", "b"]
    assert s.loc["a", "n"] == 3 and s.loc["a", "n_folds"] == 3
    assert s.loc["a", "clip_acc_mean"] == pytest.approx(0.7)
    # sample std: sqrt(((-0.2)^2 + 0 + 0.2^2) / 2) = 0.2
    assert s.loc["a", "clip_acc_std"] == pytest.approx(0.2)
    assert math.isnan(s.loc["b", "clip_acc_std"])  # one run: no std
    assert math.isnan(s.loc["a", "forgetting_mean"])
    assert s.loc["b", "forgetting_mean"] == pytest.approx(0.1)


def test_summarize_keeps_runs_apart():
    df = pd.DataFrame(
        {
            "run": ["A", "A", "B", "B"],
            "method": ["m", "m", "n", "n"],
            "fold": [0, 1, 0, 1],
            "seed": [0, 0, 0, 0],
            "clip_acc": [0.2, 0.4, 0.6, 1.0],
        }
    )
    s = M.summarize(df)
    assert list(zip(s["run"], s["method"], strict=True)) == [("A", "m"), ("B", "n")]
    assert list(s["clip_acc_mean"]) == pytest.approx([0.3, 0.8])


def test_summarize_takes_result_records_too():
    recs = [
        {
            "method": "m",
            "fold": f,
            "seed": 0,
            "labels": ["a", "b"],
            "y_true": [0, 1],
            "proba": [[0.9, 0.1], [0.9 if f == "f1" else 0.1, 0.9 if f == "f0" else 0.1]],
        }
        for f in ("f0", "f1")
    ]
    s = M.summarize(recs).set_index("method")
    assert s.loc["m", "n"] == 2
    assert s.loc["m", "clip_acc_mean"] == pytest.approx(0.75)  # 1.0 and 0.5


# ----------------------------------------------------------------------------- peak clips


def test_peak_clip_reads_an_onset_to_apex_clip_as_its_apex():
    """Mostly neutral frames ending in anger: the mean says neutral, the peak says anger."""
    labels = ["anger", "happiness", "neutral"]
    onset = [[0.05, 0.05, 0.9]] * 5
    apex = [[0.55, 0.05, 0.4], [0.7, 0.1, 0.2]]  # the last frame is furthest from neutral
    smile = [[0.1, 0.6, 0.3], [0.1, 0.8, 0.1], [0.05, 0.75, 0.2]]
    proba = np.array(onset + apex + smile)
    y = [0] * 7 + [1] * 3
    ids = ["a"] * 7 + ["b"] * 3
    _, mean, _ = M.clip_level(y, proba, ids)
    assert list(np.argmax(mean, axis=1)) == [2, 1]
    _, peak, order = M.clip_level(y, proba, ids, "peak", neutral=2)
    np.testing.assert_array_equal(peak, proba[[6, 8]])
    assert list(order) == ["a", "b"]
    rec = {"method": "m", "fold": "f", "seed": 0, "labels": labels, "y_true": np.array(y)}
    s = M.score({**rec, "proba": proba, "clip_ids": np.array(ids)})
    assert s["clip_acc"] == 0.5 and s["clip_peak_acc"] == 1.0 and s["clip_peak_uar"] == 1.0
    # with no neutral class the peak frame is the one with the highest probability
    _, top, _ = M.clip_level(y, proba, ids, "peak")
    np.testing.assert_array_equal(top, proba[[0, 8]])
    with pytest.raises(ValueError, match="clip score 'max'"):
        M.clip_level(y, proba, ids, "max")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=30),
    st.integers(0, 2**31 - 1),
    st.sampled_from([None, 0, 2]),
)
def test_peak_is_a_frame_of_its_clip_with_the_highest_emotive_score(clip_of, seed, neutral):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(3), size=len(clip_of))
    ids = np.array([f"c{c}" for c in clip_of])
    y = np.zeros(len(ids), dtype=np.int64)
    _, peak, order = M.clip_level(y, proba, ids, "peak", neutral)
    keep = [k for k in range(3) if k != neutral]
    for row, clip in zip(peak, order, strict=True):
        mine = proba[ids == clip]
        assert any(np.array_equal(row, f) for f in mine)  # one of the clip's own frames
        assert row[keep].max() == mine[:, keep].max()
