"""Train/test splits of a :class:`FaceDataset`, by subject or by clip.

Every split is a pure function of ``(dataset, seed)``; frames of one clip are always on
the same side. ``loso`` and ``group_kfold`` never put a subject on both sides (``group_kfold`` is
scikit-learn's ``StratifiedGroupKFold``: whole subjects per fold, classes balanced);
``holdout_subjects`` carves validation subjects out of a *training* part (for model
selection), so the test fold is never looked at before the final evaluation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, LeaveOneGroupOut, StratifiedGroupKFold

from pathfer.data.corpora.base import natural_key
from pathfer.data.datasets.dataset import FaceDataset


class SplitError(ValueError):
    """A split that cannot be made (too few subjects or clips)."""


@dataclass(frozen=True)
class Split:
    """Frame indices into the dataset."""

    name: str
    train_idx: np.ndarray
    test_idx: np.ndarray

    def __repr__(self) -> str:
        return f"Split({self.name!r}, train={len(self.train_idx)}, test={len(self.test_idx)})"


def _subjects(ds: FaceDataset) -> tuple[list[str], np.ndarray]:
    groups = ds.groups
    names = sorted(set(groups), key=natural_key)
    index = {s: i for i, s in enumerate(names)}
    return names, np.array([index[g] for g in groups], dtype=np.int64)


def _split(name: str, test_mask: np.ndarray, universe: np.ndarray | None = None) -> Split:
    if universe is None:
        universe = np.ones(len(test_mask), dtype=bool)
    return Split(
        name,
        np.flatnonzero(universe & ~test_mask).astype(np.int64),
        np.flatnonzero(universe & test_mask).astype(np.int64),
    )


def loso(ds: FaceDataset) -> list[Split]:
    """Leave one subject out (``LeaveOneGroupOut``): one split per subject, in natural order."""
    names, sid = _subjects(ds)
    if len(names) < 2:
        raise SplitError(f"leave-one-subject-out needs >= 2 subjects; {ds.corpus} has {names}")
    # subject codes follow natural order, so LeaveOneGroupOut's sorted groups do too
    return [
        Split(f"loso-{names[sid[test[0]]]}", train.astype(np.int64), test.astype(np.int64))
        for train, test in LeaveOneGroupOut().split(sid, groups=sid)
    ]


def group_kfold(ds: FaceDataset, k: int, seed: int = 0) -> list[Split]:
    """``k`` folds of whole subjects, each fold's clips balanced by class as far as the
    subjects allow (scikit-learn's ``StratifiedGroupKFold``, shuffled with ``seed``).

    The unit balanced is the clip (one sample per clip, grouped by its subject), so a clip's
    frame count does not weigh on the balance. Fold ``i`` is ``fold{i+1}of{k}``.
    """
    names, _ = _subjects(ds)
    if k < 2:
        raise SplitError(f"group k-fold needs k >= 2, not {k}")
    if k > len(names):
        raise SplitError(
            f"group k-fold with k={k} needs at least {k} subjects; {ds.corpus} has "
            f"{len(names)} ({', '.join(names)}); use k <= {len(names)} or loso"
        )
    clips = ds.clips
    y = clips["y"].to_numpy()
    if np.bincount(y).max() < k:
        # scikit-learn refuses when every class has fewer clips than folds; no class can
        # then be in every fold, so the folds are balanced by clip count alone
        y = np.zeros_like(y)
    folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    fold_of_clip = np.full(len(clips), -1, dtype=np.int64)
    with warnings.catch_warnings():
        # "the least populated class has fewer members than n_splits": a class with fewer
        # clips than folds cannot be in every fold; the split is still subject-independent
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        for f, (_, test) in enumerate(folds.split(clips, y, clips["subject"])):
            fold_of_clip[test] = f
    empty = [f + 1 for f in range(k) if not (fold_of_clip == f).any()]
    if empty:  # not seen in property tests; a clear message should it ever happen
        raise SplitError(f"group k-fold left fold(s) {empty} of {k} empty; use fewer folds")
    fold_of = fold_of_clip[ds.clip_index]
    return [_split(f"fold{f + 1}of{k}", fold_of == f) for f in range(k)]


def stratified_clips(ds: FaceDataset, test_size: float = 0.2, seed: int = 0) -> list[Split]:
    """One random clip-level split keeping each label's share of clips (subjects may mix).

    Each label with ``n`` clips puts ``round(test_size * n)`` of them in the test part (at
    least one and at most ``n - 1`` when ``n >= 2``). Hand-written because scikit-learn's
    stratified splitters refuse a class with a single clip; here it stays in training.
    """
    if not 0.0 < test_size < 1.0:
        raise SplitError(f"test_size must be between 0 and 1, not {test_size}")
    clips = ds.clips
    rng = np.random.default_rng(seed)
    test_clip = np.zeros(len(clips), dtype=bool)
    for y in sorted(clips["y"].unique()):
        rows = np.flatnonzero(clips["y"].to_numpy() == y)
        n = len(rows)
        m = int(round(test_size * n))
        if n >= 2:
            m = min(max(m, 1), n - 1)
        test_clip[rng.permutation(rows)[:m]] = True
    if not test_clip.any() or test_clip.all():
        raise SplitError(f"{ds.corpus}: too few clips ({len(clips)}) for a train/test split")
    return [_split(f"stratified-{seed}", test_clip[ds.clip_index])]


def holdout_subjects(
    ds: FaceDataset,
    train_idx: np.ndarray,
    fraction: float = 0.2,
    n: int | None = None,
    seed: int = 0,
) -> Split:
    """Split a training part into fit and validation frames by whole subjects.

    ``n`` subjects (or ``round(fraction * subjects)``, at least 1) of those present in
    ``train_idx``, drawn by scikit-learn's ``GroupShuffleSplit`` with ``seed``, become
    validation; at least one subject is left to fit on. The result's ``train_idx`` is the
    fit part and ``test_idx`` the validation part.
    """
    train_idx = np.asarray(train_idx, dtype=np.int64)
    groups = ds.groups[train_idx]
    names = sorted(set(groups), key=natural_key)
    if len(names) < 2:
        raise SplitError(
            f"a subject hold-out needs >= 2 subjects in the training part; it has {names}"
        )
    if n is None:
        if not 0.0 < fraction < 1.0:
            raise SplitError(f"fraction must be between 0 and 1, not {fraction}")
        n = max(1, int(round(fraction * len(names))))
    if not 1 <= n < len(names):
        raise SplitError(f"cannot hold out {n} of {len(names)} training subjects")
    cut = GroupShuffleSplit(n_splits=1, test_size=n, random_state=seed)
    fit, val = next(cut.split(train_idx, groups=groups))
    return Split(
        f"holdout-{seed}",
        np.sort(train_idx[fit]),
        np.sort(train_idx[val]),
    )
