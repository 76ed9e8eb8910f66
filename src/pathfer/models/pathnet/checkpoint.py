"""The PathNet checkpoint format: a folder of safetensors + JSON, never pickle.

A checkpoint is a folder with two files:

* ``weights.safetensors``: every tensor: super-network modules and task heads (``net.*``),
  per-module optimiser state (``opt.*``), head optimiser state (``headopt.<task>.*``), best
  path snapshots of interrupted runs (``snap.<task>.*``) and the torch generator state
  (``rng.torch``, uint8);
* ``state.json``: config, seed, frozen-module owners, tasks (status, labels, genotypes,
  results), interrupted runs (evolution config, population, best path, counters, history),
  the NumPy generator state, the SHA-256 of the weights file and the ``format_version``
  (:mod:`pathfer.runtime.formats`).

A checkpoint without a version (version 1, pathfer 0.1) is read through
:func:`upgrade_checkpoint_v1`; one of a newer version is refused.

Both files are written atomically, JSON last, so a crash while saving leaves the previous
checkpoint readable. :class:`~pathfer.models.pathnet.model.PathNet` gathers its tensors and
JSON state (``PathNet.save``) and rebuilds itself from them (``PathNet.load``); this module
only writes and reads the two files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from pathfer.runtime.files import atomic_path, atomic_write_text
from pathfer.runtime.formats import FormatError, check_not_newer, stamp

FORMAT = "pathfer.pathnet/1"
WEIGHTS = "weights.safetensors"
STATE = "state.json"


def write_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], state: dict) -> Path:
    """Write ``tensors`` and ``state`` (JSON-able) to the folder ``path``, weights first; the
    state records the weights' SHA-256, so a reader can tell a mismatched pair."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    with atomic_path(path / WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    state = stamp({"format": FORMAT, **state, "weights_sha256": digest})
    atomic_write_text(path / STATE, json.dumps(state, indent=1, allow_nan=False))
    return path


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(tensors, state)`` of a checkpoint folder; errors name the file and what is wrong."""
    path = Path(path)
    state_file, weights_file = path / STATE, path / WEIGHTS
    if not state_file.is_file() or not weights_file.is_file():
        raise FileNotFoundError(
            f"{path} is not a PathNet checkpoint: expected {STATE} and {WEIGHTS} in it"
        )
    state = json.loads(state_file.read_text())
    if state.get("format") != FORMAT:
        raise ValueError(f"{state_file}: unsupported format {state.get('format')!r}")
    digest = hashlib.sha256(weights_file.read_bytes()).hexdigest()
    if digest != state["weights_sha256"]:
        raise ValueError(f"{weights_file} does not match {state_file} (checksum differs)")
    if check_not_newer(state, state_file, "PathNet checkpoint") == 1:
        state = upgrade_checkpoint_v1(state, source=str(state_file))
    return load_file(str(weights_file)), state


# -- version 1 (pathfer 0.1: no format_version) -------------------------------------------
#: PathNetConfig settings version 1 checkpoints may lack, with the value that computes what
#: they did
V1_PATHNET = {"relu": "layer", "frozen_statistics": "owner", "free_init": "random"}
#: the same for the EvolutionConfig of an evolving task
V1_EVOLUTION = {"seed_copy_fraction": 0.0, "transfer_finish_lr": None}
#: evolution settings this version no longer has, with the only value it computes
V1_REMOVED = {
    "target_fitness": None,
    "seed_frozen_fraction": 0.0,
    "frozen_slots": 0,
    "transfer_lr_scale": 1.0,
    "compare_fresh": False,
    "head_from_frozen": False,
    "finish_frozen": "keep",
    "weight_decay": 0.0,
    "optimizer": "adam",
    "pair_batched": True,
}
#: evolution settings that became engine settings (recorded in the run's ``engine``)
V1_ENGINE = ("augment_shift", "finish_eval_every", "eval_batch_size")


def upgrade_checkpoint_v1(state: dict[str, Any], source: str = "checkpoint") -> dict[str, Any]:
    """A version-1 checkpoint state in today's form: settings added since filled with the
    values that compute what version 1 did, removed evolution settings dropped when they
    hold the value this version computes; a :class:`FormatError` naming the setting when
    an evolving task needs one it no longer computes."""
    state = json.loads(json.dumps(state))  # a deep copy
    state["config"] = {**V1_PATHNET, **state["config"]}
    for task in state["tasks"]:
        if task.get("result") is not None:
            task["result"].pop("fresh_check", None)  # a record of a removed safeguard
        if task.get("run") is not None:
            task["run"] = _upgrade_run_v1(task["run"], task["name"], source)
    return state


def _upgrade_run_v1(run: dict[str, Any], task: str, source: str) -> dict[str, Any]:
    evolution = {**V1_EVOLUTION, **run.pop("evolution")}
    for key, neutral in V1_REMOVED.items():
        value = evolution.pop(key, neutral)
        if value != neutral:
            raise _not_computed(source, task, key, value)
    head_lr = evolution.pop("head_lr", None)  # the head's own rate; None: the modules' lr
    if head_lr is not None and head_lr != evolution.get("lr", 3e-3):
        raise _not_computed(source, task, "head_lr", head_lr)
    evolution.pop("val_fraction", None)  # the split is made when a task starts
    run["engine"] = {k: evolution.pop(k) for k in V1_ENGINE if k in evolution}
    run["evolution"] = evolution
    run.pop("pinned", None)  # frozen_slots=0: nothing pinned
    run.pop("fresh", None)  # compare_fresh=False: nothing recorded
    return run


def _not_computed(source: str, task: str, key: str, value: Any) -> FormatError:
    return FormatError(
        f"{source}: task {task!r} is an interrupted run written by pathfer 0.1 (format 1) "
        f"with evolution.{key}={value!r}, which this pathfer no longer computes: finish it "
        "with pathfer 0.1, or learn the task again"
    )
