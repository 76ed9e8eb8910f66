# Over 400 lines: the file format, its checks and the model it rebuilds share one trust rule.
"""Multi-task model files: one PathNet that keeps learning, every task it learnt kept as it was.

A model file is one ``.safetensors`` file (never pickle). Its tensors are

- ``modules.<layer>.<module>.<i>``: the ``i``-th tensor of a *frozen* module (the layer's
  parameters then buffers, :meth:`RowModules.layer_state`); free modules are never stored
  (they restart when a task is learnt, :func:`restart_free_modules`);
- ``heads.<task>.<name>``: each task's head;
- ``stats.<task>.<name>``: a task's own BatchNorm statistics of other tasks' modules
  (``PathNetConfig(frozen_statistics="task")``, conv backbone only).

Its header metadata holds ``"pathfer.use.model": "<version>"`` (the mark) and
``"pathfer.meta"``: a JSON object with ``format_version`` (:mod:`pathfer.runtime.formats`),
``kind: "pathfer.model"``, ``config`` (the :class:`PathNetConfig`), ``owners`` (``(L, M)``:
the task that froze each module, ``""`` for free ones), ``tasks`` (in the order learnt:
name, labels, genotype, crop, validation accuracy, modules trained, provenance),
``pathfer_version`` and ``created``. The trust rules are those of :mod:`pathfer.use.bundle`:
tensors from safetensors, settings from JSON, every shape and name checked before use, and a
file from a newer pathfer refused.

``builtin`` names the shipped FER2013 mini-Xception as a model with one task ``fer2013``
(:func:`~pathfer.models.pathnet.pretrained.from_mini_xception`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save as save_bytes
from torch import nn

import pathfer
from pathfer.data.emotions import canonical
from pathfer.data.faces import CropSettings
from pathfer.models.pathnet import PathNet, PathNetConfig, TaskStatus
from pathfer.models.pathnet.genotype import active_modules, validate_genotype
from pathfer.models.pathnet.optim import HeadOptimizer
from pathfer.models.pathnet.pretrained import PRETRAINED_TASK, from_mini_xception
from pathfer.models.pathnet.tasks import Task
from pathfer.runtime import formats
from pathfer.runtime.files import atomic_write_bytes
from pathfer.use.bundle import (
    MARK_KEY as BUNDLE_MARK,
)
from pathfer.use.bundle import (
    META_KEY,
    Bundle,
    BundleError,
    default_bundle_path,
    load_bundle,
    safetensors_header,
    safetensors_tensors,
    short_error,
)

MARK_KEY = "pathfer.use.model"
KIND = "pathfer.model"
BUILTIN = "builtin"
#: task names: they prefix result columns (``task:label``) and tensor names
TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class ModelFileError(BundleError):
    """A model file that cannot be read, written or learnt onto; the message names the file."""


class ModelFormatError(ModelFileError, formats.FormatError):
    """A model file of a format version this pathfer cannot read (a newer one)."""


@dataclass
class MultiTaskModel:
    """A PathNet whose tasks are all frozen, with what each task's data was.

    ``tasks`` maps each task (in the order learnt) to its metadata: ``labels``, ``crop``
    (:meth:`CropSettings.as_dict`), ``genotype``, ``val_accuracy``, ``trained`` (the
    ``[layer, module]`` it froze) and ``provenance``.
    """

    pathnet: PathNet
    tasks: dict[str, dict[str, Any]]
    #: the crop the modules take (size, margin, equalisation of the first task's data)
    module_crop: CropSettings
    path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.tasks)

    @property
    def default_task(self) -> str:
        """The most recently learnt task."""
        return self.names[-1]

    def resolve(self, task: str | None) -> str:
        """``task`` (None: the default); a one-line error naming the known tasks."""
        if task is None:
            return self.default_task
        if task not in self.tasks:
            raise ModelFileError(
                f"{self.path or BUILTIN}: no task {task!r}; its tasks are {', '.join(self.names)}"
            )
        return task

    def labels(self, task: str | None = None) -> list[str]:
        return list(self.tasks[self.resolve(task)]["labels"])

    def crop(self, task: str | None = None) -> CropSettings:
        return CropSettings.from_dict(self.tasks[self.resolve(task)]["crop"])

    def task_model(self, task: str | None = None) -> nn.Module:
        """The task's path as a plain module (eval mode; logits)."""
        return self.pathnet.task_model(self.resolve(task))

    def as_bundle(self, task: str | None = None) -> Bundle:
        """The task as a loaded single-task :class:`Bundle` (for ONNX export and code that
        takes bundles): its path as a plain module, its labels and crop."""
        name = self.resolve(task)
        meta = {
            "architecture": f"pathnet task {name}",
            "labels": self.labels(name),
            "crop": self.tasks[name]["crop"],
            "task": name,
            "provenance": self.tasks[name].get("provenance", {}),
        }
        return Bundle(self.task_model(name), self.labels(name), self.crop(name), meta, self.path)

    def predict_proba(self, task: str | None, crops: Any) -> np.ndarray:
        """Probabilities ``(N, C)`` of the task for crops (uint8 ``(N, S, S)`` or float
        ``(N, 1, S, S)`` in [0, 1])."""
        x = np.asarray(crops) if not isinstance(crops, torch.Tensor) else crops
        if x.ndim == 3:
            x = x[:, None]
        return self.pathnet.predict_proba(self.resolve(task), x)

    def modules_of(self, task: str) -> tuple[list[tuple[int, int]], list[tuple[int, int, str]]]:
        """``(trained, reused)``: the modules of the task's path it froze itself, and those
        it reuses with the task that froze them."""
        owners = self.pathnet.frozen_owner
        genotype = np.asarray(self.tasks[task]["genotype"])
        trained, reused = [], []
        for layer, rows in enumerate(active_modules(genotype)):
            for m in rows.tolist():
                if owners[layer, m] == task:
                    trained.append((layer, m))
                else:
                    reused.append((layer, m, str(owners[layer, m])))
        return trained, reused


# --------------------------------------------------------------------------- reading
def model_header(path: str | Path) -> dict[str, str]:
    """The safetensors header metadata of ``path`` (one-line errors for a missing,
    foldered or unreadable file)."""
    return safetensors_header(path, "model file", ModelFileError)


def is_model_file(path: str | Path | None) -> bool:
    """Whether ``path`` is ``builtin`` or a multi-task model file (not a bundle)."""
    if path is None:
        return False
    if str(path) == BUILTIN:
        return True
    try:
        return MARK_KEY in model_header(path)
    except ModelFileError:
        return False


def read_model_meta(path: str | Path) -> dict[str, Any]:
    """The metadata of a model file, checked: its version, that it is not a bundle."""
    path = Path(path)
    header = model_header(path)
    if MARK_KEY not in header:
        if BUNDLE_MARK in header:
            raise ModelFileError(
                f"{path}: a model bundle is a plain network, not a multi-task model: learn "
                f"onto '{BUILTIN}' or a model file written by `pathfer learn`"
            )
        raise ModelFileError(f"{path}: not a pathfer model file (no pathfer metadata)")
    try:
        meta = json.loads(header[META_KEY])
        if meta.get("kind") != KIND:
            raise ValueError(f"kind {meta.get('kind')!r}")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelFileError(f"{path}: pathfer metadata is damaged ({short_error(exc)})") from None
    try:
        formats.check_not_newer(meta, path, "model file")
    except formats.FormatError as exc:
        raise ModelFormatError(str(exc)) from None
    return meta


def load_model(path: str | Path = BUILTIN, *, seed: int = 0) -> MultiTaskModel:
    """A model file (or ``builtin``) as a :class:`MultiTaskModel`; ``seed`` seeds the
    PathNet that learns the next task (its free modules restart from it)."""
    if str(path) == BUILTIN:
        return builtin_model(seed=seed)
    path = Path(path)
    if BUNDLE_MARK in model_header(path):
        return bundle_model(path, seed=seed)
    meta = read_model_meta(path)
    tensors = safetensors_tensors(path, ModelFileError)
    try:
        pn = _rebuild(meta, tensors, seed)
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
        raise ModelFileError(
            f"{path}: the model does not fit its metadata ({short_error(exc)})"
        ) from None
    try:
        crop = CropSettings.from_dict(meta["crop"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: pathfer metadata is damaged ({short_error(exc)})") from None
    return MultiTaskModel(pn, {t["name"]: t for t in meta["tasks"]}, crop, path, meta)


def _rebuild(meta: dict[str, Any], tensors: dict[str, torch.Tensor], seed: int) -> PathNet:
    """The PathNet a model file describes: its frozen modules, heads and tasks; free
    modules restarted as after a freeze. Every tensor's name and shape is checked."""
    config = PathNetConfig.from_dict(meta["config"])
    owners = np.array(meta["owners"], dtype=object)
    if owners.shape != (config.layers, config.modules):
        raise ValueError(f"owners has shape {owners.shape}, not {(config.layers, config.modules)}")
    names = [t["name"] for t in meta["tasks"]]
    stray = sorted({str(o) for o in owners.ravel() if o} - set(names))
    if not names or stray or len(set(names)) != len(names):
        raise ValueError(f"tasks {names} do not own the frozen modules ({stray})")
    pn = PathNet(config, seed=seed)
    used: set[str] = set()
    with torch.no_grad():
        for layer, m in zip(*np.nonzero(owners != ""), strict=True):
            for i, t in enumerate(pn.net.layer_state(int(layer))):
                key = f"modules.{layer}.{m}.{i}"
                t[int(m)] = _tensor(tensors, key, tuple(t.shape[1:]))
                used.add(key)
    for entry in meta["tasks"]:
        used |= _add_task(pn, entry, tensors, owners)
    extra = sorted(set(tensors) - used)
    if extra:
        raise ValueError(f"unexpected tensors {', '.join(extra[:4])}")
    pn.adopt_frozen(owners)
    return pn


def _add_task(
    pn: PathNet, entry: dict[str, Any], tensors: dict[str, torch.Tensor], owners: np.ndarray
) -> set[str]:
    """Add one frozen task (head, statistics, path) to ``pn``; the tensor names it used."""
    name, cfg = entry["name"], pn.config
    labels = [canonical(str(x)) for x in entry["labels"]]
    genotype = np.asarray(entry["genotype"], dtype=np.int64)
    validate_genotype(genotype, cfg.layers, cfg.modules, cfg.max_active)
    free = [
        (layer, m)
        for layer, r in enumerate(active_modules(genotype))
        for m in r
        if not owners[layer, m]
    ]
    if free:
        raise ValueError(f"task {name!r} uses modules no task froze: {free[:4]}")
    CropSettings.from_dict(entry["crop"])
    head = pn.net.add_head(name, len(labels), None)
    used = set()
    state = {}
    for k, v in head.state_dict().items():
        state[k] = _tensor(tensors, f"heads.{name}.{k}", tuple(v.shape))
        used.add(f"heads.{name}.{k}")
    head.load_state_dict(state)
    stats = sorted(k for k in tensors if k.startswith(f"stats.{name}."))
    if stats:
        rows = [tensors[f"stats.{name}.rows{i}"].numpy() for i in range(cfg.layers)]
        pn.net.add_task_statistics(name, np.stack(rows))
        pn.net.task_stats[name].load_state_dict(
            {k[len(f"stats.{name}.") :]: tensors[k] for k in stats}
        )
        used |= set(stats)
    pn.head_opts[name] = HeadOptimizer(head)
    pn.tasks[name] = Task(name, len(labels), labels, TaskStatus.FROZEN, genotype=genotype)
    return used


def _tensor(tensors: dict[str, torch.Tensor], key: str, shape: tuple[int, ...]) -> torch.Tensor:
    if key not in tensors:
        raise KeyError(f"tensor {key} is missing")
    t = tensors[key]
    if tuple(t.shape) != shape:
        raise ValueError(f"tensor {key} has shape {tuple(t.shape)}, not {shape}")
    return t


# --------------------------------------------------------------------------- writing
def model_tensors(pn: PathNet) -> dict[str, torch.Tensor]:
    """What a model file stores: the frozen modules, the heads and task statistics of the
    frozen tasks (never a free module)."""
    out: dict[str, torch.Tensor] = {}
    frozen = pn.frozen
    for layer in range(pn.config.layers):
        for i, t in enumerate(pn.net.layer_state(layer)):
            for m in np.flatnonzero(frozen[layer]).tolist():
                out[f"modules.{layer}.{m}.{i}"] = t[m].detach().cpu().clone().contiguous()
    for name, task in pn.tasks.items():
        if task.status is not TaskStatus.FROZEN:
            continue
        for k, v in pn.net.heads[name].state_dict().items():
            out[f"heads.{name}.{k}"] = v.detach().cpu().clone().contiguous()
        if name in pn.net.task_stats:
            for k, v in pn.net.task_stats[name].state_dict().items():
                out[f"stats.{name}.{k}"] = v.detach().cpu().clone().contiguous()
    return out


def save_model(model: MultiTaskModel, path: str | Path) -> Path:
    """Write ``model`` to ``path`` atomically (a crash leaves the previous file whole)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ModelFileError(f"{path}: a model file name must end in .safetensors")
    pn = model.pathnet
    unfrozen = [n for n, t in pn.tasks.items() if t.status is not TaskStatus.FROZEN]
    if unfrozen or not pn.tasks or set(pn.tasks) != set(model.tasks):
        raise ModelFileError(f"{path}: every task must be frozen and described ({unfrozen})")
    meta = formats.stamp(
        {
            "kind": KIND,
            "pathfer_version": pathfer.__version__,
            "created": _now(),
            "config": pn.config.as_dict(),
            "crop": model.module_crop.as_dict(),
            "owners": pn.frozen_owner.tolist(),
            "tasks": [model.tasks[n] for n in pn.tasks],
        }
    )
    header = {"format": "pt", MARK_KEY: str(formats.CURRENT), META_KEY: json.dumps(meta)}
    atomic_write_bytes(path, save_bytes(model_tensors(pn), metadata=header))
    model.path, model.meta = path, meta
    return path


def task_entry(
    pn: PathNet,
    name: str,
    crop: CropSettings,
    *,
    val_accuracy: float | None,
    provenance: dict[str, Any],
) -> dict[str, Any]:
    """The metadata of a frozen task of ``pn``."""
    owners = pn.frozen_owner
    genotype = pn.best_path(name)
    trained = [
        [layer, m]
        for layer, rows in enumerate(active_modules(genotype))
        for m in rows.tolist()
        if owners[layer, m] == name
    ]
    return {
        "name": name,
        "labels": list(pn.labels(name) or []),
        "genotype": genotype.tolist(),
        "crop": crop.as_dict(),
        "val_accuracy": None if val_accuracy is None else float(val_accuracy),
        "trained": trained,
        "provenance": json.loads(json.dumps(provenance, default=str)),
    }


def builtin_model(seed: int = 0) -> MultiTaskModel:
    """The shipped FER2013 mini-Xception as a model with one frozen task ``fer2013``."""
    bundle = load_bundle(default_bundle_path())
    about = {
        "corpus": "FER2013",
        "date": bundle.meta.get("created"),
        "pathfer_version": bundle.meta.get("pathfer_version"),
        "from": f"bundle {bundle.path.name if bundle.path else ''}",
    }
    return _one_task(bundle, PRETRAINED_TASK, about, seed)


def bundle_model(path: str | Path, *, seed: int = 0) -> MultiTaskModel:
    """A mini-Xception bundle (the shipped one, or one `pathfer train --method
    mini_xception_finetune` wrote) as a model with one frozen task named after the file
    (``my-model.safetensors``: task ``my-model``): its stages become the frozen modules
    later tasks reuse, as the shipped network's do in ``builtin``. Other networks are
    refused: only the mini-Xception has the stages a PathNet is built over."""
    from pathfer.models.baselines.mini_xception import MiniXception

    path = Path(path)
    bundle = load_bundle(path)
    if not isinstance(bundle.model, MiniXception):
        raise ModelFileError(
            f"{path}: a model bundle of a plain {bundle.meta.get('architecture')} network "
            "cannot start a multi-task model (only a mini-Xception bundle can); learn onto "
            f"'{BUILTIN}' or a model file written by `pathfer learn`"
        )
    name = re.sub(r"[^A-Za-z0-9_-]", "_", path.stem)[:64].lstrip("_-") or "bundle"
    model = _one_task(bundle, name, {"from": f"bundle {path.name}"}, seed)
    model.path = path
    return model


def _one_task(bundle: Bundle, name: str, about: dict[str, Any], seed: int) -> MultiTaskModel:
    """A mini-Xception bundle as a PathNet whose one frozen task ``name`` is the network
    (:func:`from_mini_xception`), described by ``about`` and the bundle's provenance."""
    labels = [canonical(x) for x in bundle.labels]
    pn = from_mini_xception(bundle.model, labels, seed=seed, task=name)
    prov = bundle.meta.get("provenance", {})
    entry = task_entry(
        pn,
        name,
        bundle.crop,
        val_accuracy=_first_number(prov, ("val_accuracy", "val_acc", "test_accuracy", "accuracy")),
        provenance={**about, **{k: v for k, v in prov.items() if isinstance(v, (str, int, float))}},
    )
    return MultiTaskModel(pn, {name: entry}, bundle.crop)


def with_free_modules(model: MultiTaskModel, free: int | None = None) -> MultiTaskModel:
    """``model`` with at least ``free`` free modules in every layer (default: a path's
    ``max_active``), widened where earlier tasks froze them all: a new task can then still
    train modules of its own instead of only reusing frozen ones. Frozen modules, heads and
    paths are unchanged (so are every task's predictions), and free modules are never
    stored, so the file does not grow."""
    pn = model.pathnet
    free = pn.config.max_active if free is None else free
    modules = int(pn.frozen.sum(axis=1).max()) + free
    if modules <= pn.config.modules:
        return model
    owners = np.full((pn.config.layers, modules), "", dtype=object)
    owners[:, : pn.config.modules] = pn.frozen_owner
    meta = {
        "config": {**pn.config.as_dict(), "modules": modules},
        "owners": owners.tolist(),
        "tasks": [model.tasks[n] for n in pn.tasks],
    }
    tensors = {k: _widen_stats(k, v, modules) for k, v in model_tensors(pn).items()}
    wide = _rebuild(meta, tensors, pn.seed)
    return MultiTaskModel(wide, dict(model.tasks), model.module_crop, model.path, model.meta)


def _widen_stats(key: str, t: torch.Tensor, modules: int) -> torch.Tensor:
    """A task's own statistics (``stats.<task>.rows|mean|var<l>``, one row per module) for a
    super-network of ``modules`` modules: the new rows are not the task's (False; unit
    statistics, never read)."""
    if not key.startswith("stats.") or t.shape[0] >= modules:
        return t
    kind = key.rsplit(".", 1)[1].rstrip("0123456789")
    fill = 1 if kind == "var" else 0
    pad = torch.full((modules - t.shape[0], *t.shape[1:]), fill, dtype=t.dtype)
    return torch.cat([t, pad])


def new_model(config: PathNetConfig, crop: CropSettings, seed: int = 0) -> MultiTaskModel:
    """A model with no task yet (its first task learns every module it uses), taking
    ``crop``'s crops."""
    if config.input_size != crop.size:
        raise ModelFileError(
            f"the network takes {config.input_size}px crops but the crop is {crop.size}px"
        )
    return MultiTaskModel(PathNet(config, seed=seed), {}, crop)


def check_task_name(model: MultiTaskModel, name: str) -> None:
    """Refuse a name already in the model, or one that cannot prefix a column."""
    if not TASK_NAME.match(name):
        raise ModelFileError(
            f"task name {name!r}: use letters, digits, '_' and '-' (at most 64, not first)"
        )
    if name in model.tasks:
        raise ModelFileError(
            f"{model.path or BUILTIN} already has a task {name!r} (its tasks: "
            f"{', '.join(model.names)}); choose another --task name"
        )


def _first_number(d: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for k in keys:
        if isinstance(d.get(k), (int, float)):
            return float(d[k])
    return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


__all__ = [
    "BUILTIN",
    "ModelFileError",
    "ModelFormatError",
    "MultiTaskModel",
    "builtin_model",
    "bundle_model",
    "check_task_name",
    "is_model_file",
    "load_model",
    "model_tensors",
    "new_model",
    "read_model_meta",
    "save_model",
    "task_entry",
    "with_free_modules",
]
