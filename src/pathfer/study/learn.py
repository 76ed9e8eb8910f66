"""The data of ``pathfer learn``: a corpus (name and folder, or a YAML corpus spec) or an
experiment config, prepared in the model's crop (cached as experiments are) and cut into
fit and validation subjects as experiments cut a training part
(:func:`~pathfer.study.experiments.plan.validation_cut`: whole subjects held out)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pathfer.data.corpora import is_spec
from pathfer.data.faces import CropSettings
from pathfer.models.pathnet import EvolutionConfig
from pathfer.models.pathnet.pretrained import cap_evolution
from pathfer.models.pathnet.recipes import get_recipe
from pathfer.study.experiments.config import ConfigError, ExperimentConfig, config_from_dict
from pathfer.study.experiments.plan import make_plan, validation_cut
from pathfer.use.learn import CROP_KIND, LearnData, preparation_for, recipe_for
from pathfer.use.model_file import ModelFileError, MultiTaskModel

#: a method whose crop is the experiment's preparation (no registered crop of its own)
PLAIN_METHOD = "pathnet_target"


def is_experiment_config(data: Sequence[str]) -> bool:
    """One YAML file with a ``target:`` key: an experiment config (else a corpus spec)."""
    if len(data) != 1 or not is_spec(data[0]) or not Path(data[0]).is_file():
        return False
    try:
        raw = yaml.safe_load(Path(data[0]).read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(raw, dict) and "target" in raw


def learn_config(
    data: Sequence[str], model: MultiTaskModel, cache: str, seed: int = 0
) -> tuple[ExperimentConfig, ExperimentConfig | None]:
    """``(plan, given)``: a ``single`` config that prepares only the target of ``data`` in
    the model's crop, and the experiment config ``data`` names (None for a corpus; its
    preparation must give the model's crop)."""
    crop = model.module_crop
    given = None
    if is_experiment_config(data):
        from pathfer.study.experiments.config import load_config

        given = load_config(data[0])
        prep = given.preparation
        mine = {k: getattr(prep, k) for k in CROP_KIND}
        want = {k: getattr(crop, k) for k in CROP_KIND}
        if mine != want:
            raise ModelFileError(
                f"{data[0]}: preparation crop {mine} differs from the crop the model's modules "
                f"take {want}: set preparation: to it"
            )
        assert given.target is not None
        target = {"corpus": given.target.corpus, "path": given.target.path}
        base = given.to_dict()
        extra = {k: base[k] for k in ("labels", "cache", "split", "workers", "executor")}
        prep_dict = base["preparation"]
    elif not data or len(data) > 2:
        raise ConfigError(
            "DATA is a corpus name and its folder (savee /data/SAVEE), a corpus spec (.yaml) "
            "or an experiment config (.yaml)"
        )
    else:
        target = {"corpus": data[0], "path": data[1] if len(data) > 1 else None}
        extra = {"labels": "all", "cache": cache}
        prep_dict = preparation_for(crop)
    plan = config_from_dict(
        {
            "name": "learn",
            "kind": "single",
            "target": target,
            "methods": [PLAIN_METHOD],
            "seeds": [seed],
            **extra,
            "preparation": prep_dict,
            "pathnet": {"input_size": crop.size},
        }
    )
    return plan, given


def learn_data(
    data: Sequence[str],
    model: MultiTaskModel,
    *,
    cache: str = "pathfer_cache",
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> tuple[LearnData, ExperimentConfig]:
    """Prepare ``data`` (cached) in the model's crop and cut validation subjects from it."""
    cfg, given = learn_config(data, model, cache, seed)
    plan = make_plan(cfg, log)
    view = plan.target_for(PLAIN_METHOD)
    ds = view.load()
    cut = validation_cut(ds, np.arange(len(ds)), cfg.split.val_fraction, seed)
    x_fit, y_fit = ds.tensors(cut.train_idx)
    x_val, y_val = ds.tensors(cut.test_idx)
    crop = prepared_crop(cfg)
    provenance: dict[str, Any] = {
        "corpus": view.name,
        "corpus_path": cfg.target.path if cfg.target else None,
        "subjects_fit": sorted({str(s) for s in ds.groups[cut.train_idx]}),
        "subjects_val": sorted({str(s) for s in ds.groups[cut.test_idx]}),
    }
    if given is not None:
        provenance["experiment"] = str(data[0])
    return LearnData(x_fit, y_fit, x_val, y_val, list(view.labels), crop, provenance), given


def prepared_crop(cfg: ExperimentConfig, scan: Any = None) -> CropSettings:
    """The crop a ``single`` config (:func:`learn_config`, a chain's corpus) prepares its
    target with: its preparation's, with the detector the corpus spec names, if any
    (e.g. ``none``). ``scan``: the target already scanned (else it is scanned here)."""
    from pathfer.data.corpora import scan_target
    from pathfer.data.datasets import corpus_crop

    assert cfg.target is not None
    if scan is None:
        scan = scan_target(cfg.target.corpus, cfg.target.path)
    crop = cfg.method_preparation(PLAIN_METHOD).crop_settings()
    return dataclasses.replace(crop, detector=corpus_crop(scan, crop).detector)


def learn_evolution(cfg: ExperimentConfig | None, model: MultiTaskModel) -> EvolutionConfig | None:
    """An experiment config's evolution for the new task: over the mini-Xception's stages
    the ``fer2013`` recipe within the config's budget (as ``pathnet_fer``), else the
    config's; None for a corpus (the model's recipe, :func:`recipe_for`)."""
    if cfg is None:
        return None
    if recipe_for(model) == "fer2013":
        return cap_evolution(get_recipe("fer2013").evolution_config(), cfg.evolution)
    return cfg.evolution


__all__ = ["is_experiment_config", "learn_config", "learn_data", "learn_evolution"]
