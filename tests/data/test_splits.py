"""Split properties (hypothesis) on in-memory datasets of every shape."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
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


@settings(max_examples=60, deadline=None)
@given(datasets(), st.integers(2, 7), st.integers(0, 2**31))
def test_group_kfold(ds: FaceDataset, k: int, seed: int) -> None:
    n_subj = len(ds.subjects)
    if k > n_subj:
        with pytest.raises(SplitError, match=f"k={k} needs at least {k} subjects"):
            group_kfold(ds, k, seed)
        return
    splits = group_kfold(ds, k, seed)
    assert len(splits) == k
    groups = ds.groups
    tested = np.concatenate([s.test_idx for s in splits])
    assert sorted(tested) == list(range(len(ds)))
    for s in splits:
        _check_partition(ds, s)
        assert not set(groups[s.train_idx]) & set(groups[s.test_idx])
    # balanced: greedy largest-first keeps folds within one subject's size of each other
    sizes = [len(s.test_idx) for s in splits]
    biggest = pd.Series(groups).value_counts().max()
    assert max(sizes) - min(sizes) <= biggest
    again = group_kfold(ds, k, seed)
    assert all(np.array_equal(a.test_idx, b.test_idx) for a, b in zip(splits, again, strict=True))


@settings(max_examples=60, deadline=None)
@given(datasets(), st.sampled_from([0.2, 0.25, 0.5]), st.integers(0, 2**31))
def test_stratified_clips(ds: FaceDataset, test_size: float, seed: int) -> None:
    clips = ds.clips
    if len(clips) < 2 or all((clips["y"] == y).sum() < 2 for y in clips["y"].unique()):
        return
    [split] = stratified_clips(ds, test_size, seed)
    _check_partition(ds, split)
    test_clips = set(ds.clip_ids[split.test_idx])
    for y, n in clips["y"].value_counts().items():
        in_test = sum(1 for c in clips["clip"][clips["y"] == y] if c in test_clips)
        if n >= 2:
            assert 1 <= in_test <= n - 1
            assert abs(in_test - test_size * n) <= 1  # class proportions kept (rounding)
    [again] = stratified_clips(ds, test_size, seed)
    assert np.array_equal(split.test_idx, again.test_idx)


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
