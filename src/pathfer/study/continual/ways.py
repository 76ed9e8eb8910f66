"""The three ways a chain of corpora is learnt onto the FER2013 mini-Xception, one job each:

- ``pathnet``: one PathNet model file (``pathfer learn`` step after step): each corpus
  evolves a path through the frozen modules of every earlier task, then is frozen;
- ``finetune``: one network fine-tuned corpus after corpus, every layer, each corpus with
  its own head (earlier heads kept, the shared layers move on: it forgets);
- ``separate``: one network per corpus, each fine-tuned from the FER2013 weights (nothing
  shared, nothing forgotten, K networks to keep).

After each step every task learnt so far is scored on its own test subjects. ``fer2013``,
whose own test set is not part of a chain, is scored on the chain corpora's test faces:
zero-shot on the emotions FER2013 has, and by its top emotion on each face (the report
counts the answers that stayed as they were at the start). A step records its CPU seconds
(this process) and the size of what a user keeps after it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pathfer.data import emotions
from pathfer.models.nn import predict_proba, set_job_numerics
from pathfer.models.pathnet.pretrained import PRETRAINED_TASK, cap_evolution
from pathfer.models.pathnet.recipes import get_recipe
from pathfer.runtime.files import atomic_write_json
from pathfer.study.continual.config import ChainConfig
from pathfer.study.continual.data import ChainCorpus
from pathfer.study.experiments.budgets import MethodBudget
from pathfer.study.experiments.methods.base import TaskData, tuned_fit
from pathfer.study.experiments.methods.fer import MINI_XCEPTION_RECIPE, LabelSubset, unwrap


@dataclass
class ChainJob:
    """One way over one order of the chain (``separate``: one corpus, ``order`` of one)."""

    way: str
    order: tuple[int, ...]
    corpora: list[ChainCorpus]
    cfg: ChainConfig
    run_dir: str

    @property
    def key(self) -> str:
        names = "-".join(self.corpora[i].name for i in self.order)
        return f"{self.way}.{names}"

    def run(self) -> dict[str, Any]:
        set_job_numerics(self.cfg.threads)
        torch.manual_seed(self.cfg.seed)  # the seed fixes every draw, as in experiments
        tasks = {c.name: c.task(self.cfg) for c in self.corpora}
        way = {"pathnet": _pathnet, "finetune": _finetune, "separate": _separate}[self.way]
        steps = way(self, tasks)
        return {
            "way": self.way,
            "order": [self.corpora[i].name for i in self.order],
            "given": list(self.order) == sorted(self.order),  # the config's order
            "steps": steps,
        }


def run_chain_job(job: ChainJob) -> dict[str, Any]:
    return job.run()


# --------------------------------------------------------------------------- scoring
def _accuracy(proba: np.ndarray, y: torch.Tensor) -> float:
    return float((proba.argmax(1) == np.asarray(y)).mean())


def _digest(proba: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(proba).tobytes()).hexdigest()[:16]


def _fer_faces(tasks: dict[str, TaskData], fer_labels: list[str]):
    """Per corpus, the test faces whose emotion FER2013 has, with FER's columns of the
    corpus's labels: what the ``fer2013`` task is scored on."""
    for t in tasks.values():
        keep = [i for i, lab in enumerate(t.labels) if lab in fer_labels]
        mask = np.isin(np.asarray(t.test.y), keep)
        cols = [fer_labels.index(t.labels[i]) for i in keep]
        remap = {old: new for new, old in enumerate(keep)}
        y = torch.tensor([remap[int(v)] for v in np.asarray(t.test.y)[mask]], dtype=torch.long)
        yield t.test.x[torch.as_tensor(mask)], y, cols


def _fer_score(proba_of, tasks: dict[str, TaskData], fer_labels: list[str]) -> tuple:
    """The FER2013 task on the chain's test faces: pooled zero-shot accuracy, a digest of
    its probabilities (equal digests: bit-identical predictions) and its top emotion on
    each face (what it would answer: compared with the start to show how much changed)."""
    hits, n, digests, top = 0, 0, [], []
    for x, y, cols in _fer_faces(tasks, fer_labels):
        proba = proba_of(x)
        digests.append(_digest(proba))
        hits += int((proba[:, cols].argmax(1) == y.numpy()).sum())
        n += len(y)
        top += proba.argmax(1).tolist()
    return hits / max(n, 1), "".join(digests), top


def _step(learnt: str | None, cpu: float, wall: float, size: int, scores: dict) -> dict[str, Any]:
    """A step's record: what it learnt, its cost, and every task's score (``(accuracy,
    digest)``; FER2013's with its top emotion per face)."""
    return {
        "learnt": learnt,
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "size_bytes": int(size),
        "acc": {k: v[0] for k, v in scores.items()},
        "digest": {k: v[1] for k, v in scores.items()},
        "fer2013_top": scores[PRETRAINED_TASK][2] if PRETRAINED_TASK in scores else None,
    }


class _Timer:
    def __enter__(self) -> _Timer:
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self.cpu
        self.wall = time.perf_counter() - self.wall


# --------------------------------------------------------------------------- PathNet
def _pathnet(job: ChainJob, tasks: dict[str, TaskData]) -> list[dict[str, Any]]:
    """``pathfer learn`` corpus after corpus onto ``builtin``; resumes step by step (and
    within a step, from ``learn``'s own checkpoints)."""
    from pathfer.use.learn import LearnData, learn_onto
    from pathfer.use.model_file import builtin_model, load_model, save_model

    models = Path(job.run_dir) / "models"
    models.mkdir(parents=True, exist_ok=True)
    evolution = cap_evolution(get_recipe("fer2013").evolution_config(), job.cfg.evolution_cap())
    model = builtin_model(seed=job.cfg.seed)
    fer_labels = model.labels(PRETRAINED_TASK)

    def scores() -> dict[str, tuple]:
        out = {
            PRETRAINED_TASK: _fer_score(
                lambda x: model.predict_proba(PRETRAINED_TASK, x), tasks, fer_labels
            )
        }
        for name in model.names[1:]:
            proba = model.predict_proba(name, tasks[name].test.x)
            out[name] = (_accuracy(proba, tasks[name].test.y), _digest(proba))
        return out

    start = models / "pathnet-start.safetensors"
    if not start.is_file():
        save_model(model, start)
    steps = [_step(None, 0.0, 0.0, start.stat().st_size, scores())]
    for k, i in enumerate(job.order, start=1):
        corpus, task = job.corpora[i], tasks[job.corpora[i].name]
        out = models / f"{job.key}.{k}.safetensors"
        record = Path(job.run_dir) / "steps" / f"{job.key}.{k}.json"
        if out.is_file() and record.is_file():  # a finished step of an interrupted run
            model = load_model(out, seed=job.cfg.seed)
            done = json.loads(record.read_text())  # its cost; the scores are computed again
            step = _step(
                done["learnt"], done["cpu_s"], done["wall_s"], done["size_bytes"], scores()
            )
            kept = {key: done[key] for key in ("reused", "trained") if key in done}
            steps.append({**step, **kept})
            continue
        data = LearnData(
            task.fit.x,
            task.fit.y,
            task.val.x,
            task.val.y,
            task.labels,
            corpus.crop,
            {"corpus": corpus.name, "chain_step": k},
        )
        with _Timer() as t:
            model = learn_onto(
                model, corpus.name, data, out, evolution=evolution, refit=job.cfg.train.refit
            )
        step = _step(corpus.name, t.cpu, t.wall, out.stat().st_size, scores())
        step["reused"] = [list(m) for m in model.modules_of(corpus.name)[1]]
        step["trained"] = [list(m) for m in model.modules_of(corpus.name)[0]]
        atomic_write_json(record, step)
        steps.append(step)
    return steps


# --------------------------------------------------------------------------- fine-tuning
class _TaskNet(nn.Module):
    """A mini-Xception's shared layers with one task's head."""

    def __init__(self, trunk: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.trunk, self.head = trunk, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk.features(self.trunk.prepare(x)))


def _budget(cfg: ChainConfig) -> MethodBudget:
    """The mini-Xception's recipe on the chain's ``train:`` (as experiments resolve it)."""
    r, train = MINI_XCEPTION_RECIPE, cfg.train
    return MethodBudget(
        lrs=[float(f"{lr * r.lr_scale:.6g}") for lr in train.lrs],
        max_epochs=train.max_epochs or r.max_epochs,
        patience=train.patience or r.patience,
    )


def _fer_network():
    from pathfer.use.bundle import default_bundle_path, load_bundle

    bundle = load_bundle(default_bundle_path())
    return bundle.model, [emotions.canonical(x) for x in bundle.labels]


def _fine_tune(
    trunk: nn.Module, fer_head: nn.Module, fer_labels: list[str], task: TaskData, cfg: ChainConfig
) -> nn.Module:
    """Every layer of ``trunk`` (a copy) fine-tuned on ``task`` with a head started from
    FER2013's rows of its emotions (a new head for emotions FER2013 lacks), as
    ``mini_xception_finetune`` does; the trained network as a plain mini-Xception."""

    def make() -> nn.Module:
        net = copy.deepcopy(trunk)
        net.classifier, net.n_classes = copy.deepcopy(fer_head), len(fer_labels)
        if all(lab in fer_labels for lab in task.labels):
            return LabelSubset(net, [fer_labels.index(lab) for lab in task.labels])
        net.replace_head(len(task.labels))
        return net

    model, _ = tuned_fit(
        make, task, cfg.train, cfg.seed, _budget(cfg), max_shift=MINI_XCEPTION_RECIPE.max_shift
    )
    return unwrap(model).eval()


def _state_size(path: Path, tensors: dict[str, torch.Tensor]) -> int:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path.stat().st_size


def _finetune(job: ChainJob, tasks: dict[str, TaskData]) -> list[dict[str, Any]]:
    trunk, fer_labels = _fer_network()
    heads: dict[str, nn.Module] = {PRETRAINED_TASK: copy.deepcopy(trunk.classifier)}
    models = Path(job.run_dir) / "models"
    models.mkdir(parents=True, exist_ok=True)

    def scores() -> dict[str, tuple]:
        fer = _TaskNet(trunk, heads[PRETRAINED_TASK]).eval()
        out = {PRETRAINED_TASK: _fer_score(lambda x: predict_proba(fer, x), tasks, fer_labels)}
        for name, head in heads.items():
            if name != PRETRAINED_TASK:
                proba = predict_proba(_TaskNet(trunk, head).eval(), tasks[name].test.x)
                out[name] = (_accuracy(proba, tasks[name].test.y), _digest(proba))
        return out

    def size(k: int) -> int:  # the shared layers and every head: what a user keeps
        state = {f"trunk.{n}": v for n, v in trunk.features.state_dict().items()}
        for name, head in heads.items():
            state |= {f"heads.{name}.{n}": v for n, v in head.state_dict().items()}
        return _state_size(models / f"{job.key}.{k}.safetensors", state)

    steps = [_step(None, 0.0, 0.0, size(0), scores())]
    for k, i in enumerate(job.order, start=1):
        name = job.corpora[i].name
        with _Timer() as t:
            net = _fine_tune(trunk, heads[PRETRAINED_TASK], fer_labels, tasks[name], job.cfg)
        trunk, heads[name] = net, copy.deepcopy(net.classifier)
        steps.append(_step(name, t.cpu, t.wall, size(k), scores()))
    return steps


def _separate(job: ChainJob, tasks: dict[str, TaskData]) -> list[dict[str, Any]]:
    """One corpus (``order`` of one): its own network from the FER2013 weights."""
    from pathfer.use.bundle import default_bundle_path, save_bundle

    fer, fer_labels = _fer_network()
    corpus = job.corpora[job.order[0]]
    task = tasks[corpus.name]
    with _Timer() as t:
        net = _fine_tune(fer, fer.classifier, fer_labels, task, job.cfg)
    path = Path(job.run_dir) / "models" / f"{job.key}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_bundle(
        net,
        path,
        architecture="mini_xception",
        arch_kwargs=net.arch_kwargs(),
        labels=task.labels,
        crop=corpus.crop,
    )
    proba = predict_proba(net, task.test.x)
    fer_size = default_bundle_path().stat().st_size
    step = _step(
        corpus.name,
        t.cpu,
        t.wall,
        path.stat().st_size,
        {corpus.name: (_accuracy(proba, task.test.y), _digest(proba))},
    )
    step["fer2013_bytes"] = fer_size
    return [step]


def chain_jobs(cfg: ChainConfig, corpora: list[ChainCorpus], run_dir: str) -> list[ChainJob]:
    """Every job of the study: each of ``pathnet`` / ``finetune`` per order, ``separate``
    per corpus."""
    jobs = []
    for way in cfg.ways:
        orders = [(i,) for i in range(len(corpora))] if way == "separate" else cfg.orders
        jobs += [ChainJob(way, o, corpora, cfg, run_dir) for o in orders]
    return jobs


def job_record_path(run_dir: str | Path, job: ChainJob) -> Path:
    return Path(run_dir) / "jobs" / f"{job.key}.json"


__all__ = ["ChainJob", "chain_jobs", "job_record_path", "run_chain_job"]
