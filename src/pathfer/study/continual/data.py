"""A chain's corpora, prepared once (cached as experiments are) in the start model's crop,
each cut into fit, validation and test subjects as an experiment's fold is cut."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pathfer.data.faces import CropSettings
from pathfer.study.continual.config import ChainConfig
from pathfer.study.experiments.config import CorpusRef, ExperimentConfig, config_from_dict
from pathfer.study.experiments.methods.base import TaskData
from pathfer.study.experiments.plan import View, fold_task, make_plan
from pathfer.study.learn import PLAIN_METHOD, prepared_crop
from pathfer.use.learn import preparation_for
from pathfer.use.model_file import TASK_NAME


@dataclass
class ChainCorpus:
    """One corpus of the chain, prepared: where its frames are and how a task is cut."""

    name: str
    view: View
    #: the single-corpus experiment config that prepared it (its split cuts the fold)
    config: ExperimentConfig
    #: the crop its frames have (the start model's geometry, with the detector the corpus
    #: was prepared with: the default, or its spec's own)
    crop: CropSettings

    def task(self, cfg: ChainConfig) -> TaskData:
        """Fit / validation / test parts: test = fold ``split.fold`` of the corpus."""
        ds = self.view.load()
        from pathfer.data.datasets.splits import group_kfold

        split = group_kfold(ds, cfg.split.k, seed=0)[cfg.split.fold]
        task = fold_task(self.view, split, self.config, cfg.seed)
        task.name = self.name
        return task


def prepare_chain(
    cfg: ChainConfig, crop: CropSettings, log: Callable[[str], None] = print
) -> list[ChainCorpus]:
    """Prepare (or find in the cache) every corpus of the chain in ``crop``."""
    out = []
    for ref in cfg.chain:
        exp = _corpus_config(cfg, ref, crop)
        plan = make_plan(exp, log)
        view = plan.target_for(PLAIN_METHOD)
        if len(set(view.load().groups)) < cfg.split.k:
            raise ValueError(
                f"{ref.corpus}: has fewer subjects than split.k ({cfg.split.k}); lower split.k"
            )
        scan = _scan(ref)  # its name (a spec's name:) names the task
        if not TASK_NAME.match(scan.name):
            raise ValueError(
                f"{ref.corpus}: its name {scan.name!r} cannot name a task; "
                "give the spec a name: of letters, digits, '_' and '-'"
            )
        out.append(ChainCorpus(scan.name, view, exp, prepared_crop(exp, scan)))
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise ValueError(
            f"chain: corpora with the same name ({', '.join(names)}); give specs "
            "with distinct name: keys"
        )
    return out


def _corpus_config(cfg: ChainConfig, ref: CorpusRef, crop: CropSettings) -> ExperimentConfig:
    return config_from_dict(
        {
            "name": "chain",
            "kind": "single",
            "target": {"corpus": ref.corpus, "path": ref.path},
            "labels": cfg.labels,
            "methods": [PLAIN_METHOD],
            "seeds": [cfg.seed],
            "cache": cfg.cache,
            "split": {
                "kind": "group_kfold",
                "k": cfg.split.k,
                "val_fraction": cfg.split.val_fraction,
            },
            "preparation": preparation_for(crop),
            "pathnet": {"input_size": crop.size},
        }
    )


def _scan(ref: CorpusRef):
    from pathfer.data.corpora import scan_target

    return scan_target(ref.corpus, ref.path)


__all__ = ["ChainCorpus", "prepare_chain"]
