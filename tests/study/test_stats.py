"""Paired tests (scipy) and the pairing rules of a report
(within one experiment only; seeds averaged within a fold), against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathfer.study.report import stats as S

# ----------------------------------------------------------------------------- paired tests


def test_wilcoxon_exact_all_positive():
    # n = 5, all differences positive: T- = 0 is the most extreme of 2^5 sign patterns,
    # two-sided p = 2 * 1/32
    w = S.wilcoxon_signed_rank([1, 2, 3, 4, 5])
    assert w["method"] == "exact" and w["statistic"] == 0
    assert w["pvalue"] == pytest.approx(2 / 32)


def test_wilcoxon_exact_one_negative():
    # d = [-1, 2, 3, 4]: T- = 1 (rank of |-1|). Sign patterns with T- <= 1: {} and {1}
    # -> P = 2/16, two-sided p = 4/16
    w = S.wilcoxon_signed_rank([-1, 2, 3, 4])
    assert w["statistic"] == 1
    assert w["pvalue"] == pytest.approx(0.25)


def test_wilcoxon_exact_with_ties_counts_sign_patterns():
    # |d| = 1, 1, 2 have midranks 1.5, 1.5, 3; T+ = 1.5 + 3 = 4.5, T- = 1.5. Of the 8 sign
    # patterns, 3 give T+ >= 4.5 (4.5, 4.5, 6) -> two-sided p = 2 * 3/8
    w = S.wilcoxon_signed_rank([1, -1, 2])
    assert w["method"] == "exact" and w["statistic"] == 1.5
    assert w["pvalue"] == pytest.approx(6 / 8)


def test_wilcoxon_exact_matches_known_n15_case():
    # SciPy's documented example: statistic 24, p = 0.041259765625 (= 1352 / 2^15)
    d = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75]
    w = S.wilcoxon_signed_rank(d)
    assert w["statistic"] == 24 and w["method"] == "exact"
    assert w["pvalue"] == pytest.approx(1352 / 2**15, rel=1e-12)


def test_wilcoxon_drops_zeros_and_float_noise():
    assert S.wilcoxon_signed_rank([0, 1, 2, 3, 4, 5])["pvalue"] == pytest.approx(2 / 32)
    assert S.wilcoxon_signed_rank([0, 0, 0])["pvalue"] == 1.0
    # 0.9 - 0.8 and 0.8 - 0.7 differ in the last bits; they are the same difference (a
    # tie), so the two ranks are 1.5 each: T- = 1.5 of {1.5, 1.5, 3}, p = 6/8 as above
    w = S.wilcoxon_signed_rank([0.9 - 0.8, -(0.8 - 0.7), 0.2])
    assert w["pvalue"] == pytest.approx(6 / 8)


def test_wilcoxon_normal_approximation_beyond_the_exact_limits():
    # untied: exact up to 50 pairs; d = +-1..+-60 with 1..20 negative: T+ = 1830 - 210,
    # E = 915, Var = 60*61*121/24 (no ties), z = 705 / sqrt(Var)
    d = np.arange(1, 61, dtype=float)
    d[:20] *= -1
    w = S.wilcoxon_signed_rank(d)
    z = 705 / math.sqrt(60 * 61 * 121 / 24)
    assert w["method"] == "normal" and w["statistic"] == 210
    assert w["pvalue"] == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    # tied: exact up to 13 pairs; 14 pairs with ties use the tie-corrected normal
    tied = [1.0] * 7 + [-2.0] * 7  # ranks: 1..7 -> 4, 8..14 -> 11; T+ = 28, T- = 77
    w = S.wilcoxon_signed_rank(tied)
    var = 14 * 15 * 29 / 24 - 2 * (7**3 - 7) / 48
    z = (28 - 52.5) / math.sqrt(var)
    assert w["method"] == "normal" and w["statistic"] == 28
    assert w["pvalue"] == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-9)
    assert S.wilcoxon_signed_rank(tied[1:])["method"] == "exact"  # 13 pairs


def test_paired_t_known_cases():
    # d = [1, 2, 3]: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 2 sqrt 3, df = 2.
    # t_2 CDF is 1/2 + t / (2 sqrt(2 + t^2)) -> two-sided p = 1 - t / sqrt(2 + t^2)
    t = 2 * math.sqrt(3)
    r = S.paired_test([2, 3, 4], [1, 1, 1])
    assert r["n"] == 3 and r["mean_diff"] == pytest.approx(2.0)
    assert r["t_stat"] == pytest.approx(t)
    assert r["t_pvalue"] == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-10)
    # two pairs get no test (n < 3): two nearly equal differences would give t's p ~ 1e-16
    r = S.paired_test([0.5, 0.6], [0.3, 0.4 + 1e-12])
    assert r["n"] == 2 and r["mean_diff"] == pytest.approx(0.2)
    for key in ("t_stat", "t_pvalue", "wilcoxon_stat", "wilcoxon_pvalue"):
        assert math.isnan(r[key]), key
    assert r["wilcoxon_method"] == "–"


def test_paired_test_mapping_pairs_on_common_keys_and_edge_cases():
    a = {("f0", 0): 0.9, ("f1", 0): 0.8, ("f2", 0): 0.7, ("f3", 0): 0.5}
    b = {("f0", 0): 0.8, ("f1", 0): 0.7, ("f2", 0): 0.5}
    r = S.paired_test(a, b)
    assert r["n"] == 3
    assert r["mean_diff"] == pytest.approx((0.1 + 0.1 + 0.2) / 3)
    const = S.paired_test([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])  # constant difference 0.5
    assert const["t_pvalue"] == 0.0 and const["t_stat"] == math.inf
    same = S.paired_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same["t_pvalue"] == 1.0 and same["wilcoxon_pvalue"] == 1.0
    one = S.paired_test([1.0], [0.0])
    assert one["n"] == 1 and math.isnan(one["t_pvalue"])
    with pytest.raises(ValueError, match="differ in length"):
        S.paired_test([1.0, 2.0], [1.0])


def _scores(rows):
    return pd.DataFrame(rows, columns=["run", "method", "fold", "seed", "clip_acc"])


def test_seeds_are_averaged_within_a_fold_before_testing():
    # 2 folds x 3 seeds; reference 0.5 everywhere. Method: fold f0 seeds 0.6, 0.7, 0.8
    # (mean 0.7), fold f1 seeds 0.4, 0.6 and seed 2 missing (mean over the common
    # seeds 0.5): two pairs, differences +0.2 and 0.0
    rows = [("E", "ref", f, s, 0.5) for f in ("f0", "f1") for s in (0, 1, 2)]
    rows += [("E", "m", "f0", s, v) for s, v in zip((0, 1, 2), (0.6, 0.7, 0.8), strict=True)]
    rows += [("E", "m", "f1", 0, 0.4), ("E", "m", "f1", 1, 0.6)]
    a, b, seeds = S.fold_means(_scores(rows), "m", "ref", "clip_acc")
    assert a == pytest.approx({"f0": 0.7, "f1": 0.5}) and b == {"f0": 0.5, "f1": 0.5}
    assert seeds == 3
    p = S.compare_within_runs(_scores(rows), {"E": "ref"}, ["clip_acc"])
    (row,) = p.to_dict("records")
    assert row["n"] == 2 and row["n_seeds"] == 3
    assert row["mean_diff"] == pytest.approx(0.1)
    assert math.isnan(row["wilcoxon_pvalue"]) and math.isnan(row["t_pvalue"])  # n < 3


def test_methods_are_paired_only_within_their_experiment():
    # the same fold names in two experiments: pairing across them would find 2 "pairs"
    rows = [("A", "A:ref", f, 0, 0.5) for f in ("f0", "f1")]
    rows += [("A", "A:m", f, 0, 0.6) for f in ("f0", "f1")]
    rows += [("B", "B:ref", f, 0, 0.9) for f in ("f0", "f1")]
    rows += [("B", "only_b", f, 0, 0.1) for f in ("f0", "f1")]
    p = S.compare_within_runs(_scores(rows), {"A": "A:ref", "B": "B:ref"}, ["clip_acc"])
    pairs = set(zip(p["run"], p["method"], p["reference"], strict=True))
    assert pairs == {("A", "A:m", "A:ref"), ("B", "only_b", "B:ref")}
    assert p.set_index("method").loc["only_b", "mean_diff"] == pytest.approx(-0.8)


# ----------------------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-4, 4), min_size=S.MIN_PAIRS, max_size=12))
def test_wilcoxon_exact_pvalue_is_a_count_of_sign_patterns_and_symmetric(d):
    """An exact p-value is k / 2^n (n non-zero differences); flipping signs keeps it."""
    w = S.wilcoxon_signed_rank(d)
    n = sum(1 for x in d if x != 0)
    assert w["n"] == n and w["method"] == "exact"
    k = w["pvalue"] * 2**n
    assert k == pytest.approx(round(k), abs=1e-6)
    assert S.wilcoxon_signed_rank([-x for x in d])["pvalue"] == pytest.approx(w["pvalue"])
