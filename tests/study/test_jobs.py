"""Job specs cross process boundaries (a forkserver pool, Ray): they pickle, settings and all."""

from __future__ import annotations

import pickle

import numpy as np

from pathfer.data.datasets.splits import Split
from pathfer.models.pathnet import EvolutionConfig, PathNetConfig
from pathfer.study.experiments.budgets import MethodBudget, TrainBudget
from pathfer.study.experiments.config import config_from_dict
from pathfer.study.experiments.plan import View
from pathfer.study.experiments.runner import FoldJob, SourceJob


def _cfg():
    return config_from_dict(
        {
            "kind": "transfer",
            "target": {"corpus": "enterface", "path": "/data/e"},
            "sources": [{"corpus": "savee", "path": "/data/s"}],
            "methods": ["pathnet_transfer", "finetune"],
            "recipe": "quick",
            "source_evolution": {"generations": 9},
        }
    )


def test_job_specs_round_trip_through_pickle():
    cfg = _cfg()
    view = View("enterface", {"48px": "/cache/e"}, ["anger", "happiness"], np.arange(6), "48px")
    split = Split("fold1of2", np.array([0, 1, 2, 3]), np.array([4, 5]))
    jobs = [
        SourceJob(cfg, "/runs/r", "pathnet", 0, [view]),
        FoldJob(cfg, "/runs/r", "finetune", 1, split, view, [view], n_subjects=2),
    ]
    for job in jobs:
        back = pickle.loads(pickle.dumps(job))
        assert type(back) is type(job)
        assert back.config.to_dict() == cfg.to_dict()
        assert isinstance(back.config.pathnet, PathNetConfig)
        assert isinstance(back.config.source_evolution, EvolutionConfig)
        assert back.config.source_evolution.generations == 9
        assert isinstance(back.config.train, TrainBudget)
        assert isinstance(back.config.budgets["finetune"], MethodBudget)
        assert back.sources[0].paths == view.paths
    fold = pickle.loads(pickle.dumps(jobs[1]))
    np.testing.assert_array_equal(fold.split.test_idx, split.test_idx)
    assert fold.name == "finetune@2subj"
