"""Save / load a :class:`~pathfer.models.pathnet.model.PathNet` without pickle.

A checkpoint is a folder with two files:

* ``weights.safetensors``: every tensor: super-network modules and task heads (``net.*``),
  per-module optimiser state (``opt.*``), head optimiser state (``headopt.<task>.*``), best
  path snapshots of interrupted runs (``snap.<task>.*``) and the torch generator state
  (``rng.torch``, uint8);
* ``state.json``: config, seed, frozen-module owners, tasks (status, labels, genotypes,
  results), interrupted runs (evolution config, population, best path, counters, history),
  the NumPy generator state, and the SHA-256 of the weights file.

Both files are written to temporary names and renamed into place, JSON last, so a crash
while saving leaves the previous checkpoint readable. Loading only parses JSON and
safetensors: it never unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .config import EvolutionConfig, PathNetConfig
from .evolution import BestKept
from .genotype import Population, validate_genotype
from .model import PathNet, TaskResult, TaskStatus, _Run, _Task
from .optim import HeadOptimizer

FORMAT = "pathfer.models.pathnet/1"
WEIGHTS = "weights.safetensors"
STATE = "state.json"


def _floats_out(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in values]


def _floats_in(values: list[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


def _run_to_json(run: _Run) -> dict[str, Any]:
    return {
        "evolution": run.evolution.as_dict(),
        "fingerprint": run.fingerprint,
        "population": run.population.genotypes.tolist(),
        "population_fitness": _floats_out(run.population.fitness),
        "pinned": None if run.pinned is None else run.pinned.tolist(),
        "stage": run.stage,
        "generation": run.generation,
        "best_key": None if run.best.key is None else list(run.best.key),
        "best_genotype": None if run.best.genotype is None else run.best.genotype.tolist(),
        "best_generation": run.best.generation,
        "since_best": run.since_best,
        "history": run.history,
        "wall": run.wall,
        "stop": run.stop,
        "evolution_val": None if run.evolution_val is None else list(run.evolution_val),
    }


def _run_from_json(d: dict[str, Any], snapshot: dict[str, torch.Tensor]) -> _Run:
    best = BestKept()
    if d["best_key"] is not None:
        best.key = (float(d["best_key"][0]), float(d["best_key"][1]))
        best.genotype = np.array(d["best_genotype"], dtype=np.int64)
        best.generation = int(d["best_generation"])
    return _Run(
        evolution=EvolutionConfig.from_dict(d["evolution"]),
        fingerprint=d["fingerprint"],
        population=Population(
            np.array(d["population"], dtype=np.int64), _floats_in(d["population_fitness"])
        ),
        pinned=None if d["pinned"] is None else np.array(d["pinned"], dtype=bool),
        stage=d["stage"],
        generation=int(d["generation"]),
        best=best,
        since_best=int(d["since_best"]),
        history=list(d["history"]),
        wall=float(d["wall"]),
        stop=d["stop"],
        evolution_val=None if d["evolution_val"] is None else tuple(d["evolution_val"]),
        snapshot=snapshot,
    )


def save_pathnet(pn: PathNet, path: str | Path) -> Path:
    """Write ``pn`` to the folder ``path`` (created if needed; previous files replaced)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for k, v in pn.net.state_dict().items():
        tensors[f"net.{k}"] = v
    tensors.update(pn.opt.state_tensors("opt"))
    for name, hopt in pn.head_opts.items():
        tensors.update(hopt.state_tensors(f"headopt.{name}"))
    tasks = []
    for t in pn.tasks.values():
        entry: dict[str, Any] = {
            "name": t.name,
            "n_classes": t.n_classes,
            "labels": t.labels,
            "status": t.status.value,
            "genotype": None if t.genotype is None else t.genotype.tolist(),
            "result": None if t.result is None else t.result.as_dict(),
            "run": None if t.run is None else _run_to_json(t.run),
        }
        if t.run is not None:
            for k, v in t.run.snapshot.items():
                tensors[f"snap.{t.name}.{k}"] = v
        tasks.append(entry)
    tensors["rng.torch"] = pn.generator.get_state()
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items()}

    tmp_w = path / (WEIGHTS + ".tmp")
    save_file(tensors, str(tmp_w), metadata={"format": FORMAT})
    digest = hashlib.sha256(tmp_w.read_bytes()).hexdigest()
    state = {
        "format": FORMAT,
        "config": pn.config.as_dict(),
        "seed": pn.seed,
        "frozen_owner": pn.frozen_owner.tolist(),
        "tasks": tasks,
        "rng_numpy": pn.rng.bit_generator.state,
        "weights_sha256": digest,
    }
    tmp_s = path / (STATE + ".tmp")
    tmp_s.write_text(json.dumps(state, indent=1, allow_nan=False))
    os.replace(tmp_w, path / WEIGHTS)
    os.replace(tmp_s, path / STATE)
    return path


def load_pathnet(path: str | Path) -> PathNet:
    """Rebuild a :class:`PathNet` saved by :func:`save_pathnet` (exact state, RNGs included)."""
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
    tensors = load_file(str(weights_file))

    config = PathNetConfig.from_dict(state["config"])
    pn = PathNet(config, seed=state["seed"])
    pn.frozen_owner = np.array(state["frozen_owner"], dtype=object)
    for entry in state["tasks"]:
        name = entry["name"]
        pn.net.add_head(name, entry["n_classes"], None)
        pn.head_opts[name] = HeadOptimizer(pn.net.heads[name])
        pn.head_opts[name].load_state_tensors(f"headopt.{name}", tensors)
        geno = None if entry["genotype"] is None else np.array(entry["genotype"], dtype=np.int64)
        if geno is not None:
            validate_genotype(geno, config.layers, config.modules, config.max_active)
        run = None
        if entry["run"] is not None:
            prefix = f"snap.{name}."
            snap = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            run = _run_from_json(entry["run"], snap)
        pn.tasks[name] = _Task(
            name=name,
            n_classes=entry["n_classes"],
            labels=entry["labels"],
            status=TaskStatus(entry["status"]),
            genotype=geno,
            result=None if entry["result"] is None else TaskResult(**entry["result"]),
            run=run,
        )
    net_state = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
    pn.net.load_state_dict(net_state, strict=True)
    pn.opt.load_state_tensors("opt", tensors)
    pn.generator.set_state(tensors["rng.torch"])
    pn.rng.bit_generator.state = state["rng_numpy"]
    return pn
