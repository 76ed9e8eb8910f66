"""Every method on real labelled faces: the development loop behind pathfer's defaults.

    PATHFER_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_real.py DEVFACES --out DIR

``DEVFACES`` holds the two public sets of issue 10, fetched by you and never committed
(their licences forbid redistribution): ``CK+48/<emotion>/S###_###_########.png`` (48x48
face crops; the subject is ``S###``) and ``wild/images/*.jpg`` + ``wild/legend.csv``
(photos; the identity is the file name before the last ``_NNNN``). The script writes, under
``DIR``, only text and results: YAML corpus specs (``specs/``: CK+48 with ``detector:
none``; the wild photos with a capped labels file, at most ``--cap`` images per class of
the six basic emotions, so happiness does not swamp the rest), a generated synthetic
corpus, experiment configs (``configs/``), run folders (``runs/``, each made by ``pathfer
experiment run`` and timed), ``bench_real.md`` / ``bench_real.json`` and
``readme_tables.md`` (from ``scripts/readme_tables.py``). It never copies an image.

Studies (``--studies``, in this order by default), every one with 5 subject-independent
folds and validation subjects carved from each fold's training part:

* ``crops``: the wild photos' crop for the FER2013 mini-Xception, by zero-shot accuracy
  (no training): margins x equalisation, each a run of ``mini_xception_zeroshot``;
* ``lr``: CK+48 -> wild with a two-rate grid for the CNNs and the mini-Xception; each
  fold's rate is chosen on its validation subjects (nested), and the choices are counted;
* ``c2w``: CK+48 -> wild photos, the closest proxy of the hidden test; first the seven
  methods of issue 10 (timed: the 15-minute goal), then every other method (timed);
* ``w2c``: wild -> CK+48; ``ck``: within CK+48 by subjects; ``syn2c``: synthetic -> CK+48;
* ``curves`` (the headline study, only when named): both dev directions (run folders
  ``curves-c2w`` and ``curves-w2c``) with only N of each fold's target training subjects
  (``--target-subjects``, default 2,4,8,16) and on the full fold, over ``--seeds``
  (default 0,1,2), every method of ``--methods`` (default all, the references included).
  ``bench_real.md`` gets a "Learning curves" section per direction: the run report's
  figure (linked), test accuracy and CPU seconds per size, paired differences per size
  with 95 % t-intervals over folds (:mod:`pathfer.study.report.sizes`), and the command::

      PATHFER_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_real.py DEVFACES \\
          --out DIR --studies curves --target-subjects 2,4,8,16 --seeds 0,1,2 --folds 5

``--target-subjects`` and ``--seeds`` also apply to ``c2w`` and ``w2c`` when given (by
default those run the full folds once, seed 0).

Choices read validation accuracy only (``val_acc`` of each result); test numbers are
reported for what was chosen and choose nothing.

Comparing a variant with the default (``--compare``), on runs of the same folds, e.g. with
choice subjects held out (``split: {choice_fraction: 0.2}``) and several seeds spread over
several run folders::

    python benchmarks/bench_real.py --compare RUNS/default,RUNS/default-s12 RUNS/variant

Each side is ``RUN[,RUN...][:METHODS]``: the results of its run folders pooled (seeds from
different folders). Per method and metric (choice, validation and test accuracy) it prints
both means, the per-fold differences (variant minus default, the seeds both sides have
averaged within each fold: a fold is one pair, as the run report pairs them), how many of
the (fold, seed) runs the variant won, and scipy's paired t-test and Wilcoxon p-values
(``pathfer.study.report.stats``). ``A:pathnet_transfer B:finetune`` pairs two methods.
Runs whose folds hold other test clips are refused.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from pathfer.data import emotions, synthetic
from pathfer.study.experiments.methods import METHODS
from pathfer.study.report import RunSource, sizes
from pathfer.study.report.metrics import score_table, summarize
from pathfer.study.report.stats import fold_means, paired_test
from pathfer.study.results import load_results

SIX = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
#: the seven methods of issue 10's table: the 15-minute budget is for these
SEVEN = [
    "pathnet_transfer",
    "pathnet_target",
    "cnn_scratch",
    "finetune",
    "feature_extraction",
    "mini_xception_zeroshot",
    "mini_xception_finetune",
]
STUDIES = ("crops", "lr", "c2w", "w2c", "ck", "syn2c")
#: studies run only when named in --studies
EXTRA_STUDIES = ("curves",)
#: the curves study's directions: (run folder, config it copies)
CURVES = (("curves-c2w", "c2w"), ("curves-w2c", "w2c"))
CURVE_SUBJECTS = [2, 4, 8, 16]
CURVE_SEEDS = [0, 1, 2]
CROP_VARIANTS = [(m, eq) for eq in (False, True) for m in (0.0, 0.05, 0.1, 0.15, 0.2, 0.25)]
LR_METHODS = ["cnn_scratch", "reference_cnn", "mini_xception_finetune"]
LR_GRID = [3e-3, 1e-3]
WORKERS_FOR_ESTIMATE = 2  # base rates: the mini-Xception trains at a tenth of each


# ----------------------------------------------------------------------------- corpora
def write_specs(devfaces: Path, out: Path, cap: int, seed: int = 0) -> dict[str, Path]:
    """YAML specs for the dev sets (and the wild set's capped labels file); no image copied."""
    ck, wild = devfaces / "CK+48", devfaces / "wild"
    for need in (ck, wild / "images", wild / "legend.csv"):
        if not need.exists():
            raise SystemExit(f"{need} is missing: DEVFACES must hold CK+48/ and wild/ (see --help)")
    out.mkdir(parents=True, exist_ok=True)
    specs = {"ck48": out / "ck48.yaml", "wild": out / "wild.yaml"}
    ck_spec = {
        "name": "ck48",
        "root": str(ck.resolve()),
        "glob": "*/*.png",
        "label": {"from": "parent"},
        "regex": r"(?P<subject>S\d+)_\d+_\d+\.png$",
        "labels": {"happy": "happiness"},
        "detector": "none",  # the files are face crops already
    }
    specs["ck48"].write_text(yaml.safe_dump(ck_spec, sort_keys=False))

    by_label: dict[str, set[str]] = {}
    with open(wild / "legend.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                label = emotions.canonical(row["emotion"].strip())
            except emotions.UnknownEmotionError:
                continue
            if label in SIX and (wild / "images" / row["image"]).is_file():
                by_label.setdefault(label, set()).add(row["image"])
    rng = np.random.default_rng(seed)
    chosen: list[tuple[str, str]] = []
    for label in SIX:
        names = sorted(by_label.get(label, ()))
        if len(names) > cap:
            names = sorted(names[i] for i in rng.permutation(len(names))[:cap])
        chosen += [(n, label) for n in names]
    labels_csv = out / "wild_labels.csv"
    with open(labels_csv, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "emotion"])
        w.writerows(sorted(chosen))
    wild_spec = {
        "name": "wild",
        "root": str(wild.resolve()),
        "glob": [f"images/{n}" for n, _ in sorted(chosen)],
        "labels_file": {"path": labels_csv.name, "image": "image", "label": "emotion"},
        # the identity: the file name before the last _NNNN (else the file itself)
        "regex": r"^images/(?P<subject>.+?)(?:_\d{4})?\.\w+$",
    }
    specs["wild"].write_text(yaml.safe_dump(wild_spec, sort_keys=False))
    counts = {lab: sum(1 for _, x in chosen if x == lab) for lab in SIX}
    print(f"wild: {len(chosen)} photos, capped at {cap} per class: {counts}")
    return specs


def make_synthetic(out: Path) -> Path:
    root = out / "syn_enterface"
    if not (root / ".complete").exists():
        synthetic.make_enterface(root, subjects=10, sentences=2, frames=12, seed=2)
        (root / ".complete").touch()
    return root


# ----------------------------------------------------------------------------- configs
def study_configs(
    specs: dict[str, Path], syn: Path, args: argparse.Namespace, methods: list[str]
) -> dict[str, dict[str, Any]]:
    common: dict[str, Any] = {
        "cache": str((args.out / "cache").resolve()),
        "seeds": args.seeds or [0],
        "workers": args.workers,
        "threads": 1,
        "split": {
            "kind": "group_kfold",
            "k": args.folds,
            **({"choice_fraction": args.choice_fraction} if args.choice_fraction else {}),
        },
    }
    if args.max_folds:
        common["max_folds"] = args.max_folds
    ck, wild = str(specs["ck48"]), str(specs["wild"])
    cfgs: dict[str, dict[str, Any]] = {}
    for margin, eq in CROP_VARIANTS:
        name = f"crops-m{margin:g}-{'eq' if eq else 'noeq'}"
        cfgs[name] = {
            **common,
            "name": name,
            "kind": "single",
            "target": wild,
            "labels": SIX,
            "methods": ["mini_xception_zeroshot"],
            "crops": {"mini_xception_zeroshot": {"margin": margin, "equalize": eq}},
        }
    transfer = {**common, "kind": "transfer", "labels": "shared"}
    cfgs["lr"] = {
        **transfer,
        "name": "lr",
        "sources": [ck],
        "target": wild,
        "methods": LR_METHODS,
        "train": {"lrs": LR_GRID},
    }
    sized = {"target_subjects": args.target_subjects} if args.target_subjects else {}
    cfgs["c2w"] = {
        **transfer,
        **sized,
        "name": "c2w",
        "sources": [ck],
        "target": wild,
        "methods": methods,
    }
    cfgs["w2c"] = {
        **transfer,
        **sized,
        "name": "w2c",
        "sources": [wild],
        "target": ck,
        "methods": methods,
    }
    for name, base in CURVES:
        cfgs[name] = {
            **cfgs[base],
            "name": name,
            "seeds": args.seeds or CURVE_SEEDS,
            "target_subjects": args.target_subjects or CURVE_SUBJECTS,
        }
    cfgs["ck"] = {
        **common,
        "name": "ck",
        "kind": "within",
        "target": ck,
        "labels": SIX,
        "within": {"by": "subjects", "a_fraction": 0.5},
        "methods": methods,
    }
    cfgs["syn2c"] = {
        **transfer,
        "name": "syn2c",
        "sources": [{"corpus": "enterface", "path": str(syn)}],
        "target": ck,
        "methods": methods,
    }
    return cfgs


# ----------------------------------------------------------------------------- running
def run_study(cfg: dict[str, Any], out: Path, log_dir: Path) -> float:
    """``pathfer experiment run`` on ``cfg`` (written to ``out/configs``); its wall time.

    A run folder of the study that already holds methods keeps them: ``cfg``'s methods are
    added after them (a run may add methods, not drop them), so ``--methods X`` adds X."""
    (out / "configs").mkdir(parents=True, exist_ok=True)
    recorded = out / "runs" / cfg["name"] / "config.yaml"
    if recorded.is_file():
        held = (yaml.safe_load(recorded.read_text()) or {}).get("methods") or []
        cfg = {**cfg, "methods": [*held, *(m for m in cfg["methods"] if m not in held)]}
    path = out / "configs" / f"{cfg['name']}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    exe = Path(sys.executable).with_name("pathfer")
    cmd = [str(exe), "experiment", "run", str(path), "--out", str(out / "runs" / cfg["name"])]
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"== {cfg['name']}: {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    with open(log_dir / f"{cfg['name']}.log", "a", encoding="utf-8") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - t0
    print(f"   {wall / 60:.1f} min, exit {rc}", flush=True)
    if rc not in (0, 1):  # 1: some jobs failed, the rest is saved and reported
        raise SystemExit(f"{cfg['name']} failed (exit {rc}); see {log_dir / cfg['name']}.log")
    return wall


def _val_acc(extra: dict[str, Any]) -> float | None:
    """A result's validation accuracy: ``val_acc`` (CNNs) or ``final_val_acc`` (PathNet)."""
    return extra.get("val_acc", extra.get("final_val_acc"))


def per_method(run: Path) -> list[dict[str, Any]]:
    """Test accuracy / UAR, validation accuracy, seconds per fold and forgetting per method."""
    records = load_results(run, strict=False)
    if not records:
        return []
    summary = summarize(records).set_index("method")
    rows = []
    for method in summary.index:
        recs = [r for r in records if r["method"] == method]
        val = [_val_acc(r["extra"]) for r in recs]
        val = [v for v in val if v is not None]
        s = summary.loc[method]
        cpu = [r["extra"].get("cpu_time_s") for r in recs]
        cpu = [c for c in cpu if c is not None]
        choice = [r["extra"]["choice_acc"] for r in recs if "choice_acc" in r["extra"]]
        rows.append(
            {
                "method": method,
                "folds": int(s["n_folds"]),
                "acc": 100 * s["frame_acc_mean"],
                "acc_std": 100 * s["frame_acc_std"],
                "uar": 100 * s["frame_uar_mean"],
                "val_acc": 100 * float(np.mean(val)) if val else float("nan"),
                # subjects no method saw (split.choice_fraction): for choosing variants
                "choice_acc": 100 * float(np.mean(choice)) if choice else float("nan"),
                "s_per_fold": float(s["train_time_s_mean"]),
                "cpu_s_per_fold": float(np.mean(cpu)) if cpu else float("nan"),
                "cpu_s": float(np.sum(cpu)) if cpu else float("nan"),
                "forgetting": 100 * s.get("forgetting_mean", float("nan")),
            }
        )
    return sorted(rows, key=lambda r: -r["acc"])


def cpu_seconds(run: Path, methods: list[str] | None = None) -> float:
    """CPU seconds of the run's jobs (``methods`` only, if given) and of its source models."""
    total = 0.0
    for r in load_results(run, strict=False):
        if methods is None or r["method"] in methods:
            total += float(r["extra"].get("cpu_time_s") or 0.0)
    families = {METHODS.meta(m).get("needs_source") for m in methods or METHODS.list()}
    for p in (run / "sources").glob("*.json"):
        if p.stem.rsplit("_seed", 1)[0] in families:
            total += float(json.loads(p.read_text()).get("cpu_time_s") or 0.0)
    return total


def crop_choice(runs: dict[str, Path]) -> dict[str, Any]:
    """Per fold, the crop variant with the best zero-shot validation accuracy (nested), and
    the test accuracy of that choice; also each variant's means."""
    per: dict[str, dict[str, tuple[float, float]]] = {}
    for name, run in runs.items():
        for r in load_results(run, strict=False):
            acc = float((np.argmax(r["proba"], 1) == r["y_true"]).mean())
            per.setdefault(name, {})[r["fold"]] = (r["extra"]["val_acc"], acc)
    folds = sorted({f for v in per.values() for f in v})
    chosen = {}
    for f in folds:
        best = max(per, key=lambda n: (per[n].get(f, (-1, 0))[0], n == "crops-m0.1-noeq"))
        chosen[f] = {"variant": best, "val": per[best][f][0], "test": per[best][f][1]}
    means = {
        n: {
            "val": 100 * float(np.mean([v[0] for v in d.values()])),
            "test": 100 * float(np.mean([v[1] for v in d.values()])),
        }
        for n, d in per.items()
    }
    nested = 100 * float(np.mean([c["test"] for c in chosen.values()])) if chosen else float("nan")
    return {"per_fold": chosen, "variants": means, "nested_test_acc": nested}


def lr_choice(run: Path) -> dict[str, Any]:
    """How often each learning rate won on validation subjects, per method."""
    out: dict[str, Any] = {}
    for r in load_results(run, strict=False):
        search = r["extra"].get("lr_search") or []
        won = r["extra"].get("lr")
        d = out.setdefault(r["method"], {"wins": {}, "val": {}})
        d["wins"][str(won)] = d["wins"].get(str(won), 0) + 1
        for t in search:
            d["val"].setdefault(str(t["lr"]), []).append(100 * t["val_acc"])
    for d in out.values():
        d["val"] = {k: float(np.mean(v)) for k, v in d["val"].items()}
    return out


def learning_curve(run: Path, out: Path) -> dict[str, Any]:
    """The curves study of one run folder: accuracy and CPU per method and size, paired
    differences per size (:mod:`pathfer.study.report.sizes`, on frame accuracy: the test
    accuracy of this benchmark's tables; the photos are single frames), and the run
    report's figure, as a path relative to ``out``."""
    records = load_results(run, strict=False)
    sz = sizes.analyse_sizes(records, "frame_acc", order=RunSource.read(run).method_order())
    if sz is None:
        return {}
    figure = run / "figures" / "target_subjects.png"
    return {
        "ns": sz.ns,
        "x_all": sz.x_all,
        "all_measured": sz.all_measured,
        "points": sz.points.to_dict("records"),
        "pairs": sz.pairs.to_dict("records"),
        "figure": os.path.relpath(figure, out) if figure.is_file() else None,
    }


def curve_lines(d: dict[str, Any]) -> list[str]:
    """Markdown of one direction of the curves study: figure, accuracy table, pairs."""
    sz = sizes.Sizes(
        metric="frame_acc",
        ns=list(d["ns"]),
        x_all=float(d["x_all"]),
        all_measured=bool(d["all_measured"]),
        points=pd.DataFrame(d["points"], columns=sizes.POINT_COLUMNS),
        pairs=pd.DataFrame(d["pairs"], columns=sizes.PAIR_COLUMNS),
    )
    lines = []
    if d.get("figure"):
        lines += [f"![test accuracy against target training subjects]({d['figure']})", ""]
    header, rows = sizes.curve_table(sz)
    lines += _md_table(header, rows)
    if not sz.pairs.empty:
        lines += ["", "Paired differences per size (A − B, points):", ""]
        lines += _md_table(sizes.PAIR_HEADER, sizes.pair_rows(sz))
    return lines


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(map(str, r)) + " |" for r in rows),
    ]


# ----------------------------------------------------------------------------- report
def _f(x: float, nd: int = 1) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{nd}f}"


def method_table(rows: list[dict[str, Any]]) -> list[str]:
    """A row per method; a ``run`` column when the rows come from several run folders."""
    runs = any("run" in r for r in rows)
    choice = any(not np.isnan(r.get("choice_acc", float("nan"))) for r in rows)
    lines = [
        "| method |"
        + (" run |" if runs else "")
        + " folds | test acc % | UAR % | val acc % |"
        + (" choice acc % |" if choice else "")
        + " s / fold (wall) | CPU s / fold | forgetting (points) |",
        "|---|"
        + ("---|" if runs else "")
        + ("---|" if choice else "")
        + "---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} |"
            + (f" {r.get('run', '')} |" if runs else "")
            + f" {r['folds']} | {_f(r['acc'])} ± {_f(r['acc_std'])} | {_f(r['uar'])} | "
            + f"{_f(r['val_acc'])} | "
            + (f"{_f(r.get('choice_acc', float('nan')))} | " if choice else "")
            + f"{_f(r['s_per_fold'], 0)} | "
            f"{_f(r.get('cpu_s_per_fold', float('nan')), 0)} | {_f(r['forgetting'])} |"
        )
    return lines


def combined_table(specs: list[str]) -> list[str]:
    """One table from several run folders of the same folds: ``RUN`` takes every method of
    a run, ``RUN:m1,m2`` only those (e.g. a variant's run for the methods it changed)."""
    rows = []
    for spec in specs:
        path, _, only = spec.partition(":")
        keep = {m for m in only.split(",") if m}
        run = Path(path)
        if not (run / "results").is_dir():
            raise SystemExit(f"{run} is not a run folder (no results/ in it)")
        rows += [{**r, "run": run.name} for r in per_method(run) if not keep or r["method"] in keep]
    return method_table(sorted(rows, key=lambda r: -r["acc"]))


# ----------------------------------------------------------------------------- variants
#: metrics of --compare: (column, label); val_acc is read from each result's extra
COMPARE_METRICS = [("choice_acc", "choice acc"), ("val_acc", "val acc"), ("frame_acc", "test acc")]


def _side(spec: str) -> tuple[list[Path], list[str], pd.DataFrame, dict[str, set]]:
    """Run folders, methods (maybe none) and the pooled score table of one --compare side,
    plus each fold's test clips (to refuse runs of other folds)."""
    paths_s, _, only = spec.partition(":")
    paths = [Path(s) for s in paths_s.split(",") if s]
    methods = [m for m in only.split(",") if m]
    records = []
    for run in paths:
        if not (run / "results").is_dir():
            raise SystemExit(f"{run} is not a run folder (no results/ in it)")
        records += [
            r for r in load_results(run, strict=False) if not methods or r["method"] in methods
        ]
    if not records:
        raise SystemExit(f"no results for {spec}")
    scores = score_table(records)
    scores["val_acc"] = [_val_acc(r["extra"]) for r in records]
    clips: dict[str, set] = {}
    for r in records:
        clips.setdefault(r["fold"], set()).update(map(str, r["clip_ids"]))
    return paths, methods, scores, clips


def compare_runs(base: str, variant: str) -> list[str]:
    """The --compare table: ``variant`` minus ``base``, method by method (see the module doc)."""
    _, ma, a, clips_a = _side(base)
    _, mb, b, clips_b = _side(variant)
    for fold in sorted(set(clips_a) & set(clips_b)):
        if clips_a[fold] != clips_b[fold]:
            raise SystemExit(
                f"{fold} holds other test clips in {base} and {variant}: compare runs of the "
                "same target, folds and split only"
            )
    if len(ma) == 1 and len(mb) == 1:
        pairs = [(ma[0], mb[0])]
    else:
        pairs = [(m, m) for m in a["method"].drop_duplicates() if m in set(b["method"])]
    if not pairs:
        raise SystemExit("the two sides share no method: name one per side (RUN:METHOD)")
    lines = [
        "| method | metric | default | variant | variant minus default, per fold | mean |"
        " variant higher (runs) | paired t p | Wilcoxon p |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m_a, m_b in pairs:
        both = pd.concat(
            [a[a["method"] == m_a].assign(method="A"), b[b["method"] == m_b].assign(method="B")]
        )
        name = m_a if m_a == m_b else f"{m_b} vs {m_a}"
        for col, label in COMPARE_METRICS:
            if col not in both or both[col].isna().all():  # e.g. no choice subjects
                continue
            var, dft, seeds = fold_means(both, "B", "A", col)
            if not dft:
                continue
            test = paired_test(var, dft)  # mean_a: the variant's, mean_b: the default's
            runs = both.pivot_table(index=["fold", "seed"], columns="method", values=col).dropna()
            folds = " ".join(f"{100 * (var[f] - dft[f]):+.1f}" for f in sorted(dft))
            lines.append(
                f"| {name} | {label} ({seeds} seed{'s' * (seeds > 1)}) | "
                f"{_f(100 * test['mean_b'])} | {_f(100 * test['mean_a'])} | {folds} | "
                f"{100 * test['mean_diff']:+.1f} | {int((runs['B'] > runs['A']).sum())} of "
                f"{len(runs)} | {_f(test['t_pvalue'], 2)} | {_f(test['wilcoxon_pvalue'], 2)} |"
            )
    return lines


def curves_section(curves: dict[str, Any]) -> list[str]:
    """The "Learning curves" section of bench_real.md: one subsection per direction."""
    lines = ["## Learning curves (test accuracy against target training subjects)", ""]
    lines += [
        "Every method with only N of each fold's target training subjects (a seeded, nested "
        "choice; the test fold unchanged) and on the full fold ('all'). Accuracy: frame "
        "accuracy in %, the mean over folds of the per-fold means (seeds averaged within a "
        "fold), ± half its 95% t-interval over folds (none below 3 folds). CPU s: mean "
        "process CPU seconds of one job (one fold, one seed), without the source model "
        "(trained once per seed). Paired differences: A − B in points on the folds both "
        "ran, 95% t-interval (scipy `ttest_rel`), paired t and Wilcoxon p; no interval and "
        "no p-value below 3 pairs. The run folder's report.html has the same figure and "
        "tables.",
        "",
    ]
    for name, d in curves.items():
        if not d.get("curve"):
            continue
        walls = ", ".join(f"{k} {v / 60:.1f} min" for k, v in d["wall_s"].items())
        cpu = ", ".join(f"{k} {v / 60:.1f} CPU min" for k, v in d.get("cpu_s", {}).items())
        lines += [f"### {name}", "", f"Command: `{d['command']}`", ""]
        lines += [f"Wall time: {walls}. Jobs and source models: {cpu}.", ""]
        lines += [*curve_lines(d["curve"]), ""]
    return lines


def write_report(out: Path, results: dict[str, Any]) -> None:
    lines = ["# Real-face dev studies (benchmarks/bench_real.py)", ""]
    lines.append(f"Command: `{results['command']}`")
    lines.append("")
    if "crops" in results:
        c = results["crops"]
        lines += ["## Crop of the wild photos (mini-Xception zero-shot, no training)", ""]
        lines += ["| variant | val acc % | test acc % |", "|---|---|---|"]
        for name, v in c["variants"].items():
            lines.append(f"| {name} | {_f(v['val'])} | {_f(v['test'])} |")
        picks = ", ".join(f"{f}: {p['variant']}" for f, p in c["per_fold"].items())
        lines += ["", f"Chosen per fold on validation: {picks}.", ""]
        lines.append(f"Test accuracy of the per-fold choice (nested): {_f(c['nested_test_acc'])}")
        lines.append("")
    if "lr" in results:
        lines += ["## Learning rates (CK+48 -> wild, chosen per fold on validation)", ""]
        for method, d in results["lr"]["choice"].items():
            val = ", ".join(f"{k}: {_f(v)}" for k, v in d["val"].items())
            lines.append(f"- {method}: wins {d['wins']}; mean val acc {val}")
        lines += ["", *method_table(results["lr"]["methods"]), ""]
    for name in ("c2w", "w2c", "ck", "syn2c"):
        if name not in results:
            continue
        r = results[name]
        walls = ", ".join(f"{k} {v / 60:.1f} min" for k, v in r["wall_s"].items())
        cpu = ", ".join(
            f"{k} {v / 60:.1f} CPU min ({v / 60 / WORKERS_FOR_ESTIMATE:.1f} min on "
            f"{WORKERS_FOR_ESTIMATE} idle cores)"
            for k, v in r.get("cpu_s", {}).items()
        )
        lines += [f"## {name}", "", f"Wall time: {walls}. Jobs and source models: {cpu}.", ""]
        lines += [*method_table(r["methods"]), ""]
    if results.get("curves"):
        lines += curves_section(results["curves"])
    (out / "bench_real.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "bench_real.json").write_text(json.dumps(results, indent=1, default=float) + "\n")


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated integers") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("devfaces", type=Path, nargs="?", help="folder holding CK+48/ and wild/")
    ap.add_argument("--out", type=Path, help="where specs, runs and tables go")
    ap.add_argument(
        "--studies",
        default=",".join(STUDIES),
        help=f"of {', '.join(STUDIES + EXTRA_STUDIES)} (default: all but curves)",
    )
    ap.add_argument("--methods", default="", help="comma-separated (default: every method)")
    ap.add_argument("--cap", type=int, default=300, help="wild photos per class, at most")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--max-folds", type=int, default=0, help="run only the first folds")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--choice-fraction",
        type=float,
        default=0.0,
        help="hold out this share of each fold's training subjects as choice subjects "
        "(scored only; on a learning curve cut before the N are drawn), e.g. 0.2",
    )
    ap.add_argument(
        "--target-subjects",
        type=_ints,
        default=None,
        help="N per fold for a learning curve, e.g. 2,4,8,16: c2w and w2c run with them too "
        f"(curves: {','.join(map(str, CURVE_SUBJECTS))} unless given)",
    )
    ap.add_argument(
        "--seeds",
        type=_ints,
        default=None,
        help=f"e.g. 0,1,2 (default: 0; curves: {','.join(map(str, CURVE_SEEDS))})",
    )
    ap.add_argument(
        "--table",
        nargs="+",
        metavar="RUN[:METHODS]",
        help="only print one table from these run folders (methods comma-separated)",
    )
    ap.add_argument(
        "--compare",
        nargs=2,
        metavar=("DEFAULT", "VARIANT"),
        help="only compare a variant with the default, fold by fold: RUN[,RUN...][:METHODS] each",
    )
    args = ap.parse_args(argv)
    if args.compare:
        print("\n".join(compare_runs(*args.compare)))
        return 0
    if args.table:
        print("\n".join(combined_table(args.table)))
        return 0
    if args.devfaces is None or args.out is None:
        ap.error("DEVFACES and --out are needed to run studies (or --table RUN...)")
    studies = [s.strip() for s in args.studies.split(",") if s.strip()]
    bad = [s for s in studies if s not in STUDIES + EXTRA_STUDIES]
    if bad:
        ap.error(f"unknown studies {bad}; choose from {', '.join(STUDIES + EXTRA_STUDIES)}")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] or METHODS.list()
    os.environ.setdefault("PATHFER_THREADS", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    specs = write_specs(args.devfaces, args.out / "specs", args.cap)
    syn = make_synthetic(args.out / "corpora") if "syn2c" in studies else args.out
    cfgs = study_configs(specs, syn, args, methods)
    logs, runs = args.out / "logs", args.out / "runs"
    json_path = args.out / "bench_real.json"
    results: dict[str, Any] = json.loads(json_path.read_text()) if json_path.is_file() else {}
    results["command"] = " ".join(
        ["benchmarks/bench_real.py", *[re.sub(r"\s", "", a) for a in sys.argv[1:]]]
    )
    for study in studies:
        if study == "crops":
            names = [n for n in cfgs if n.startswith("crops-")]
            for n in names:
                run_study(cfgs[n], args.out, logs)
            results["crops"] = crop_choice({n: runs / n for n in names})
        elif study == "curves":
            done = results.setdefault("curves", {})
            for name, _ in CURVES:
                wall = run_study(cfgs[name], args.out, logs)
                n = len(cfgs[name]["methods"])
                done[name] = {
                    "command": results["command"],
                    "methods": per_method(runs / name),
                    "wall_s": {f"{n} methods": wall},
                    "cpu_s": {f"{n} methods": cpu_seconds(runs / name)},
                    "curve": learning_curve(runs / name, args.out),
                }
                write_report(args.out, results)
        elif study == "lr":
            wall = run_study(cfgs["lr"], args.out, logs)
            results["lr"] = {
                "choice": lr_choice(runs / "lr"),
                "methods": per_method(runs / "lr"),
                "wall_s": {"grid": wall},
            }
        else:
            cfg = cfgs[study]
            wall: dict[str, float] = {}
            seven = [m for m in SEVEN if m in cfg["methods"]]
            if study == "c2w" and seven and set(seven) != set(cfg["methods"]):
                wall["7 methods"] = run_study({**cfg, "methods": seven}, args.out, logs)
                wall["the other methods"] = run_study(cfg, args.out, logs)
                wall["all methods"] = wall["7 methods"] + wall["the other methods"]
            else:
                wall[f"{len(cfg['methods'])} methods"] = run_study(cfg, args.out, logs)
            cpu = {f"{len(cfg['methods'])} methods": cpu_seconds(runs / study)}
            if "7 methods" in wall:
                cpu["7 methods"] = cpu_seconds(runs / study, seven)
            results[study] = {"methods": per_method(runs / study), "wall_s": wall, "cpu_s": cpu}
        write_report(args.out, results)
    main_runs = [s for s in ("c2w", "w2c", "ck", "syn2c") if (runs / s / "results").is_dir()]
    if main_runs:
        table = subprocess.run(
            [sys.executable, str(Path(__file__).parents[1] / "scripts" / "readme_tables.py")]
            + [str(runs / s) for s in main_runs]
            + ["--titles", *main_runs],
            capture_output=True,
            text=True,
        )
        (args.out / "readme_tables.md").write_text(table.stdout + table.stderr)
    print(f"report: {args.out / 'bench_real.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
