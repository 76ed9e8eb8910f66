"""Split properties (hypothesis) on in-memory datasets of every shape."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pathfer.data.datasets import (
    FaceDataset,
    SplitError,
    group_kfold,
    holdout_subjects,
    loso,
    stratified_clips,
)

LABELS = ["anger", "happiness", "sadness", "neutral"]


@st.composite
def datasets(draw, min_subjects: int = 2) -> FaceDataset:
    """Subjects x clips x frames with random labels and clip lengths."""
    n_subjects = draw(st.integers(min_subjects, 7))
    rows = []
    for s in range(n_subjects):
        n_clips = draw(st.integers(1, 5))
        for c in range(n_clips):
            label = draw(st.sampled_from(LABELS))
            for f in range(draw(st.integers(1, 4))):
                rows.append((f"S{s}/c{c}", f, label, f"S{s}"))
    m = pd.DataFrame(rows, columns=["clip_id", "frame_index", "label", "subject"])
    m["corpus"] = "toy"
    crops = np.zeros((len(m), 8, 8), dtype=np.uint8)
    return FaceDataset(crops, m)


def _toy(subjects: int) -> FaceDataset:
    rows = [(f"S{s}/c{c}", 0, LABELS[c], f"S{s}") for s in range(subjects) for c in range(4)]
    m = pd.DataFrame(rows, columns=["clip_id", "frame_index", "label", "subject"])
    m["corpus"] = "toy"
    return FaceDataset(np.zeros((len(m), 8, 8), np.uint8), m)


def _check_partition(ds: FaceDataset, split) -> None:
    train, test = split.train_idx, split.test_idx
    assert len(np.intersect1d(train, test)) == 0
    assert len(train) + len(test) == len(ds)
    assert len(test) > 0 and len(train) > 0
    clip_ids = ds.clip_ids
    assert not set(clip_ids[train]) & set(clip_ids[test])  # no clip straddles


@settings(max_examples=60, deadline=None)
@given(datasets())
def test_loso(ds: FaceDataset) -> None:
    splits = loso(ds)
    assert len(splits) == len(ds.subjects)
    groups = ds.groups
    tested = np.concatenate([s.test_idx for s in splits])
    assert sorted(tested) == list(range(len(ds)))  # every frame (and clip) tested once
    for s in splits:
        _check_partition(ds, s)
        assert len(set(groups[s.test_idx])) == 1
        assert not set(groups[s.train_idx]) & set(groups[s.test_idx])


@settings(max_examples=80, deadline=None)
@given(datasets(), st.data(), st.integers(0, 2**31))
def test_group_kfold(ds: FaceDataset, data: st.DataObject, seed: int) -> None:
    k = data.draw(st.integers(2, len(ds.subjects)), label="k")
    splits = group_kfold(ds, k, seed)
    assert [s.name for s in splits] == [f"fold{f + 1}of{k}" for f in range(k)]
    groups = ds.groups
    tested = np.concatenate([s.test_idx for s in splits])
    assert sorted(tested) == list(range(len(ds)))  # every frame in exactly one test fold
    for s in splits:
        _check_partition(ds, s)
        assert not set(groups[s.train_idx]) & set(groups[s.test_idx])  # no subject straddles
    again = group_kfold(ds, k, seed)  # a pure function of (dataset, seed)
    assert all(np.array_equal(a.test_idx, b.test_idx) for a, b in zip(splits, again, strict=True))
    shuffled = FaceDataset(ds.crops, ds.manifest.iloc[::-1].reset_index(drop=True))
    names = [sorted(set(shuffled.clip_ids[s.test_idx])) for s in group_kfold(shuffled, k, seed)]
    assert names == [sorted(set(ds.clip_ids[s.test_idx])) for s in splits]  # row order is moot


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 7), st.integers(2, 4), st.integers(0, 2**31))
def test_group_kfold_balances_classes_across_folds(per_class: int, k: int, seed: int) -> None:
    """Subjects who each show one emotion only: every fold gets its share of each class
    (a split by subject sizes alone would not)."""
    assume(per_class >= k)
    rows = []
    for label in ("anger", "happiness"):
        for s in range(per_class):
            rows += [(f"{label}{s}/c{c}", 0, label, f"{label}{s}") for c in range(3)]
    m = pd.DataFrame(rows, columns=["clip_id", "frame_index", "label", "subject"])
    m["corpus"] = "toy"
    ds = FaceDataset(np.zeros((len(m), 8, 8), np.uint8), m)
    for split in group_kfold(ds, k, seed):
        subjects = set(ds.groups[split.test_idx])
        share = {lab: sum(s.startswith(lab) for s in subjects) for lab in ("anger", "happiness")}
        assert set(share.values()) <= {per_class // k, -(-per_class // k)}, share


def test_group_kfold_needs_k_subjects() -> None:
    ds = _toy(subjects=3)
    with pytest.raises(SplitError, match="k=4 needs at least 4 subjects"):
        group_kfold(ds, 4, 0)
    with pytest.raises(SplitError, match="k >= 2"):
        group_kfold(ds, 1, 0)


@settings(max_examples=60, deadline=None)
@given(datasets(min_subjects=3), st.integers(0, 2**31))
def test_holdout_within_training_part(ds: FaceDataset, seed: int) -> None:
    outer = loso(ds)[0]
    inner = holdout_subjects(ds, outer.train_idx, fraction=0.3, seed=seed)
    groups = ds.groups
    assert not set(groups[inner.train_idx]) & set(groups[inner.test_idx])
    assert sorted(np.concatenate([inner.train_idx, inner.test_idx])) == sorted(outer.train_idx)
    assert not set(inner.test_idx) & set(outer.test_idx)  # the test fold stays unseen
    again = holdout_subjects(ds, outer.train_idx, fraction=0.3, seed=seed)
    assert np.array_equal(inner.test_idx, again.test_idx)


def test_split_errors() -> None:
    m = pd.DataFrame(
        {
            "clip_id": ["a", "b"],
            "frame_index": [0, 0],
            "label": ["anger", "happiness"],
            "subject": ["s1", "s1"],
            "corpus": ["toy", "toy"],
        }
    )
    ds = FaceDataset(np.zeros((2, 8, 8), np.uint8), m)
    with pytest.raises(SplitError, match=">= 2 subjects"):
        loso(ds)
    with pytest.raises(SplitError, match="k=3 needs at least 3 subjects.*has 1"):
        group_kfold(ds, 3, 0)
    with pytest.raises(SplitError, match="hold-out needs >= 2 subjects"):
        holdout_subjects(ds, np.arange(2))
    with pytest.raises(SplitError, match="test_size"):
        stratified_clips(ds, 1.5, 0)
