"""PathNet vs baselines on generated corpora: SAVEE-style -> eNTERFACE-style transfer.

    PATHFER_THREADS=1 .venv/bin/python benchmarks/bench_transfer.py --mode bench --out bt.json
    PATHFER_THREADS=1 .venv/bin/python benchmarks/bench_transfer.py --mode search --out s.json
    PATHFER_THREADS=1 .venv/bin/python benchmarks/bench_transfer.py --mode speed

Data: :mod:`pathfer.data.synthetic` corpora generated into ``--work`` and prepared with the
normal cache (both reused by later runs), the six shared emotions, subject-independent
group k-fold over the *target* subjects; validation subjects are carved from each fold's
training part (``runner.fold_task``), the source corpus is split by ``runner.source_task``.

Modes (tables are printed; ``--out`` gets JSON and a CSV next to it; no assertions):

* ``bench``: every method on every fold (source models trained once per seed), target
  frame / clip accuracy mean and std over folds, wall time, source accuracy before/after.
  *Equal wall-clock*: the budget ``B`` is ``--budget-s`` or the median wall time of
  ``pathnet_transfer``; a baseline's result at ``B`` is read from its recorded learning
  curves: its learning-rate grid runs one rate after the other, so each rate gets ``B /
  len(lrs)`` seconds; on each rate's curve the checkpoint with the best *validation*
  accuracy within that time is the one early stopping would have restored, and the rate
  whose checkpoint is best on validation is chosen; its test accuracy is reported. PathNet
  methods are reported at their own budget, which is ``B`` for ``pathnet_transfer`` and
  printed for ``pathnet_target``.
* ``search``: PathNet settings compared on *training data only*: in each of the first
  ``--search-folds`` folds the fold's training subjects are cut into fit / validation /
  inner held-out subjects; a source PathNet is trained per setting, then the target task;
  the score is accuracy on the inner held-out subjects (never the test fold).
* ``speed``: generations per minute of the default configuration vs the straightforward
  reference (L=4, M=10, N=3, population 20, T=50, pair_batched=False), interleaved in one
  process on the target data (one torch thread each; run with 2 processes at most).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_METHODS = ("pathnet_transfer", "pathnet_target", "cnn_scratch", "finetune")

#: the EvolutionConfig defaults before this study; every search setting is written relative
#: to them, so the search reproduces whatever the current defaults are
OLD_DEFAULTS = {
    "population": 16,
    "steps_per_path": 10,
    "lr": 1e-3,
    "augment": False,
    "finish_steps": 300,
    "finish_patience": 4,
    "seed_frozen_fraction": 0.0,
    "frozen_slots": 0,
    "transfer_lr_scale": 1.0,
}
_AUG = {**OLD_DEFAULTS, "augment": True, "lr": 3e-3}
_FIN = {**_AUG, "finish_steps": 1000, "finish_patience": 6}

#: the settings tried by ``--mode search`` (PathNetConfig / EvolutionConfig overrides),
#: run with ``--search-generations 30`` on 2 shared cores
SEARCH: dict[str, dict[str, dict[str, Any]]] = {
    "old_defaults": {"evolution": OLD_DEFAULTS},
    "augment_lr3e-3": {"evolution": _AUG},
    "aug_lr3_finish1000": {"evolution": _FIN},
    "aug_lr3_seed_slots1": {"evolution": {**_AUG, "seed_frozen_fraction": 0.25, "frozen_slots": 1}},
    "aug_lr3_lrscale0.3": {"evolution": {**_AUG, "transfer_lr_scale": 0.3}},
    "aug_lr3_fin1000_seed_slots1": {
        "evolution": {**_FIN, "seed_frozen_fraction": 0.25, "frozen_slots": 1}
    },
    "aug_lr3_fin1000_seed_slots2": {
        "evolution": {**_FIN, "seed_frozen_fraction": 0.25, "frozen_slots": 2}
    },
    "aug_lr3_fin1000_seed.5_slots1_lrs.3": {
        "evolution": {
            **_FIN,
            "seed_frozen_fraction": 0.5,
            "frozen_slots": 1,
            "transfer_lr_scale": 0.3,
        }
    },
    "lr1e-3_fin1000_seed_slots1": {
        "evolution": {**_FIN, "lr": 1e-3, "seed_frozen_fraction": 0.25, "frozen_slots": 1}
    },
    "defaults_T20_g30": {"evolution": {"steps_per_path": 20}},
    "defaults_M6": {"pathnet": {"modules": 6}},
}


#: options that only act on a task learnt after a frozen one (not on the source task)
TRANSFER_ONLY = ("seed_frozen_fraction", "frozen_slots", "transfer_lr_scale")


def source_key(pathnet: dict[str, Any], evolution: dict[str, Any]) -> str:
    """Folder name of a source model: a hash of the settings that shape the source task,
    so settings differing only in transfer options share one source model."""
    from pathfer.models.pathnet import EvolutionConfig, PathNetConfig

    # resolved against the current defaults, so a changed default never reuses a stale model
    pn = PathNetConfig.from_dict(pathnet).as_dict()
    ev = EvolutionConfig.from_dict(evolution).as_dict()
    ev = {k: v for k, v in ev.items() if k not in TRANSFER_ONLY}
    blob = json.dumps({"pathnet": pn, "evolution": ev}, sort_keys=True, default=str)
    return "src-" + hashlib.sha1(blob.encode()).hexdigest()[:10]


def _threads() -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("PATHFER_THREADS", 1)))


# ----------------------------------------------------------------------------- data
def experiment_config(args: argparse.Namespace, run: str = "bench"):
    from pathfer.data import synthetic
    from pathfer.study.experiments.config import config_from_dict

    work = Path(args.work)
    savee, ent = work / "corpora" / "savee", work / "corpora" / "enterface"
    if not (savee / ".complete").exists():
        synthetic.make_savee(savee, clips_per_emotion=args.savee_clips, frames=args.frames, seed=1)
        (savee / ".complete").touch()
    if not (ent / ".complete").exists():
        synthetic.make_enterface(
            ent, subjects=args.subjects, sentences=args.sentences, frames=args.frames, seed=2
        )
        (ent / ".complete").touch()
    return config_from_dict(
        {
            "name": run,
            "kind": "transfer",
            "sources": [{"corpus": "savee", "path": str(savee)}],
            "target": {"corpus": "enterface", "path": str(ent)},
            "labels": "shared",
            "cache": str(work / "cache"),
            "workers": 1,
            "preparation": {"frames": args.sampled},
            "split": {"kind": "group_kfold", "k": args.folds},
            "seeds": list(args.seeds),
            "train": json.loads(args.train),
            "pathnet": json.loads(args.pathnet),
            "evolution": json.loads(args.evolution),
        }
    )


def clip_accuracy(proba: np.ndarray, y: np.ndarray, clips: np.ndarray) -> float:
    import pandas as pd

    df = pd.DataFrame(proba)
    df["clip"], df["y"] = clips, y
    g = df.groupby("clip")
    pred = g[list(range(proba.shape[1]))].mean().to_numpy().argmax(1)
    return float((pred == g["y"].first().to_numpy()).mean())


# ----------------------------------------------------------------------------- jobs
def _source_job(spec: dict[str, Any]) -> dict[str, Any]:
    from pathfer.study.experiments import methods as M
    from pathfer.study.experiments import runner

    _threads()
    cfg = spec["cfg"]
    tasks = [runner.source_task(v, cfg, spec["seed"]) for v in spec["plan"].sources]
    info = M.train_sources(
        spec["family"],
        tasks,
        spec["seed"],
        spec["pathnet"],
        spec["evolution"],
        cfg.train,
        Path(spec["source_dir"]),
    )
    return {"key": spec["key"], "info": info}


def _inner_task(view, split, cfg, seed):
    """Fit / validation / inner held-out subjects, all from the fold's *training* part."""
    from pathfer.study.experiments import runner

    ds = view.load()
    outer = runner.validation_cut(ds, split.train_idx, cfg.split.val_fraction, seed)
    inner = runner.validation_cut(ds, outer.train_idx, cfg.split.val_fraction, seed + 1)
    return runner._task(view.name, ds, inner.train_idx, inner.test_idx, outer.test_idx)


def _method_job(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    from pathfer.study.experiments import methods as M
    from pathfer.study.experiments import runner

    _threads()
    cfg, plan, seed, split = spec["cfg"], spec["plan"], spec["seed"], spec["split"]
    if spec.get("inner"):
        target = _inner_task(plan.target, split, cfg, seed)
    else:
        target = runner.fold_task(plan.target, split, cfg, seed)
    method = spec["method"]
    sources = (
        [runner.source_task(v, cfg, seed) for v in plan.sources] if M.needs_source(method) else []
    )
    data = M.FoldData(
        target=target,
        seed=seed,
        pathnet=spec["pathnet"],
        evolution=spec["evolution"],
        train=cfg.train,
        source_dir=Path(spec["source_dir"]),
        sources=sources,
    )
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    out = M.METHODS.get(method)(data)
    wall = time.perf_counter() - t0
    y = target.test.y.numpy()
    ex = out.extra
    keep = (
        "lr",
        "val_acc",
        "generations",
        "stop_reason",
        "evolution_val_acc",
        "final_val_acc",
        "finish_gain",
        "frozen_reused",
        "source_acc_before",
        "source_acc_after",
    )
    rec = {
        "key": spec["key"],
        "method": method,
        "variant": spec.get("variant", method),
        "fold": split.name,
        "seed": seed,
        "frame_acc": float((out.proba.argmax(1) == y).mean()),
        "clip_acc": clip_accuracy(out.proba, y, target.test.clip_ids),
        "train_time_s": float(out.train_time_s),
        "wall_s": wall,
        "n_fit": len(target.fit.y),
        "n_val": len(target.val.y),
        "n_test": len(y),
        **{k: ex[k] for k in keep if k in ex},
    }
    if "lr_search" in ex:
        rec["curves"] = [
            {"lr": t["lr"], "curve": t.get("learning_curve", [])} for t in ex["lr_search"]
        ]
    if "history" in ex:
        h = ex["history"]
        rec["winner_beats_loser"] = float(
            np.mean([r["winner_fitness"] > r["loser_fitness"] for r in h]) if h else np.nan
        )
        rec["final_diversity"] = h[-1]["diversity"] if h else None
    return rec


def _run(jobs: list[tuple[Any, dict]], workers: int) -> list[dict[str, Any]]:
    if workers <= 1 or len(jobs) <= 1:
        return [f(s) for f, s in jobs]
    # spawned workers: the driver has run OpenCV (prepare), whose thread pools do not fork
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futs = [pool.submit(f, s) for f, s in jobs]
        return [f.result() for f in futs]


def _log_done(recs: list[dict[str, Any]]) -> None:
    for r in recs:
        if "frame_acc" in r:
            print(
                f"  {r['variant']:<24} {r['fold']:<8} frame {r['frame_acc']:.3f} "
                f"clip {r['clip_acc']:.3f} {r['wall_s']:.0f}s",
                flush=True,
            )


# ----------------------------------------------------------------------------- equal time
def at_budget(curves: list[dict[str, Any]], budget_s: float) -> float | None:
    """Test accuracy of the checkpoint early stopping + lr choice would give within
    ``budget_s`` (the grid's rates share it equally; see the module docstring)."""
    share = budget_s / max(1, len(curves))
    best = None
    for c in curves:
        pts = [p for p in c["curve"] if p["time_s"] <= share]
        if not pts:
            continue
        p = max(pts, key=lambda q: q["val_acc"])  # first best (ties: earlier)
        if best is None or p["val_acc"] > best["val_acc"]:
            best = p
    return None if best is None else float(best["test_acc"])


# ----------------------------------------------------------------------------- modes
def mode_bench(args, cfg, plan) -> dict[str, Any]:
    from pathfer.models.pathnet import EvolutionConfig
    from pathfer.study.experiments import methods as M

    work = Path(args.work)
    methods = args.methods.split(",")
    variants = {m: (m, cfg.pathnet.as_dict(), cfg.evolution.as_dict()) for m in methods}
    if args.paper:
        variants["pathnet_transfer@paper"] = (
            "pathnet_transfer",
            cfg.pathnet.as_dict(),
            EvolutionConfig.reference(generations=args.paper_generations).as_dict(),
        )
    tag = f"bench_f{args.folds}"
    src_jobs = []
    fams = {}
    for name, (m, pn, ev) in variants.items():
        fam = M.needs_source(m)
        if fam:
            if fam == "pathnet":
                key = source_key(pn, ev)
            else:
                blob = json.dumps([pn, dataclasses.asdict(cfg.train)], sort_keys=True)
                key = "cnn-" + hashlib.sha1(blob.encode()).hexdigest()[:10]
            sdir = work / "sources" / f"{tag}_{key}"
            fams[name] = sdir
            for seed in cfg.seeds:
                if (sdir / f"{fam}_seed{seed}.json").exists() or any(
                    j[1]["source_dir"] == str(sdir) for j in src_jobs
                ):
                    continue
                src_jobs.append(
                    (
                        _source_job,
                        {
                            "key": name,
                            "cfg": cfg,
                            "plan": plan,
                            "seed": seed,
                            "family": fam,
                            "pathnet": pn,
                            "evolution": ev,
                            "source_dir": str(sdir),
                        },
                    )
                )
    t0 = time.perf_counter()
    sources = _run(src_jobs, args.workers)
    print(f"sources trained in {time.perf_counter() - t0:.0f}s: {len(sources)} model(s)")
    jobs = []
    for seed in cfg.seeds:
        for split in plan.folds:
            for name, (m, pn, ev) in variants.items():
                jobs.append(
                    (
                        _method_job,
                        {
                            "key": name,
                            "variant": name,
                            "cfg": cfg,
                            "plan": plan,
                            "seed": seed,
                            "split": split,
                            "method": m,
                            "pathnet": pn,
                            "evolution": ev,
                            "source_dir": str(fams.get(name, work / "sources" / "none")),
                        },
                    )
                )
    recs = _run(jobs, args.workers)
    _log_done(recs)
    src_info = {}
    for name, sdir in fams.items():
        for seed in cfg.seeds:
            fam = M.needs_source(variants[name][0])
            p = sdir / f"{fam}_seed{seed}.json"
            if p.exists():
                src_info[f"{name}/seed{seed}"] = json.loads(p.read_text())
    pn_times = [r["train_time_s"] for r in recs if r["variant"] == "pathnet_transfer"]
    budget = args.budget_s or (statistics.median(pn_times) if pn_times else None)
    for r in recs:
        if "curves" in r and budget:
            r["acc_at_budget"] = at_budget(r.pop("curves"), budget)
        elif r["method"].startswith("pathnet"):
            r.pop("curves", None)
            r["acc_at_budget"] = r["frame_acc"] if r["train_time_s"] <= 1.1 * budget else None
    summary = summarise(recs, budget)
    print_bench(summary, budget, src_info)
    return {"budget_s": budget, "runs": recs, "summary": summary, "sources": src_info}


def summarise(recs: list[dict[str, Any]], budget: float | None) -> list[dict[str, Any]]:
    out = []
    for v in dict.fromkeys(r["variant"] for r in recs):
        rs = [r for r in recs if r["variant"] == v]

        def ms(key, rs=rs):
            vals = [r[key] for r in rs if r.get(key) is not None]
            if not vals:
                return None, None
            return float(np.mean(vals)), float(np.std(vals))

        row = {"method": v, "runs": len(rs)}
        for k in (
            "frame_acc",
            "clip_acc",
            "acc_at_budget",
            "train_time_s",
            "source_acc_before",
            "source_acc_after",
            "generations",
            "frozen_reused",
            "winner_beats_loser",
            "finish_gain",
        ):
            row[k], row[k + "_std"] = ms(k)
        out.append(row)
    return out


def _f(v, std=None, pct=True):
    if v is None:
        return "-"
    s = f"{100 * v:.1f}" if pct else f"{v:.0f}"
    if std is not None:
        s += f" ± {100 * std:.1f}" if pct else f" ± {std:.0f}"
    return s


def print_bench(summary, budget, src_info) -> None:
    print(f"\nequal wall-clock budget B = {budget:.0f} s per fold (target training)")
    head = (
        "| method | frame acc % | clip acc % | frame acc % at B | wall s | "
        "source acc before -> after % |"
    )
    print(head + "\n|" + "---|" * 6)
    for r in summary:
        src = "-"
        if r["source_acc_before"] is not None:
            src = f"{_f(r['source_acc_before'])} -> {_f(r['source_acc_after'])}"
        print(
            f"| {r['method']} | {_f(r['frame_acc'], r['frame_acc_std'])} | "
            f"{_f(r['clip_acc'], r['clip_acc_std'])} | "
            f"{_f(r['acc_at_budget'], r['acc_at_budget_std'])} | "
            f"{_f(r['train_time_s'], r['train_time_s_std'], pct=False)} | {src} |"
        )
    for k, info in src_info.items():
        accs = ", ".join(f"{t['name']} {100 * t['test_acc']:.1f}%" for t in info["tasks"])
        print(f"source {k}: {accs}, trained in {info['train_time_s']:.0f}s")


def mode_search(args, cfg, plan) -> dict[str, Any]:
    names = args.configs.split(",") if args.configs else list(SEARCH)
    work = Path(args.work)
    folds = plan.folds[: args.search_folds]
    settings = {}
    for n in names:
        ov = SEARCH[n]
        pn = {**cfg.pathnet.as_dict(), **ov.get("pathnet", {})}
        ev = {**cfg.evolution.as_dict(), **ov.get("evolution", {})}
        if args.search_generations:
            ev.setdefault("generations", args.search_generations)
        settings[n] = (pn, ev)
    src_jobs, tgt_jobs = [], []
    for n, (pn, ev) in settings.items():
        sdir = work / "search" / "sources" / source_key(pn, ev)
        for seed in cfg.seeds:
            if not (sdir / f"pathnet_seed{seed}.json").exists() and not any(
                j[1]["source_dir"] == str(sdir) for j in src_jobs
            ):
                src_jobs.append(
                    (
                        _source_job,
                        {
                            "key": n,
                            "cfg": cfg,
                            "plan": plan,
                            "seed": seed,
                            "family": "pathnet",
                            "pathnet": pn,
                            "evolution": ev,
                            "source_dir": str(sdir),
                        },
                    )
                )
            for split in folds:
                for m in args.search_methods.split(","):
                    tgt_jobs.append(
                        (
                            _method_job,
                            {
                                "key": n,
                                "variant": f"{n}:{m}",
                                "cfg": cfg,
                                "plan": plan,
                                "seed": seed,
                                "split": split,
                                "method": m,
                                "pathnet": pn,
                                "evolution": ev,
                                "source_dir": str(sdir),
                                "inner": True,
                            },
                        )
                    )
    t0 = time.perf_counter()
    _run(src_jobs, args.workers)
    print(f"search sources: {time.perf_counter() - t0:.0f}s", flush=True)
    recs = _run(tgt_jobs, args.workers)
    _log_done(recs)
    summary = summarise(recs, None)
    print("\n| setting:method | inner held-out frame acc % | clip % | val acc % | s | gens |")
    print("|---|---|---|---|---|---|")
    for r in summary:
        vals = [x.get("final_val_acc") for x in recs if x["variant"] == r["method"]]
        va = float(np.mean([v for v in vals if v is not None])) if any(vals) else None
        print(
            f"| {r['method']} | {_f(r['frame_acc'], r['frame_acc_std'])} | "
            f"{_f(r['clip_acc'])} | {_f(va)} | {_f(r['train_time_s'], pct=False)} | "
            f"{_f(r['generations'], pct=False)} |"
        )
    return {"settings": settings, "runs": recs, "summary": summary}


def mode_speed(args, cfg, plan) -> dict[str, Any]:
    from pathfer.models.pathnet import EvolutionConfig, PathNet, PathNetConfig
    from pathfer.study.experiments import runner

    _threads()
    target = runner.fold_task(plan.target, plan.folds[0], cfg, 0)
    size = int(target.fit.x.shape[-1])
    configs = {
        "default": (
            PathNetConfig.from_dict({**cfg.pathnet.as_dict(), "input_size": size}),
            cfg.evolution,
        ),
        "reference": (
            PathNetConfig(layers=4, modules=10, max_active=3, input_size=size),
            EvolutionConfig(population=20, steps_per_path=50, pair_batched=False),
        ),
    }
    per_gen: dict[str, list[float]] = {k: [] for k in configs}
    for rep in range(args.speed_reps + 1):  # the first repetition warms up
        for name, (pc, ec) in configs.items():
            gens = args.speed_generations
            ec = dataclasses.replace(ec, generations=gens, finish_steps=0, patience=None)
            pn = PathNet(pc, seed=rep)
            res = pn.learn_task(
                "t",
                target.fit.x,
                target.fit.y,
                len(target.labels),
                evolution=ec,
                x_val=target.val.x,
                y_val=target.val.y,
            )
            if rep:
                per_gen[name].append(res.wall_time / res.generations)
    rows = {}
    for name, vals in per_gen.items():
        s = statistics.median(vals)
        rows[name] = {"s_per_generation": s, "generations_per_min": 60 / s}
    ratio = rows["default"]["generations_per_min"] / rows["reference"]["generations_per_min"]
    steps = {
        n: 2 * c[1].steps_per_path * rows[n]["generations_per_min"] for n, c in configs.items()
    }
    print("\n| config | s / generation | generations / min | path-steps / min |")
    print("|---|---|---|---|")
    for n, r in rows.items():
        print(
            f"| {n} | {r['s_per_generation']:.2f} | {r['generations_per_min']:.1f} | "
            f"{steps[n]:.0f} |"
        )
    print(f"default / reference generations per minute: {ratio:.2f}x")
    return {"rows": rows, "ratio": ratio, "path_steps_per_min": steps, "n_fit": len(target.fit.y)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mode", choices=("bench", "search", "speed", "all"), default="all")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "pathfer_bench_transfer"))
    ap.add_argument("--out", default=None, help="JSON results (a CSV of runs is written next)")
    ap.add_argument("--savee-clips", type=int, default=4, help="clips per emotion and speaker")
    ap.add_argument("--subjects", type=int, default=10, help="eNTERFACE-style subjects")
    ap.add_argument("--sentences", type=int, default=2)
    ap.add_argument("--frames", type=int, default=12, help="frames generated per clip")
    ap.add_argument("--sampled", type=int, default=6, help="frames sampled per clip")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--workers", type=int, default=2, help="processes (one thread each)")
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    ap.add_argument("--paper", action="store_true", help="also run EvolutionConfig.reference()")
    ap.add_argument("--paper-generations", type=int, default=30)
    ap.add_argument("--budget-s", type=float, default=None, help="equal wall-clock budget")
    ap.add_argument("--pathnet", default="{}", help="PathNetConfig overrides (JSON)")
    ap.add_argument("--evolution", default="{}", help="EvolutionConfig overrides (JSON)")
    ap.add_argument("--train", default="{}", help="TrainBudget overrides (JSON)")
    ap.add_argument("--configs", default=None, help="search settings (default: all)")
    ap.add_argument("--search-folds", type=int, default=1)
    ap.add_argument("--search-methods", default="pathnet_transfer")
    ap.add_argument("--search-generations", type=int, default=None)
    ap.add_argument("--speed-reps", type=int, default=2)
    ap.add_argument("--speed-generations", type=int, default=3)
    args = ap.parse_args(argv)
    os.environ.setdefault("PATHFER_THREADS", "1")
    _threads()

    from pathfer.study.experiments.runner import make_plan

    cfg = experiment_config(args)
    plan = make_plan(cfg, log=print)
    print(
        f"target {plan.target.name}: {len(plan.target.index)} frames, {len(plan.folds)} folds; "
        f"labels {plan.labels}"
    )
    results: dict[str, Any] = {"args": vars(args)}
    t0 = time.perf_counter()
    if args.mode in ("speed", "all"):
        results["speed"] = mode_speed(args, cfg, plan)
    if args.mode in ("search", "all"):
        results["search"] = mode_search(args, cfg, plan)
    if args.mode in ("bench", "all"):
        results["bench"] = mode_bench(args, cfg, plan)
    results["wall_s"] = time.perf_counter() - t0
    print(f"\ntotal {results['wall_s']:.0f}s")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, default=str))
        runs = [r for k in ("search", "bench") if k in results for r in results[k]["runs"]]
        if runs:
            cols = sorted({c for r in runs for c in r if not isinstance(r[c], (list, dict))})
            with out.with_suffix(".csv").open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
                w.writeheader()
                w.writerows(runs)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
