"""Train/test splits of a :class:`FaceDataset`, by subject or by clip.

Every split is a pure function of ``(dataset, seed)``; frames of one clip are always on
the same side. ``loso`` and ``group_kfold`` never put a subject on both sides;
``holdout_subjects`` carves validation subjects out of a *training* part (for model
selection), so the test fold is never looked at before the final evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

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
    """Leave one subject out: one split per subject, that subject's frames as test."""
    names, sid = _subjects(ds)
    if len(names) < 2:
        raise SplitError(f"leave-one-subject-out needs >= 2 subjects; {ds.corpus} has {names}")
    return [_split(f"loso-{s}", sid == i) for i, s in enumerate(names)]


def group_kfold(ds: FaceDataset, k: int, seed: int = 0) -> list[Split]:
    """``k`` folds of whole subjects, balanced by frame count.

    Subjects are shuffled with ``seed`` (the order in which equal-sized subjects are
    placed), then each, largest first, goes to the fold with the fewest frames so far.
    """
    names, sid = _subjects(ds)
    if k < 2:
        raise SplitError(f"group k-fold needs k >= 2, not {k}")
    if k > len(names):
        raise SplitError(
            f"group k-fold with k={k} needs at least {k} subjects; {ds.corpus} has "
            f"{len(names)} ({', '.join(names)}); use k <= {len(names)} or loso"
        )
    sizes = np.bincount(sid, minlength=len(names))
    order = np.random.default_rng(seed).permutation(len(names))
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of = np.empty(len(names), dtype=np.int64)
    totals = np.zeros(k, dtype=np.int64)
    counts = np.zeros(k, dtype=np.int64)
    for s in order:
        f = int(np.lexsort((np.arange(k), counts, totals))[0])
        fold_of[s] = f
        totals[f] += sizes[s]
        counts[f] += 1
    return [_split(f"fold{f + 1}of{k}", fold_of[sid] == f) for f in range(k)]


def stratified_clips(ds: FaceDataset, test_size: float = 0.2, seed: int = 0) -> list[Split]:
    """One random clip-level split keeping each label's share of clips (subjects may mix).

    Each label with ``n`` clips puts ``round(test_size * n)`` of them in the test part
    (at least one and at most ``n - 1`` when ``n >= 2``).
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
    ``train_idx`` become validation; at least one subject is left to fit on. The result's
    ``train_idx`` is the fit part and ``test_idx`` the validation part.
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
    rng = np.random.default_rng(seed)
    val = {names[i] for i in rng.permutation(len(names))[:n]}
    is_val = pd.Series(groups).isin(val).to_numpy()
    return Split(
        f"holdout-{seed}",
        np.sort(train_idx[~is_val]),
        np.sort(train_idx[is_val]),
    )
