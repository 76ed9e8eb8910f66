"""PathNet (Fernando et al. 2017) for transfer between small facial-emotion corpora
(Nguyen et al. 2018). Trains on tensors only; see docs/pathnet.md."""

from .config import EngineSettings, EvolutionConfig, PathNetConfig
from .model import PathNet, PathNetStateError, TaskResult, TaskStatus, stratified_split

__all__ = [
    "EngineSettings",
    "EvolutionConfig",
    "PathNet",
    "PathNetConfig",
    "PathNetStateError",
    "TaskResult",
    "TaskStatus",
    "stratified_split",
]
