"""A prepared face dataset: crops, one manifest row per frame, labels as class indices."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pathfer.data import emotions
from pathfer.data.datasets.cache import COMPLETE, CROPS, MANIFEST, SETTINGS


class DatasetError(ValueError):
    """Not a usable dataset (e.g. an incomplete cache folder)."""


class FaceDataset:
    """Face crops ``(N, S, S)`` uint8 with a per-frame manifest.

    ``labels`` is the ordered list of class names; ``y[i]`` indexes it. Subsets made with
    :meth:`select` keep ``labels`` (class indices stay comparable); :meth:`restrict` sets
    them to the requested order.
    """

    def __init__(
        self,
        crops: np.ndarray,
        manifest: pd.DataFrame,
        labels: Sequence[str] | None = None,
        path: Path | None = None,
        settings: dict | None = None,
    ) -> None:
        if len(crops) != len(manifest):
            raise DatasetError(f"{len(crops)} crops but {len(manifest)} manifest rows")
        self.crops = crops
        self.manifest = manifest.reset_index(drop=True)
        present = emotions.ordered(self.manifest["label"].unique())
        self.labels: list[str] = list(labels) if labels is not None else present
        missing = set(present) - set(self.labels)
        if missing:
            raise DatasetError(f"labels {sorted(missing)} occur in the data but not in labels")
        index = {name: i for i, name in enumerate(self.labels)}
        self.y = self.manifest["label"].map(index).to_numpy(dtype=np.int64)
        self.path = path
        self.settings = settings or {}

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path, mmap: bool = True) -> FaceDataset:
        """Open a prepared cache folder (as written by ``prepare_corpus``)."""
        path = Path(path)
        if not path.is_dir():
            raise DatasetError(f"{path}: no such dataset folder; run `pathfer prepare` first")
        if not (path / COMPLETE).is_file():
            raise DatasetError(
                f"{path}: not a complete prepared dataset (no {COMPLETE} marker): the "
                "preparation was interrupted or is still running; run the same "
                "`pathfer prepare` command again to finish it"
            )
        try:
            manifest = pd.read_parquet(path / MANIFEST)
            crops = np.load(path / CROPS, mmap_mode="r" if mmap else None)
            settings = json.loads((path / SETTINGS).read_text())
        except (OSError, ValueError) as exc:
            raise DatasetError(
                f"{path}: damaged dataset ({exc}); delete it and prepare again"
            ) from None
        return cls(crops, manifest, path=path, settings=settings)

    # ---------------------------------------------------------------- properties
    def __len__(self) -> int:
        return len(self.manifest)

    def __repr__(self) -> str:
        return (
            f"FaceDataset({self.corpus!r}, frames={len(self)}, clips={self.n_clips}, "
            f"subjects={len(self.subjects)}, labels={self.labels})"
        )

    @property
    def size(self) -> int:
        return int(self.crops.shape[-1])

    @property
    def corpus(self) -> str:
        names = list(dict.fromkeys(self.manifest["corpus"]))
        return "+".join(names) if names else str(self.settings.get("corpus", ""))

    @property
    def corpora(self) -> list[str]:
        return list(dict.fromkeys(self.manifest["corpus"]))

    @property
    def subjects(self) -> list[str]:
        """Distinct subjects (``corpus/subject`` when several corpora are mixed)."""
        from pathfer.data.corpora import natural_key

        return sorted(set(self.groups), key=natural_key)

    @property
    def groups(self) -> np.ndarray:
        """Per-frame subject key (``corpus/subject`` when several corpora are mixed)."""
        m = self.manifest
        if m["corpus"].nunique() > 1:
            return (m["corpus"] + "/" + m["subject"]).to_numpy(dtype=object)
        return m["subject"].to_numpy(dtype=object)

    @property
    def clip_ids(self) -> np.ndarray:
        """Per-frame clip key (``corpus/clip_id`` when several corpora are mixed)."""
        m = self.manifest
        if m["corpus"].nunique() > 1:
            return (m["corpus"] + "/" + m["clip_id"]).to_numpy(dtype=object)
        return m["clip_id"].to_numpy(dtype=object)

    @property
    def clip_index(self) -> np.ndarray:
        """Per-frame row into :attr:`clips` (for clip-level voting)."""
        codes, _ = pd.factorize(pd.Series(self.clip_ids), sort=False)
        return codes.astype(np.int64)

    @property
    def clips(self) -> pd.DataFrame:
        """One row per clip (in order of first frame): clip key, label, y, subject, corpus."""
        keys = self.clip_ids
        first = pd.Series(np.arange(len(keys))).groupby(keys, sort=False).first().to_numpy()
        m = self.manifest.iloc[first]
        return pd.DataFrame(
            {
                "clip": keys[first],
                "label": m["label"].to_numpy(),
                "y": self.y[first],
                "subject": self.groups[first],
                "corpus": m["corpus"].to_numpy(),
                "n_frames": np.bincount(self.clip_index, minlength=len(first)),
            }
        )

    @property
    def n_clips(self) -> int:
        return int(pd.Series(self.clip_ids).nunique())

    # ------------------------------------------------------------------ subsets
    def select(self, idx_or_mask: Any) -> FaceDataset:
        """Frames by index array or boolean mask; labels (class order) are kept."""
        sel = np.asarray(idx_or_mask)
        if sel.dtype == bool:
            if len(sel) != len(self):
                raise DatasetError(f"mask has {len(sel)} entries for {len(self)} frames")
            sel = np.flatnonzero(sel)
        sel = sel.astype(np.int64)
        return FaceDataset(
            np.asarray(self.crops[sel]),
            self.manifest.iloc[sel],
            labels=self.labels,
            path=self.path,
            settings=self.settings,
        )

    def restrict(self, labels: Iterable[str]) -> FaceDataset:
        """Only frames with these labels; ``labels`` becomes exactly this order."""
        order = [emotions.canonical(x) for x in labels]
        if len(set(order)) != len(order):
            raise DatasetError(f"duplicate labels in {order}")
        absent = [x for x in order if x not in set(self.manifest["label"])]
        if len(absent) == len(order):
            raise DatasetError(
                f"none of {order} occur in {self.corpus} (it has {', '.join(self.labels)})"
            )
        mask = self.manifest["label"].isin(order).to_numpy()
        sel = np.flatnonzero(mask)
        return FaceDataset(
            np.asarray(self.crops[sel]),
            self.manifest.iloc[sel],
            labels=order,
            path=self.path,
            settings=self.settings,
        )

    def tensors(self, idx: Any = None):
        """``(x, y)``: float32 ``(B, 1, S, S)`` in [0, 1] and int64 class indices (torch)."""
        import torch

        if idx is None:
            crops, y = np.asarray(self.crops), self.y
        else:
            sel = np.asarray(idx)
            if sel.dtype == bool:
                sel = np.flatnonzero(sel)
            crops, y = np.asarray(self.crops[sel]), self.y[sel]
        x = torch.from_numpy(crops.astype(np.float32) / 255.0).unsqueeze(1)
        return x, torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))


def concat(datasets: Sequence[FaceDataset], labels: Sequence[str] | None = None) -> FaceDataset:
    """Stack datasets (same crop size); labels default to the union in canonical order."""
    if not datasets:
        raise DatasetError("concat needs at least one dataset")
    sizes = {d.size for d in datasets}
    if len(sizes) > 1:
        raise DatasetError(f"cannot concat datasets with different crop sizes {sorted(sizes)}")
    if labels is None:
        labels = emotions.ordered(x for d in datasets for x in d.labels)
    crops = np.concatenate([np.asarray(d.crops) for d in datasets])
    manifest = pd.concat([d.manifest for d in datasets], ignore_index=True)
    return FaceDataset(crops, manifest, labels=labels)
