"""The report's training sections: accuracy over wall-clock time, equal-budget tables,
PathNet's evolution beside its path picture, and the run folders' other pictures."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pathfer.runtime.files import atomic_write_text
from pathfer.study.report import curves as C
from pathfer.study.report import plots
from pathfer.study.report.analysis import Report
from pathfer.study.report.document import Image
from pathfer.study.report.formatting import experiment_heading, mean_std

MAX_ARTIFACT_IMAGES = 60
BUDGET_FRACTIONS = (0.25, 0.5, 1.0)


def _curve_key(curves: Mapping[str, list[list[dict[str, Any]]]]) -> str | None:
    """The first accuracy field every method's curves record (so all methods are compared
    on the same quantity); failing that, the first any curve records."""

    def has(runs: list[list[dict[str, Any]]], key: str) -> bool:
        return any(key in p and p[key] is not None for c in runs for p in c)

    for key in C.CURVE_ACC_KEYS:
        if all(has(runs, key) for runs in curves.values()):
            return key
    for key in C.CURVE_ACC_KEYS:
        if any(has(runs, key) for runs in curves.values()):
            return key
    return None


def learning_curves(r: Report) -> None:
    per_run: dict[str, dict[str, list[list[dict[str, Any]]]]] = {}
    for run in r.runs:
        for method in r.methods_of(run):
            runs = [C.record_curve(rec) for rec in r.records_of(run, method)]
            if any(runs):
                per_run.setdefault(run, {})[r.label(method, run)] = [c for c in runs if c]
    if not per_run:
        return
    key = _curve_key({f"{run}/{m}": c for run, cs in per_run.items() for m, c in cs.items()})
    r.doc.h(2, "Accuracy versus wall-clock time")
    r.doc.p(f"Learning curves (`{key}`) as recorded during training, one line per run.")
    panels = [
        plots.Panel(run, curves, plots.chance_level(r.records_of(run)))
        for run, curves in per_run.items()
    ]
    png = plots.learning_curves_figure(panels, key)
    r.doc.img_row([r.figure("learning_curves", "Accuracy versus time", png)])
    _equal_budget(r, list(per_run), key)


def _equal_budget(r: Report, runs: Sequence[str], key: str | None) -> None:
    tables = []
    for run in runs:
        records = [rec for rec in r.records_of(run) if C.record_curve(rec)]
        budget = C.common_budget(records, key)
        if budget is None:
            continue
        if not tables:
            r.doc.h(3, "Equal wall-clock budget")
            r.doc.p(
                f"Accuracy (`{key}`) of the last curve point at or before each budget; the "
                "full budget B is the earliest end of any run's curve in the experiment, so "
                "every run is compared on equal time. Cells show mean ± std (runs with a "
                "point inside the budget / runs with a curve)."
            )
        by_frac = {f: C.equal_budget(records, budget * f, key) for f in BUDGET_FRACTIONS}
        experiment_heading(r, run, level=4, note=f": B = {budget:.1f} s")
        rows = []
        for method in by_frac[1.0]["method"]:
            cells = [r.label(method, run)]
            for frac in BUDGET_FRACTIONS:
                t = by_frac[frac]
                row = t[t.method == method].iloc[0]
                cell = mean_std({"a_mean": row.acc_mean, "a_std": row.acc_std}, "a")
                cells.append(f"{cell} ({row.n_at_budget}/{row.n})")
            rows.append(cells)
        r.doc.table(
            ["method"] + [f"{frac:g} B = {budget * frac:.1f} s" for frac in BUDGET_FRACTIONS],
            rows,
        )
        tables += [t.assign(run=run) for t in by_frac.values()]
    if tables:
        r.paths.equal_budget_csv = r.paths.out_dir / "equal_budget.csv"
        atomic_write_text(r.paths.equal_budget_csv, pd.concat(tables).to_csv(index=False))


def _history(rec: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    extra = rec.get("extra") or {}
    hist = extra.get("history")
    ok = isinstance(hist, list) and hist and isinstance(hist[0], Mapping)
    return hist if ok else None


def _is_path_picture(name: str) -> bool:
    """``<tag>__paths.png`` (as the PathNet methods write them) or ``..._path.png``."""
    return re.search(r"(^|_)paths?\.png$", name.lower()) is not None


def _path_picture(r: Report, run: str, rec: Mapping[str, Any]) -> Path | None:
    """The PathNet path picture a record names (``extra.path_images``), if it exists."""
    names = (rec.get("extra") or {}).get("path_images") or []
    by_name = {a.name: a for a in r.source(run).artifacts}
    return next((by_name[n] for n in names if _is_path_picture(n) and n in by_name), None)


def pathnet(r: Report) -> set[Path]:
    """Evolution curves of each PathNet method beside its first run's path picture;
    returns the artifacts shown."""
    shown: set[Path] = set()
    started = False
    for run in r.runs:
        for method in r.methods_of(run):
            recs = [rec for rec in r.records_of(run, method) if _history(rec)]
            if not recs:
                continue
            if not started:
                r.doc.h(2, "PathNet evolution and paths")
                r.doc.p(
                    "Left: per tournament, the best path's fitness (its validation accuracy) "
                    "and the population mean on the top axis; the number of distinct paths "
                    "in the population and the frozen (source) modules the best path reuses "
                    "on the bottom axis. Right: the super-network after the first run, each "
                    "task's best path in its colour, frozen modules with a thick black edge."
                )
                started = True
            label = r.label(method, run)
            r.doc.h(3, f"{label} ({run})" if r.merged else label)
            histories = {f"{rec['fold']}/seed{rec['seed']}": _history(rec) for rec in recs}
            png = plots.evolution_figure(histories, label)
            name = r.file_name("evolution", run if r.merged else "", label)
            images = [r.figure(name, f"{label}: evolution", png)]
            picture = _path_picture(r, run, recs[0])
            if picture is not None:
                shown.add(picture)
                caption = f"{label}: paths after {recs[0]['fold']}, seed {recs[0]['seed']}"
                images.append(Image(caption, picture.read_bytes(), _rel(r, picture)))
            r.doc.img_row(images)
    return shown


def _rel(r: Report, path: Path) -> str:
    return os.path.relpath(path, r.paths.out_dir).replace(os.sep, "/")


def artifacts(r: Report, shown: set[Path] = frozenset()) -> None:
    """The other pictures of the run folders: path pictures embedded two by two, the
    rest (per-run evolution plots) linked."""
    items = [(s, a) for s in r.sources for a in s.artifacts if a not in shown]
    if not items:
        return
    r.doc.h(2, "Artifacts")
    paths = [(s, a) for s, a in items if _is_path_picture(a.name)]
    others = [(s, a) for s, a in items if not _is_path_picture(a.name)]
    embedded = paths[:MAX_ARTIFACT_IMAGES]
    if embedded:
        r.doc.h(3, "PathNet paths of every run")
        images = [
            Image(f"{s.name}/{a.name}" if r.merged else a.name, a.read_bytes(), _rel(r, a))
            for s, a in embedded
        ]
        for i in range(0, len(images), 2):
            r.doc.img_row(images[i : i + 2])
    rest = paths[MAX_ARTIFACT_IMAGES:] + others
    if rest:
        r.doc.h(3, "Other pictures")
        r.doc.bullets([f"`{_rel(r, a)}`" for _, a in rest])


def pathnet_and_artifacts(r: Report) -> None:
    """The PathNet section, then the pictures it did not show."""
    artifacts(r, pathnet(r))
