"""The PathNet checkpoint format: a folder of safetensors + JSON, never pickle.

A checkpoint is a folder with two files:

* ``weights.safetensors``: every tensor: super-network modules and task heads (``net.*``),
  per-module optimiser state (``opt.*``), head optimiser state (``headopt.<task>.*``), best
  path snapshots of interrupted runs (``snap.<task>.*``) and the torch generator state
  (``rng.torch``, uint8);
* ``state.json``: config, seed, frozen-module owners, tasks (status, labels, genotypes,
  results), interrupted runs (evolution config, population, best path, counters, history),
  the NumPy generator state, and the SHA-256 of the weights file.

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
    state = {"format": FORMAT, **state, "weights_sha256": digest}
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
    return load_file(str(weights_file)), state
