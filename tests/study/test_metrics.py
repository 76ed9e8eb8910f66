"""Metrics checked against hand-computed cases and properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathfer.study.report import metrics as M

# ----------------------------------------------------------------------------- hand cases

# 3 classes, unbalanced: 4 x class 0, 2 x class 1, 2 x class 2
Y3 = [0, 0, 0, 0, 1, 1, 2, 2]
P3 = [0, 0, 0, 0, 0, 1, 0, 2]


def test_accuracy_and_uar_differ_on_unbalanced_hand_case():
    # correct: 4 (class 0) + 1 (class 1) + 1 (class 2) = 6 of 8
    assert M.accuracy(Y3, P3) == pytest.approx(6 / 8)
    # recalls: class 0 = 4/4, class 1 = 1/2, class 2 = 1/2 -> mean = 2/3
    assert M.uar(Y3, P3, 3) == pytest.approx(2 / 3)


def test_confusion_hand_case():
    cm = M.confusion(Y3, P3, 3)
    expected = np.array([[4, 0, 0], [1, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64


def test_uar_skips_classes_absent_from_truth():
    # class 2 never occurs in y (it is only predicted): recalls 1/2 (class 0), 2/2 (class 1)
    assert M.uar([0, 0, 1, 1], [0, 2, 1, 1], 3) == pytest.approx(0.75)


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


# ----------------------------------------------------------------------------- paired tests


def test_wilcoxon_exact_all_positive():
    # n = 5, all differences positive: T- = 0 is the most extreme of 2^5 sign patterns,
    # two-sided p = 2 * 1/32
    w = M.wilcoxon_signed_rank([1, 2, 3, 4, 5])
    assert w["method"] == "exact" and w["statistic"] == 0
    assert w["pvalue"] == pytest.approx(2 / 32)


def test_wilcoxon_exact_one_negative():
    # d = [-1, 2, 3, 4]: T- = 1 (rank of |-1|). Sign patterns with T- <= 1: {} and {1}
    # -> P = 2/16, two-sided p = 4/16
    w = M.wilcoxon_signed_rank([-1, 2, 3, 4])
    assert w["statistic"] == 1
    assert w["pvalue"] == pytest.approx(0.25)


def test_wilcoxon_exact_matches_known_n15_case():
    # SciPy's documented example: statistic 24, p = 0.041259765625 (= 1352 / 2^15)
    d = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75]
    w = M.wilcoxon_signed_rank(d)
    assert w["statistic"] == 24
    assert w["pvalue"] == pytest.approx(1352 / 2**15, rel=1e-12)


def test_wilcoxon_drops_zeros_and_handles_all_zero():
    assert M.wilcoxon_signed_rank([0, 1, 2, 3, 4, 5])["pvalue"] == pytest.approx(2 / 32)
    assert M.wilcoxon_signed_rank([0, 0, 0])["pvalue"] == 1.0


def test_wilcoxon_normal_approximation_above_20():
    # d = +-1..+-25 with 1..5 negative: T+ = 325 - 15 = 310, E = 162.5,
    # Var = 25*26*51/24 = 1381.25 (no ties), z = 147.5 / sqrt(1381.25)
    d = np.arange(1, 26, dtype=float)
    d[:5] *= -1
    w = M.wilcoxon_signed_rank(d)
    z = 147.5 / math.sqrt(1381.25)
    assert w["method"] == "normal"
    assert w["pvalue"] == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)


def test_paired_t_known_cases():
    # d = [1, 2, 3]: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 2 sqrt 3, df = 2.
    # t_2 CDF is 1/2 + t / (2 sqrt(2 + t^2)) -> two-sided p = 1 - t / sqrt(2 + t^2)
    t = 2 * math.sqrt(3)
    r = M.paired_test([2, 3, 4], [1, 1, 1])
    assert r["n"] == 3 and r["mean_diff"] == pytest.approx(2.0)
    assert r["t_stat"] == pytest.approx(t)
    assert r["t_pvalue"] == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-10)
    # d = [1, 3]: mean 2, sd sqrt 2, t = 2, df = 1 (Cauchy): p = 1 - (2/pi) atan(2)
    r = M.paired_test([1, 3], [0, 0])
    assert r["t_pvalue"] == pytest.approx(1 - 2 / math.pi * math.atan(2), rel=1e-10)


def test_t_distribution_table_value():
    # two-sided 5 % critical value of t with 10 df is 2.228138852
    assert M.t_sf_two_sided(2.228138852, 10) == pytest.approx(0.05, abs=1e-8)
    assert M.t_cdf(0.0, 7) == pytest.approx(0.5)
    assert M.t_cdf(-2.228138852, 10) == pytest.approx(0.025, abs=1e-8)


def test_paired_test_mapping_pairs_on_common_keys_and_edge_cases():
    a = {("f0", 0): 0.9, ("f1", 0): 0.8, ("f2", 0): 0.7, ("f3", 0): 0.5}
    b = {("f0", 0): 0.8, ("f1", 0): 0.7, ("f2", 0): 0.5}
    r = M.paired_test(a, b)
    assert r["n"] == 3
    assert r["mean_diff"] == pytest.approx((0.1 + 0.1 + 0.2) / 3)
    const = M.paired_test([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])  # constant difference 0.5
    assert const["t_pvalue"] == 0.0
    same = M.paired_test([1.0, 2.0], [1.0, 2.0])
    assert same["t_pvalue"] == 1.0 and same["wilcoxon_pvalue"] == 1.0
    with pytest.raises(ValueError):
        M.paired_test([1.0, 2.0], [1.0])


# ----------------------------------------------------------------------------- curves

CURVE = [
    {"time_s": 10.0, "step": 1, "val_acc": 0.3},
    {"time_s": 20.0, "step": 2, "val_acc": 0.55},
    {"time_s": 30.0, "step": 3, "val_acc": 0.5},
    {"time_s": 40.0, "step": 4, "val_acc": 0.7},
]


def test_time_to_accuracy_and_accuracy_at():
    assert M.time_to_accuracy(CURVE, 0.5) == 20.0
    assert M.time_to_accuracy(CURVE, 0.7) == 40.0
    assert M.time_to_accuracy(CURVE, 0.9) is None
    assert M.time_to_accuracy([], 0.1) is None
    assert M.accuracy_at(CURVE, 35.0) == 0.5
    assert M.accuracy_at(CURVE, 20.0) == 0.55
    assert math.isnan(M.accuracy_at(CURVE, 5.0))


def test_equal_budget_hand_case():
    fast = [{"time_s": 5.0, "val_acc": 0.6}, {"time_s": 15.0, "val_acc": 0.8}]
    recs = [
        {"method": "slow", "extra": {"learning_curve": CURVE}},
        {"method": "fast", "extra": {"learning_curve": fast}},
        {"method": "fast", "extra": {"learning_curve": [{"time_s": 12.0, "val_acc": 0.4}]}},
        {"method": "nocurve", "extra": {}},
    ]
    t = M.equal_budget(recs, 12.0).set_index("method")
    assert set(t.index) == {"slow", "fast"}
    assert t.loc["slow", "acc_mean"] == pytest.approx(0.3)
    assert t.loc["fast", "acc_mean"] == pytest.approx((0.6 + 0.4) / 2)
    assert t.loc["fast", "n"] == 2 and t.loc["fast", "n_at_budget"] == 2
    # default budget: earliest end of any curve = 12 s
    assert M.common_budget(recs) == 12.0
    t = M.equal_budget(recs, 7.0).set_index("method")
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
    assert M.uar(y, pred, n_classes) == pytest.approx(M.accuracy(y, pred))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n_classes=st.integers(1, 5), n=st.integers(1, 40))
def test_uar_in_unit_interval(data, n_classes, n):
    y = data.draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n))
    pred = data.draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n))
    u = M.uar(y, pred, n_classes)
    assert 0.0 <= u <= 1.0
    assert M.confusion(y, pred, n_classes).sum() == n


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


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=14))
def test_wilcoxon_exact_pvalue_in_unit_interval_and_symmetric(d):
    p = M.wilcoxon_signed_rank(d)["pvalue"]
    assert 0.0 <= p <= 1.0
    assert M.wilcoxon_signed_rank([-x for x in d])["pvalue"] == pytest.approx(p)
