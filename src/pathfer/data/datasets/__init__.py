"""Prepared face datasets: the preparation pipeline, its cache, loading, and splits."""

from pathfer.data.datasets.cache import (
    PIPELINE_VERSION,
    PrepareError,
    PrepareReport,
    cache_key,
    cache_path,
    default_cache_root,
    is_complete,
)
from pathfer.data.datasets.dataset import DatasetError, FaceDataset, concat
from pathfer.data.datasets.pipeline import corpus_crop, prepare_corpus
from pathfer.data.datasets.splits import (
    Split,
    SplitError,
    group_kfold,
    holdout_subjects,
    loso,
    stratified_clips,
)

__all__ = [
    "PIPELINE_VERSION",
    "DatasetError",
    "FaceDataset",
    "PrepareError",
    "PrepareReport",
    "Split",
    "SplitError",
    "cache_key",
    "cache_path",
    "concat",
    "default_cache_root",
    "group_kfold",
    "holdout_subjects",
    "is_complete",
    "loso",
    "corpus_crop",
    "prepare_corpus",
    "stratified_clips",
]
