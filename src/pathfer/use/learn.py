"""Learn one more task onto a multi-task model: evolve its paths through the frozen modules,
finish and freeze the best one, write a new model file. Earlier tasks never change.

The learning is resumable: the whole PathNet is checkpointed after every generation in a
work folder beside the output (``.<out name>.work/<key>``, the key a digest of the model,
the task, the seed and the settings), and the same call resumes from it and reaches the
uninterrupted result exactly (:meth:`PathNet.learn_task`). The folder is removed once the
new model file is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError

from pathfer.data.faces import CropSettings
from pathfer.models.pathnet import EngineSettings, EvolutionConfig, PathNet, TaskStatus
from pathfer.models.pathnet.recipes import get_recipe
from pathfer.models.pathnet.strategies.train_layers import frozen_only_layers
from pathfer.runtime.validation import explain
from pathfer.use.model_file import (
    BUILTIN,
    ModelFileError,
    MultiTaskModel,
    check_task_name,
    load_model,
    save_model,
    task_entry,
    with_free_modules,
)

Progress = Callable[[dict[str, Any]], None]
#: crop settings the frozen modules were trained on: new data must be cropped the same way
CROP_KIND = ("size", "margin", "equalize")


def preparation_for(crop: CropSettings) -> dict[str, Any]:
    """How new data for a model of module crop ``crop`` is prepared: the crop's geometry,
    with the default face detector (an experiment's ``preparation:``). The detector that
    found the faces of the model's first task is not kept: the shipped model's Haar cascade
    found 920 of the 1,348 dev photos where the default found 1,334 (a corpus spec may
    still name its own). A whole-image crop stays one."""
    prep = crop.as_dict()
    if not crop.whole_image:
        prep["detector"] = None
    return prep


@dataclass
class LearnData:
    """A new task's data: fit and validation parts (uint8 ``(N, S, S)`` or float ``(N, 1,
    S, S)``, int labels), class names, the crop it was prepared with and where it came from."""

    x_fit: Any
    y_fit: Any
    x_val: Any
    y_val: Any
    labels: Sequence[str]
    crop: CropSettings
    provenance: dict[str, Any] = field(default_factory=dict)


def recipe_for(model: MultiTaskModel) -> str:
    """The recipe a new task evolves with: ``fer2013`` over the mini-Xception's stages,
    else ``default``."""
    return "fer2013" if model.pathnet.config.backbone == "mini_xception" else "default"


def check_data(model: MultiTaskModel, data: LearnData) -> None:
    """Refuse data the model cannot learn: one class, or another crop than its modules'."""
    y = np.asarray(data.y_fit)
    present = np.unique(y)
    if len(data.labels) < 2 or len(present) < 2:
        raise ModelFileError(
            f"the data has {len(present)} class(es) ({', '.join(map(str, data.labels))}): a task "
            "needs at least two emotions to tell apart"
        )
    theirs = model.module_crop
    # a margin means nothing for images that are faces already (detector none)
    keys = [k for k in CROP_KIND if k != "margin" or not data.crop.whole_image]
    mine = {k: getattr(data.crop, k) for k in keys}
    want = {k: getattr(theirs, k) for k in keys}
    if mine != want or model.pathnet.config.input_size != data.crop.size:
        raise ModelFileError(
            f"the data's crop {mine} differs from the crop the model's modules take {want}: "
            "prepare the data with the model's crop (pathfer learn does so from a corpus)"
        )


def check_train_layers(model: MultiTaskModel, train_layers: Sequence[int] | None) -> None:
    """Refuse ``train_layers`` the model cannot follow (a layer it lacks, or one with no
    frozen module to reuse) before any data is prepared."""
    if train_layers is None:
        return
    try:
        evolution = EvolutionConfig(train_layers=train_layers)
    except ValidationError as e:
        raise ValueError(explain(e, EvolutionConfig)) from None
    frozen_only_layers(model.pathnet, evolution)


def learn_onto(
    model: MultiTaskModel,
    name: str,
    data: LearnData,
    out: str | Path,
    *,
    recipe: str | None = None,
    evolution: EvolutionConfig | None = None,
    engine: EngineSettings | None = None,
    progress: Progress | None = None,
    work_key: str = "",
    refit: bool = True,
    train_layers: Sequence[int] | None = None,
) -> MultiTaskModel:
    """Learn task ``name`` on ``data`` onto ``model`` and write the result to ``out``.

    ``recipe`` (default :func:`recipe_for`) gives the evolution and engine settings;
    ``evolution`` / ``engine`` replace them. ``work_key`` tells apart work folders of
    different data for the same output (the caller's description of the data). ``refit``:
    once validation chose the path and the finish length, the finish reruns on fit +
    validation data (``learn_task(refit=True)``), as experiments do; off, the chosen weights
    are kept. ``train_layers``: the only layers the task may train (``EvolutionConfig``'s;
    elsewhere it reuses frozen modules and adds nothing to the file)."""
    check_task_name(model, name)
    check_train_layers(model, train_layers)
    check_data(model, data)
    model = with_free_modules(model)  # room for the new task's own modules in every layer
    out = Path(out)
    if out.suffix != ".safetensors":
        raise ModelFileError(f"{out}: a model file name must end in .safetensors")
    rec = get_recipe(recipe or recipe_for(model))
    evolution = evolution or rec.evolution_config()
    if train_layers is not None:
        evolution = dataclasses.replace(evolution, train_layers=tuple(train_layers))
    engine = engine or rec.engine_settings()
    seed = model.pathnet.seed
    key = _work_key(model, name, seed, evolution, engine, work_key + (" refit" if refit else ""))
    work = out.parent / f".{out.name}.work" / key
    pn = PathNet.load(work) if (work / "state.json").is_file() else model.pathnet
    # over the mini-Xception's stages the new head starts from the pretrained network's
    # rows of the emotions both have (the first task: fer2013 in builtin)
    head_from = model.names[0] if model.names and rec.name == "fer2013" else None
    trained = name in pn.tasks and pn.status(name) is TaskStatus.TRAINED
    result = (
        pn.result(name)
        if trained
        else pn.learn_task(
            name,
            _images(data.x_fit),
            torch.as_tensor(np.asarray(data.y_fit), dtype=torch.long),
            len(data.labels),
            x_val=_images(data.x_val),
            y_val=torch.as_tensor(np.asarray(data.y_val), dtype=torch.long),
            labels=list(data.labels),
            evolution=evolution,
            engine=engine,
            head_from=head_from,
            progress=progress,
            checkpoint_path=work,
            checkpoint_every=1,
            refit=refit,
        )
    )
    pn.freeze(name)
    provenance = {
        **data.provenance,
        "recipe": rec.name,
        "seed": seed,
        "generations": result.generations,
        "frames_fit": result.n_train,
        "frames_val": result.n_val,
        **({"refit_steps": result.refit_steps, "frames_refit": result.n_refit} if refit else {}),
        **({"train_layers": list(evolution.train_layers)} if evolution.train_layers else {}),
        "date": _today(),
        "pathfer_version": _version(),
    }
    entry = task_entry(
        pn, name, data.crop, val_accuracy=result.final_val_accuracy, provenance=provenance
    )
    new = MultiTaskModel(pn, {**model.tasks, name: entry}, model.module_crop)
    save_model(new, out)
    shutil.rmtree(work, ignore_errors=True)
    if work.parent.is_dir() and not any(work.parent.iterdir()):
        work.parent.rmdir()
    return new


def learn(
    onto: str | Path,
    name: str,
    data: LearnData,
    out: str | Path,
    *,
    seed: int = 0,
    **kwargs: Any,
) -> MultiTaskModel:
    """:func:`learn_onto` a model file (or ``builtin``) read from ``onto``."""
    return learn_onto(load_model(onto, seed=seed), name, data, out, **kwargs)


def _images(x: Any) -> torch.Tensor:
    """``(N, 1, S, S)`` float in [0, 1] (uint8 scaled by 1/255)."""
    t = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    if t.ndim == 3:
        t = t.unsqueeze(1)
    return t.to(torch.float32) / 255.0 if t.dtype == torch.uint8 else t.to(torch.float32)


def _work_key(
    model: MultiTaskModel,
    name: str,
    seed: int,
    evolution: EvolutionConfig,
    engine: EngineSettings,
    data_key: str,
) -> str:
    """A digest of everything a resumed run must share with the interrupted one."""
    base = BUILTIN if model.path is None else hashlib.sha256(model.path.read_bytes()).hexdigest()
    blob = json.dumps(
        [base, name, seed, evolution.as_dict(), engine.as_dict(), data_key],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _today() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _version() -> str:
    import pathfer

    return pathfer.__version__


__all__ = ["LearnData", "check_data", "check_train_layers", "learn", "learn_onto", "recipe_for"]
