"""The methods an experiment compares, as a registry of plain functions.

Every method gets the same :class:`FoldData` (same fit / validation / test frames, same
seed) and returns a :class:`MethodOutput` with test-frame probabilities. Hyper-parameters
are chosen on the *validation subjects* carved out of the fold's training part, never on
the test fold. Source-trained models (for the transfer methods) are trained once per seed
by :func:`train_sources` and loaded by every fold.

Adding a method is adding a function decorated with :func:`register_method`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from pathfer.data import emotions
from pathfer.models.baselines.cnn import PlainCNN
from pathfer.models.baselines.training import evaluate, fit
from pathfer.models.pathnet import EvolutionConfig, PathNet, PathNetConfig


@dataclass
class Part:
    """Tensors of one part of a task: ``x`` float (B, 1, S, S) in [0, 1], ``y`` int64."""

    x: torch.Tensor
    y: torch.Tensor
    clip_ids: np.ndarray | None = None


@dataclass
class TaskData:
    """One task (a source corpus, or the target of one fold): fit, validation, test."""

    name: str
    labels: list[str]
    fit: Part
    val: Part
    test: Part


@dataclass
class FoldData:
    target: TaskData
    seed: int
    pathnet: dict[str, Any]
    evolution: dict[str, Any]
    train: Any  # TrainBudget
    source_dir: Path  # where train_sources left the source models
    sources: list[TaskData] = field(default_factory=list)  # for forgetting
    artifacts: Path | None = None
    tag: str = ""


@dataclass
class MethodOutput:
    proba: np.ndarray
    train_time_s: float
    extra: dict[str, Any] = field(default_factory=dict)
    #: the trained classifier as a plain module ((B, 1, S, S) in [0, 1] -> logits over the
    #: target labels), for model bundles; not sent back from parallel jobs
    model: nn.Module | None = None


Method = Callable[[FoldData], MethodOutput]
METHODS: dict[str, Method] = {}
#: rough cost order (dearest first) so parallel runs start the long jobs early and no
#: worker is left alone with one long job at the end; unknown methods go last
COST_ORDER = (
    "mini_xception_finetune",
    "pathnet_transfer",
    "pathnet_target",
    "finetune",
    "cnn_scratch",
    "feature_extraction",
    "mini_xception_zeroshot",
)
#: which source family each transfer method needs trained before the folds
NEEDS_SOURCE: dict[str, str] = {}


def register_method(name: str, needs_source: str | None = None) -> Callable[[Method], Method]:
    def deco(fn: Method) -> Method:
        METHODS[name] = fn
        if needs_source:
            NEEDS_SOURCE[name] = needs_source
        return fn

    return deco


# --------------------------------------------------------------------------- shared pieces
def _pathnet_config(d: FoldData | dict, size: int) -> PathNetConfig:
    cfg = dict(d.pathnet if isinstance(d, FoldData) else d)
    cfg.setdefault("input_size", size)
    return PathNetConfig.from_dict(cfg)


def _cnn_kwargs(pn_cfg: PathNetConfig) -> dict[str, Any]:
    """A plain CNN with the capacity of one PathNet path (same layers, N branches each)."""
    return {
        "channels": list(pn_cfg.layer_channels),
        "branches": pn_cfg.max_active,
        "kernel": pn_cfg.kernel,
        "norm": pn_cfg.norm,
        "norm_groups": pn_cfg.norm_groups,
        "combine": pn_cfg.combine,
        "pool": pn_cfg.pool,
        "pool_size": pn_cfg.pool_size,
        "head": pn_cfg.head,
        "input_size": pn_cfg.input_size,
    }


def _proba(model: nn.Module, x: torch.Tensor, batch: int = 512) -> np.ndarray:
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            out.append(torch.softmax(model(x[i : i + batch]), dim=1))
    return torch.cat(out).numpy() if out else np.zeros((0, 0))


def _acc(model: nn.Module, part: Part) -> float:
    return float(evaluate(model, part.x, part.y)["acc"])


def tuned_fit(
    make: Callable[[], nn.Module],
    task: TaskData,
    budget: Any,
    seed: int,
    params: Callable[[nn.Module], Any] | None = None,
    lrs: list[float] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train one model per learning rate of the grid; keep the best on validation subjects.

    Each candidate early-stops on the validation part; the test part is evaluated along the
    chosen run's curve only to draw accuracy-versus-time (it picks nothing).
    """
    best: tuple[float, nn.Module, list, float] | None = None
    t0 = time.perf_counter()
    tried = []
    for lr in lrs or budget.lrs:
        model = make()
        curve: list[dict[str, Any]] = []
        start = time.perf_counter()

        def log(rec: dict[str, Any], model=model, curve=curve, start=start) -> None:
            was = model.training
            curve.append(
                {
                    "time_s": time.perf_counter() - start,
                    "step": rec["step"],
                    "val_acc": rec.get("val_acc", float("nan")),
                    "test_acc": _acc(model, task.test),
                }
            )
            model.train(was)

        steps_per_epoch = max(1, int(np.ceil(len(task.fit.y) / budget.batch_size)))
        res = fit(
            model,
            task.fit.x,
            task.fit.y,
            task.val.x,
            task.val.y,
            lr=lr,
            batch_size=budget.batch_size,
            max_epochs=max(1, budget.max_steps // steps_per_epoch),
            max_steps=budget.max_steps,
            patience=budget.patience,
            params=None if params is None else params(model),
            weight_decay=budget.weight_decay,
            seed=seed,
            augment=True,
            progress=log,
        )
        tried.append(
            {"lr": lr, "val_acc": res.best_val_acc, "steps": res.steps, "learning_curve": curve}
        )
        if best is None or res.best_val_acc > best[0]:
            best = (res.best_val_acc, model, curve, lr)
    assert best is not None
    return best[1], {
        "lr": best[3],
        "val_acc": best[0],
        "lr_search": tried,
        "learning_curve": best[2],
        "train_time_s": time.perf_counter() - t0,
    }


# --------------------------------------------------------------------------- sources
def _source_path(source_dir: Path, family: str, seed: int) -> Path:
    return source_dir / f"{family}_seed{seed}"


def train_sources(
    family: str,
    sources: list[TaskData],
    seed: int,
    pathnet: dict[str, Any],
    evolution: dict[str, Any],
    budget: Any,
    source_dir: Path,
) -> dict[str, Any]:
    """Train the source model of ``family`` (``pathnet`` or ``cnn``) on the sources in order."""
    torch.manual_seed(seed)
    out = _source_path(source_dir, family, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    size = int(sources[0].fit.x.shape[-1])
    pn_cfg = _pathnet_config(pathnet, size)
    t0 = time.perf_counter()
    info: dict[str, Any] = {"family": family, "seed": seed, "tasks": []}
    if family == "pathnet":
        pn = PathNet(pn_cfg, seed=seed)
        evo = EvolutionConfig.from_dict(evolution)
        for src in sources:
            res = pn.learn_task(
                src.name,
                src.fit.x,
                src.fit.y,
                len(src.labels),
                evolution=evo,
                x_val=src.val.x,
                y_val=src.val.y,
                labels=src.labels,
            )
            pn.freeze(src.name)
            info["tasks"].append(
                {
                    "name": src.name,
                    "labels": src.labels,
                    "test_acc": pn.evaluate(src.name, src.test.x, src.test.y)["accuracy"],
                    "generations": res.generations,
                    "val_acc": res.final_val_accuracy,
                }
            )
        pn.save(out.with_suffix(".safetensors"))
    elif family == "cnn":
        state = None
        for src in sources:

            def make(state=state, src=src) -> nn.Module:
                m = PlainCNN(len(src.labels), **_cnn_kwargs(pn_cfg))
                if state is not None:  # fine-tune through a sequence of sources
                    body = {k: v for k, v in state.items() if not k.startswith("head.")}
                    m.load_state_dict(body, strict=False)
                return m

            model, fit_info = tuned_fit(make, src, budget, seed)
            state = model.state_dict()
            info["tasks"].append(
                {
                    "name": src.name,
                    "labels": src.labels,
                    "test_acc": _acc(model, src.test),
                    "lr": fit_info["lr"],
                    "val_acc": fit_info["val_acc"],
                }
            )
        assert state is not None
        save_file(
            {k: v.contiguous() for k, v in state.items()}, str(out.with_suffix(".safetensors"))
        )
    else:
        raise ValueError(f"unknown source family {family!r}")
    info["train_time_s"] = time.perf_counter() - t0
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info, indent=1))
    tmp.replace(out.with_suffix(".json"))
    return info


def source_info(source_dir: Path, family: str, seed: int) -> dict[str, Any]:
    p = _source_path(source_dir, family, seed).with_suffix(".json")
    if not p.exists():
        raise FileNotFoundError(f"{p}: the {family} source model for seed {seed} is missing")
    return json.loads(p.read_text())


# --------------------------------------------------------------------------- PathNet
def _pathnet_curve(res: Any) -> list[dict[str, Any]]:
    curve = []
    for rec in res.history:
        curve.append(
            {
                "time_s": rec.get("wall_time", rec.get("time", 0.0)),
                "step": rec.get("generation"),
                "val_acc": rec.get("best_fitness"),
            }
        )
    last = curve[-1]["time_s"] if curve else 0.0
    for rec in res.finish_history:
        curve.append(
            {
                "time_s": last + rec.get("wall_time", rec.get("time", 0.0)),
                "step": rec.get("step"),
                "val_acc": rec.get("val_accuracy", rec.get("val_acc")),
            }
        )
    return curve


def _learn_target(pn: PathNet, d: FoldData) -> tuple[np.ndarray, dict[str, Any]]:
    t = d.target
    res = pn.learn_task(
        "target",
        t.fit.x,
        t.fit.y,
        len(t.labels),
        evolution=EvolutionConfig.from_dict(d.evolution),
        x_val=t.val.x,
        y_val=t.val.y,
        labels=t.labels,
    )
    extra = {
        "generations": res.generations,
        "stop_reason": res.stop_reason,
        "evolution_val_acc": res.evolution_val_accuracy,
        "final_val_acc": res.final_val_accuracy,
        "finish_gain": res.finish_gain,
        "frozen_reused": res.frozen_reused,
        "best_path": res.best_genotype,
        "history": res.history,
        "learning_curve": _pathnet_curve(res),
    }
    if d.artifacts is not None:
        from pathfer.models.pathnet.plots import plot_evolution, plot_supernet

        d.artifacts.mkdir(parents=True, exist_ok=True)
        sn = d.artifacts / f"{d.tag}__paths.png"
        ev = d.artifacts / f"{d.tag}__evolution.png"
        plot_supernet(pn, sn)
        plot_evolution(res.history, ev)
        extra["path_images"] = [sn.name, ev.name]
    extra["_model"] = pn.task_model("target")
    return pn.predict_proba("target", t.test.x), extra


@register_method("pathnet_transfer", needs_source="pathnet")
def pathnet_transfer(d: FoldData) -> MethodOutput:
    """PathNet: source paths frozen, target paths evolved through the super-network."""
    t0 = time.perf_counter()
    pn = PathNet.load(_source_path(d.source_dir, "pathnet", d.seed).with_suffix(".safetensors"))
    info = source_info(d.source_dir, "pathnet", d.seed)
    proba, extra = _learn_target(pn, d)
    extra["source_acc_before"] = float(np.mean([t["test_acc"] for t in info["tasks"]]))
    extra["source_acc_after"] = float(
        np.mean([pn.evaluate(s.name, s.test.x, s.test.y)["accuracy"] for s in d.sources])
    )
    extra["source_train_time_s"] = info["train_time_s"]
    return MethodOutput(proba, time.perf_counter() - t0, extra, extra.pop("_model"))


@register_method("pathnet_target")
def pathnet_target(d: FoldData) -> MethodOutput:
    """PathNet on the target alone (no source task)."""
    t0 = time.perf_counter()
    pn = PathNet(_pathnet_config(d, int(d.target.fit.x.shape[-1])), seed=d.seed)
    proba, extra = _learn_target(pn, d)
    return MethodOutput(proba, time.perf_counter() - t0, extra, extra.pop("_model"))


# --------------------------------------------------------------------------- plain CNNs
@register_method("cnn_scratch")
def cnn_scratch(d: FoldData) -> MethodOutput:
    """A plain CNN with the capacity of one path, trained on the target from scratch."""
    kw = _cnn_kwargs(_pathnet_config(d, int(d.target.fit.x.shape[-1])))
    model, info = tuned_fit(lambda: PlainCNN(len(d.target.labels), **kw), d.target, d.train, d.seed)
    return MethodOutput(_proba(model, d.target.test.x), info.pop("train_time_s"), info, model)


def _source_cnn(d: FoldData) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    state = load_file(str(_source_path(d.source_dir, "cnn", d.seed).with_suffix(".safetensors")))
    info = source_info(d.source_dir, "cnn", d.seed)
    kw = _cnn_kwargs(_pathnet_config(d, int(d.target.fit.x.shape[-1])))
    return state, info, kw


def _forgetting(d: FoldData, body: nn.Module, state: dict, info: dict, kw: dict) -> dict:
    """The last source's accuracy with its own head on the (possibly changed) body."""
    src = d.sources[-1]
    probe = PlainCNN(len(src.labels), **kw)
    probe.load_state_dict(state)
    own = {k: v for k, v in body.state_dict().items() if not k.startswith("head.")}
    probe.load_state_dict(own, strict=False)
    return {
        "source_acc_before": info["tasks"][-1]["test_acc"],
        "source_acc_after": _acc(probe, src.test),
        "source_train_time_s": info["train_time_s"],
    }


def _from_source(state: dict, n_classes: int, kw: dict) -> PlainCNN:
    m = PlainCNN(n_classes, **kw)
    body = {k: v for k, v in state.items() if not k.startswith("head.")}
    missing, _ = m.load_state_dict(body, strict=False)
    assert all(k.startswith("head.") for k in missing), missing
    return m


@register_method("finetune", needs_source="cnn")
def finetune(d: FoldData) -> MethodOutput:
    """The plain CNN trained on the source, then every layer trained on the target."""
    state, info, kw = _source_cnn(d)
    n = len(d.target.labels)
    model, extra = tuned_fit(lambda: _from_source(state, n, kw), d.target, d.train, d.seed)
    extra.update(_forgetting(d, model, state, info, kw))
    return MethodOutput(_proba(model, d.target.test.x), extra.pop("train_time_s"), extra, model)


@register_method("feature_extraction", needs_source="cnn")
def feature_extraction(d: FoldData) -> MethodOutput:
    """The source CNN frozen; only a new head is trained on the target."""
    state, info, kw = _source_cnn(d)
    n = len(d.target.labels)
    model, extra = tuned_fit(
        lambda: _from_source(state, n, kw),
        d.target,
        d.train,
        d.seed,
        params=lambda m: m.head.parameters(),
    )
    extra.update(_forgetting(d, model, state, info, kw))
    return MethodOutput(_proba(model, d.target.test.x), extra.pop("train_time_s"), extra, model)


# --------------------------------------------------------------------------- FER2013 mini-Xception
class LabelSubset(nn.Module):
    """A classifier's logits restricted (and re-ordered) to a label subset.

    :func:`unwrap` folds it back into a plain mini-Xception with a smaller head.
    """

    def __init__(self, model: nn.Module, index: list[int]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("index", torch.tensor(index, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, self.index]


def unwrap(model: nn.Module) -> nn.Module:
    """A :class:`LabelSubset` around a mini-Xception as a plain mini-Xception whose head
    has only the subset's classes (same logits), so it can be saved as a bundle."""
    if not isinstance(model, LabelSubset):
        return model
    from pathfer.models.baselines.mini_xception import MiniXception

    inner = model.model
    kw = inner.arch_kwargs()
    kw["n_classes"] = len(model.index)
    out = MiniXception(**kw)
    state = inner.state_dict()
    for key in ("classifier.conv.weight", "classifier.conv.bias"):
        state[key] = state[key][model.index]
    out.load_state_dict(state)
    return out.eval()


def _pretrained(labels: list[str]) -> nn.Module:
    from pathfer.use.bundle import default_bundle_path, load_bundle

    bundle = load_bundle(default_bundle_path())
    model = bundle.model
    fer = [emotions.canonical(x) for x in bundle.labels]
    if all(lab in fer for lab in labels):
        return LabelSubset(model, [fer.index(lab) for lab in labels])
    model.replace_head(len(labels))  # labels FER2013 lacks: a new head
    return model


@register_method("mini_xception_zeroshot")
def mini_xception_zeroshot(d: FoldData) -> MethodOutput:
    """The FER2013-trained mini-Xception, used as is on the mapped classes."""
    t0 = time.perf_counter()
    model = _pretrained(d.target.labels)
    if not isinstance(model, LabelSubset):
        raise ValueError(f"zero-shot needs FER2013's classes; {d.target.labels} has others")
    return MethodOutput(_proba(model, d.target.test.x), time.perf_counter() - t0, {}, model)


@register_method("mini_xception_finetune")
def mini_xception_finetune(d: FoldData) -> MethodOutput:
    """The FER2013-trained mini-Xception fine-tuned on the target (learning rate tuned)."""
    lrs = [lr / 3 for lr in d.train.lrs]  # a pre-trained net wants smaller steps
    model, extra = tuned_fit(
        lambda: _pretrained(d.target.labels), d.target, d.train, d.seed, lrs=lrs
    )
    return MethodOutput(_proba(model, d.target.test.x), extra.pop("train_time_s"), extra, model)
