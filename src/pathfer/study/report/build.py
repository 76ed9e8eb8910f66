"""Build the run report: metrics tables (CSV/JSON), summary, paired tests, Markdown and HTML.

``write_report(run_dir)`` reads a run folder::

    run_dir/config.yaml                    resolved configuration (copied into the report)
    run_dir/command.txt                    exact command that produced the run
    run_dir/results/<method>__<fold>__seed<k>.json   one result record each
    run_dir/artifacts/*.png                optional PathNet path pictures, evolution curves

and writes into ``out_dir`` (default ``run_dir``): ``metrics.csv`` / ``metrics.json`` (one
row per method x fold x seed), ``summary.csv``, ``paired.csv``, ``equal_budget.csv`` (when
learning curves exist), ``figures/*.png``, ``report.md`` (figures linked) and
``report.html`` (self-contained: figures and artifacts inline as base64 PNG).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from pathfer.study.report import metrics as M
from pathfer.study.report import plots
from pathfer.study.results import atomic_write_text, load_results, to_jsonable

DEFAULT_REFERENCE = "pathnet_transfer"
PAIRED_METRICS = ("clip_acc", "clip_uar", "frame_acc", "frame_uar")
MAX_ARTIFACT_IMAGES = 60
BUDGET_FRACTIONS = (0.25, 0.5, 1.0)
HISTORY_KEYS = ("history", "evolution_history", "evolution")
METRIC_COLUMNS = [
    "run",
    "method",
    "fold",
    "seed",
    "frame_acc",
    "frame_uar",
    "clip_acc",
    "clip_uar",
    "forgetting",
    "source_acc_before",
    "source_acc_after",
    "train_time_s",
    "n_frames",
    "n_clips",
]


@dataclass
class RunSource:
    """One run folder feeding a report."""

    name: str
    path: Path
    command: str | None = None
    config_text: str | None = None
    artifacts: list[Path] = field(default_factory=list)

    @classmethod
    def read(cls, run_dir: str | Path, name: str | None = None) -> RunSource:
        run_dir = Path(run_dir)
        cmd = run_dir / "command.txt"
        cfg = run_dir / "config.yaml"
        art = run_dir / "artifacts"
        return cls(
            name=name or run_dir.resolve().name,
            path=run_dir,
            command=cmd.read_text(encoding="utf-8").strip() if cmd.is_file() else None,
            config_text=cfg.read_text(encoding="utf-8") if cfg.is_file() else None,
            artifacts=sorted(art.glob("*.png")) if art.is_dir() else [],
        )

    def method_order(self) -> list[str]:
        """``methods`` listed in the config (its order is the report's order), if any."""
        if not self.config_text:
            return []
        try:
            cfg = yaml.safe_load(self.config_text)
        except yaml.YAMLError:
            return []
        methods = cfg.get("methods") if isinstance(cfg, dict) else None
        if not isinstance(methods, list):
            return []
        out = []
        for m in methods:
            name = m.get("name") if isinstance(m, dict) else m
            if isinstance(name, str):
                out.append(name)
        return out


@dataclass
class ReportPaths:
    """Files written by :func:`write_report` / :func:`merge_reports`."""

    out_dir: Path
    metrics_csv: Path
    metrics_json: Path
    summary_csv: Path
    paired_csv: Path
    report_md: Path
    report_html: Path
    equal_budget_csv: Path | None = None
    figures: list[Path] = field(default_factory=list)


# ----------------------------------------------------------------------------- document


class _Doc:
    """A tiny document model rendered to both Markdown and HTML."""

    def __init__(self) -> None:
        self.blocks: list[tuple] = []

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: Sequence[str]) -> None:
        self.blocks.append(("ul", list(items)))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.blocks.append(("table", list(header), [list(map(str, r)) for r in rows]))

    def code(self, text: str, lang: str = "") -> None:
        self.blocks.append(("code", text, lang))

    def img(self, title: str, png: bytes, md_src: str) -> None:
        self.blocks.append(("img", title, png, md_src))

    def markdown(self) -> str:
        out: list[str] = []
        for b in self.blocks:
            kind = b[0]
            if kind == "h":
                out.append("#" * b[1] + " " + b[2])
            elif kind == "p":
                out.append(b[1])
            elif kind == "ul":
                out.append("\n".join(f"- {item}" for item in b[1]))
            elif kind == "table":
                cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
                lines = [
                    "| " + " | ".join(cell(c) for c in b[1]) + " |",
                    "|" + "|".join("---" for _ in b[1]) + "|",
                ]
                lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in b[2]]
                out.append("\n".join(lines))
            elif kind == "code":
                fence = "````" if "```" in b[1] else "```"
                out.append(f"{fence}{b[2]}\n{b[1].rstrip()}\n{fence}")
            elif kind == "img":
                out.append(f"![{b[1]}]({b[3]})")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        esc = html.escape
        body: list[str] = []
        for b in self.blocks:
            kind = b[0]
            if kind == "h":
                body.append(f"<h{b[1]}>{esc(b[2])}</h{b[1]}>")
            elif kind == "p":
                body.append(f"<p>{_inline_html(b[1])}</p>")
            elif kind == "ul":
                body.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in b[1]) + "</ul>")
            elif kind == "table":
                head = "".join(f"<th>{_inline_html(c)}</th>" for c in b[1])
                rows = "".join(
                    "<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in r) + "</tr>"
                    for r in b[2]
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif kind == "code":
                body.append(f"<pre><code>{esc(b[1].rstrip())}</code></pre>")
            elif kind == "img":
                data = base64.b64encode(b[2]).decode("ascii")
                body.append(
                    f'<figure><img alt="{esc(b[1])}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{esc(b[1])}</figcaption></figure>"
                )
        css = (
            "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;"
            "padding:0 1em;color:#222}table{border-collapse:collapse;margin:1em 0;"
            "font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
            "th:first-child,td:first-child{text-align:left}thead{background:#f2f2f2}"
            "pre{background:#f6f6f6;padding:0.8em;overflow-x:auto}"
            "img{max-width:100%}figure{margin:1em 0}figcaption{font-size:0.85em;color:#555}"
        )
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(title)}</title><style>{css}</style></head><body>\n"
            + "\n".join(body)
            + "\n</body></html>\n"
        )


def _inline_html(text: str) -> str:
    """Escape, then render Markdown ``**bold**`` and ``code`` spans."""
    out = html.escape(str(text))
    parts = out.split("**")
    out = (
        "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
        if len(parts) % 2
        else out
    )
    parts = out.split("`")
    if len(parts) % 2:
        out = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    return out


# ----------------------------------------------------------------------------- formatting


def _f(x: Any, digits: int = 3) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(x) else f"{x:.{digits}f}"


def _ms(row: Mapping[str, Any], metric: str, digits: int = 3) -> str:
    mean, std = row.get(f"{metric}_mean", math.nan), row.get(f"{metric}_std", math.nan)
    if mean is None or math.isnan(float(mean)):
        return "–"
    if std is None or math.isnan(float(std)):
        return f"{float(mean):.{digits}f}"
    return f"{float(mean):.{digits}f} ± {float(std):.{digits}f}"


def _p(x: Any) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(x):
        return "–"
    return f"{x:.2e}" if x < 1e-3 else f"{x:.3f}"


def _jsonable_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [to_jsonable(r) for r in df.astype(object).where(df.notna(), None).to_dict("records")]


# ----------------------------------------------------------------------------- analysis


def _order_methods(records: Sequence[Mapping[str, Any]], preferred: Sequence[str]) -> list[str]:
    present = list(dict.fromkeys(r["method"] for r in records))
    return [m for m in preferred if m in present] + [m for m in present if m not in preferred]


def _check_unique(records: Sequence[Mapping[str, Any]]) -> None:
    seen: set[tuple[str, str, str]] = set()
    for r in records:
        key = (str(r["method"]), str(r["fold"]), str(r["seed"]))
        if key in seen:
            raise ValueError(f"duplicate result for method={key[0]} fold={key[1]} seed={key[2]}")
        seen.add(key)


def _confusions(records: Sequence[Mapping[str, Any]], methods: Sequence[str]):
    """Clip-level confusion counts per method, summed over its runs (labels unioned by name)."""
    out: dict[str, tuple[np.ndarray, list[str], int]] = {}
    for method in methods:
        recs = [r for r in records if r["method"] == method]
        labels: list[str] = []
        per_run = []
        for r in recs:
            y, proba, ids, k = M.record_arrays(r)
            names = list(r.get("labels") or [str(i) for i in range(k)])
            labels += [n for n in names if n not in labels]
            y_clip, p_clip, _ = M.clip_level(y, proba, ids)
            per_run.append((names, y_clip, np.argmax(p_clip, axis=1)))
        cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
        index = {n: i for i, n in enumerate(labels)}
        for names, y_clip, pred in per_run:
            remap = np.array([index[n] for n in names])
            cm += M.confusion(remap[y_clip], remap[pred], len(labels))
        out[method] = (cm, labels, len(recs))
    return out


def _histories(records: Sequence[Mapping[str, Any]], methods: Sequence[str]):
    out: dict[str, list[list[dict[str, Any]]]] = {}
    for method in methods:
        for r in records:
            if r["method"] != method:
                continue
            extra = r.get("extra") or {}
            hist = next((extra[k] for k in HISTORY_KEYS if extra.get(k)), None)
            if isinstance(hist, list) and hist and isinstance(hist[0], Mapping):
                out.setdefault(method, []).append(hist)
    return out


def _curves(records: Sequence[Mapping[str, Any]], methods: Sequence[str]):
    out: dict[str, list[list[dict[str, Any]]]] = {}
    for method in methods:
        for r in records:
            if r["method"] == method and M.record_curve(r):
                out.setdefault(method, []).append(M.record_curve(r))
    return out


def _curve_key(curves: Mapping[str, list[list[dict[str, Any]]]]) -> str | None:
    """The first accuracy field every method's curves record (so all methods are compared
    on the same quantity); failing that, the first any curve records."""

    def has(runs: list[list[dict[str, Any]]], key: str) -> bool:
        return any(key in p and p[key] is not None for c in runs for p in c)

    for key in M.CURVE_ACC_KEYS:
        if all(has(runs, key) for runs in curves.values()):
            return key
    for key in M.CURVE_ACC_KEYS:
        if any(has(runs, key) for runs in curves.values()):
            return key
    return None


def _pick_reference(methods: Sequence[str], reference: str | None) -> str | None:
    if reference is not None:
        if reference not in methods:
            raise ValueError(f"reference method {reference!r} has no results; have {methods}")
        return reference
    if DEFAULT_REFERENCE in methods:
        return DEFAULT_REFERENCE
    suffixed = [m for m in methods if m.endswith(":" + DEFAULT_REFERENCE)]
    if suffixed:
        return suffixed[0]
    return methods[0] if methods else None


def _sort_key(col: pd.Series) -> pd.Series:
    return col if pd.api.types.is_numeric_dtype(col) else col.astype(str)


# ----------------------------------------------------------------------------- report


def _build(
    records: list[dict[str, Any]],
    sources: list[RunSource],
    out_dir: Path,
    title: str,
    reference: str | None,
    run_of: Mapping[int, str],
    preferred: Sequence[str],
) -> ReportPaths:
    _check_unique(records)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig_dir = out_dir / "figures"
    methods = _order_methods(records, preferred)
    ref = _pick_reference(methods, reference)

    # per-run metrics
    scores = M.score_table(records)
    scores.insert(0, "run", [run_of[i] for i in range(len(records))])
    scores = scores.reindex(columns=METRIC_COLUMNS)
    order = {m: i for i, m in enumerate(methods)}
    scores = (
        scores.assign(_o=scores["method"].map(order))
        .sort_values(["_o", "run", "fold", "seed"], key=_sort_key, kind="mergesort")
        .drop(columns="_o")
        .reset_index(drop=True)
    )
    paths = ReportPaths(
        out_dir=out_dir,
        metrics_csv=out_dir / "metrics.csv",
        metrics_json=out_dir / "metrics.json",
        summary_csv=out_dir / "summary.csv",
        paired_csv=out_dir / "paired.csv",
        report_md=out_dir / "report.md",
        report_html=out_dir / "report.html",
    )
    atomic_write_text(paths.metrics_csv, scores.to_csv(index=False))
    atomic_write_text(paths.metrics_json, json.dumps(_jsonable_rows(scores), indent=1))

    summary = M.summarize(scores)
    atomic_write_text(paths.summary_csv, summary.to_csv(index=False))
    paired = (
        M.compare_to_reference(scores, ref, PAIRED_METRICS)
        if ref is not None
        else M.compare_to_reference(scores.iloc[:0], "", PAIRED_METRICS)
    )
    atomic_write_text(paths.paired_csv, paired.to_csv(index=False))

    doc = _Doc()
    doc.h(1, title)
    folds = sorted({str(f) for f in scores["fold"]})
    seeds = sorted({str(s) for s in scores["seed"]})
    doc.bullets(
        [
            f"generated {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
            f"{len(records)} result(s): {len(methods)} method(s) x {len(folds)} fold(s) "
            f"x {len(seeds)} seed(s) (folds: {', '.join(folds) or '–'}; seeds: "
            f"{', '.join(seeds) or '–'})",
            "run folder(s): " + ", ".join(f"`{s.path}`" for s in sources),
            "tables: `metrics.csv` / `metrics.json` (one row per run), `summary.csv`, `paired.csv`",
        ]
    )
    if not records:
        doc.p("**No results found.** Nothing to summarise yet.")

    # reproduce
    doc.h(2, "Reproduce")
    for s in sources:
        if len(sources) > 1:
            doc.h(3, s.name)
        doc.code(s.command or "(command.txt missing: the exact command was not recorded)", "sh")

    # summary
    doc.h(2, "Summary")
    doc.p(
        "Mean ± sample standard deviation (ddof=1) over all runs (folds x seeds) of each "
        "method; `n` is the number of runs, every one of which is included. UAR is the mean "
        "recall over the classes present in a test fold. Clip predictions average the "
        "frame probabilities of the clip. Forgetting = source accuracy before minus after "
        "learning the target (methods with a source only)."
    )
    header = [
        "method",
        "n",
        "clip acc",
        "clip UAR",
        "frame acc",
        "frame UAR",
        "forgetting",
        "train time (s)",
    ]
    rows = []
    for _, r in summary.iterrows():
        name = f"**{r['method']}** (ref)" if r["method"] == ref else r["method"]
        rows.append(
            [
                name,
                int(r["n"]),
                _ms(r, "clip_acc"),
                _ms(r, "clip_uar"),
                _ms(r, "frame_acc"),
                _ms(r, "frame_uar"),
                _ms(r, "forgetting"),
                _ms(r, "train_time_s", 1),
            ]
        )
    doc.table(header, rows)

    # completeness
    grid = {(str(f), str(s)) for f, s in zip(scores["fold"], scores["seed"], strict=True)}
    missing_lines = []
    for method in methods:
        have = {
            (str(f), str(s))
            for f, s in zip(
                scores.loc[scores.method == method, "fold"],
                scores.loc[scores.method == method, "seed"],
                strict=True,
            )
        }
        miss = sorted(grid - have)
        if miss:
            ex = ", ".join(f"{f}/seed{s}" for f, s in miss[:8])
            missing_lines.append(
                f"`{method}`: {len(miss)} of {len(grid)} fold x seed pairs "
                f"missing ({ex}{', ...' if len(miss) > 8 else ''})"
            )
    if missing_lines:
        doc.h(3, "Incomplete methods")
        doc.p(
            "These methods lack results for fold x seed pairs other methods have; their "
            "means are over fewer runs and paired tests use only the common pairs."
        )
        doc.bullets(missing_lines)

    figures: list[Path] = []

    def add_figure(name: str, caption: str, png: bytes) -> None:
        path = fig_dir / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        figures.append(path)
        doc.img(caption, png, f"figures/{name}.png")

    if len(summary):
        add_figure("methods", "Methods: mean ± sample std over runs", plots.bar_chart(summary))

    # paired comparisons
    if ref is not None and len(methods) > 1:
        doc.h(2, f"Paired comparisons against {ref}")
        doc.p(
            f"Each method is paired with `{ref}` on the same fold and seed; difference = "
            "method - reference. Two-sided paired t-test and Wilcoxon signed-rank test "
            "(zero differences dropped; exact for up to 20 pairs, normal approximation "
            "above). p-values are not corrected for multiple comparisons; with few pairs "
            "the exact Wilcoxon test cannot go below 2/2^n (0.0625 for n=5)."
        )
        rows = [
            [
                r["method"],
                r["metric"],
                int(r["n"]),
                _f(r["mean_a"]),
                _f(r["mean_b"]),
                ("+" if r["mean_diff"] > 0 else "") + _f(r["mean_diff"]),
                _p(r["t_pvalue"]),
                f"{_p(r['wilcoxon_pvalue'])} ({r['wilcoxon_method']})",
            ]
            for _, r in paired.iterrows()
        ]
        doc.table(
            [
                "method",
                "metric",
                "n pairs",
                "method mean",
                "reference mean",
                "difference",
                "t-test p",
                "Wilcoxon p",
            ],
            rows,
        )

    _learning_curve_section(doc, summary)

    # per-run table
    doc.h(2, "Per-run metrics")
    cols = [
        "run",
        "method",
        "fold",
        "seed",
        "clip_acc",
        "clip_uar",
        "frame_acc",
        "frame_uar",
        "forgetting",
        "train_time_s",
        "n_clips",
    ]
    if len(sources) == 1:
        cols.remove("run")
    rows = [
        [
            (
                _f(r[c], 1 if c == "train_time_s" else 3)
                if c not in ("run", "method", "fold", "seed", "n_clips")
                else r[c]
            )
            for c in cols
        ]
        for _, r in scores.iterrows()
    ]
    doc.table(cols, rows)

    # confusion matrices
    if records:
        doc.h(2, "Confusion matrices")
        doc.p(
            "Clip level, counts summed over all runs (folds x seeds) of each method; rows "
            "are true classes, colour is the row-normalised recall."
        )
        add_figure(
            "confusion",
            "Clip-level confusion matrices",
            plots.confusion_grid(_confusions(records, methods)),
        )

    # learning curves and equal budget
    curves = _curves(records, methods)
    if curves:
        key = _curve_key(curves)
        doc.h(2, "Accuracy versus wall-clock time")
        doc.p(f"Learning curves (`{key}`) as recorded during training, one line per run.")
        add_figure("learning_curves", "Accuracy versus time", plots.learning_curves(curves, key))
        budget = M.common_budget(records, key)
        if budget is not None:
            tables = {
                frac: M.equal_budget(records, budget * frac, key) for frac in BUDGET_FRACTIONS
            }
            doc.h(3, "Equal wall-clock budget")
            doc.p(
                f"Accuracy (`{key}`) of the last curve point at or before each budget; the "
                f"full budget B = {budget:.1f} s is the earliest end of any run's curve, so "
                "every run is compared on equal time. Cells show mean ± std (runs with a "
                "point inside the budget / runs with a curve)."
            )
            merged = []
            for method in curves:
                row = [method]
                for frac in BUDGET_FRACTIONS:
                    t = tables[frac]
                    r = t[t.method == method].iloc[0]
                    row.append(
                        f"{_ms({'a_mean': r.acc_mean, 'a_std': r.acc_std}, 'a')} "
                        f"({r.n_at_budget}/{r.n})"
                    )
                merged.append(row)
            doc.table(
                ["method"] + [f"{frac:g} B = {budget * frac:.1f} s" for frac in BUDGET_FRACTIONS],
                merged,
            )
            paths.equal_budget_csv = out_dir / "equal_budget.csv"
            atomic_write_text(
                paths.equal_budget_csv, pd.concat(list(tables.values())).to_csv(index=False)
            )

    # evolution
    histories = _histories(records, methods)
    if histories:
        doc.h(2, "PathNet evolution")
        add_figure("evolution", "Evolution history per method", plots.evolution_curves(histories))

    # artifacts
    artifacts = [(s, a) for s in sources for a in s.artifacts]
    if artifacts:
        doc.h(2, "Artifacts")
        groups = [
            ("PathNet paths", lambda n: "path" in n),
            ("Evolution curves", lambda n: "evol" in n),
            ("Other pictures", lambda n: True),
        ]
        shown = 0
        done: set[Path] = set()
        for heading, match in groups:
            items = [(s, a) for s, a in artifacts if a not in done and match(a.name.lower())]
            if not items:
                continue
            doc.h(3, heading)
            for s, a in items:
                done.add(a)
                if shown >= MAX_ARTIFACT_IMAGES:
                    continue
                shown += 1
                rel = os.path.relpath(a, out_dir).replace(os.sep, "/")
                caption = f"{s.name}/{a.name}" if len(sources) > 1 else a.name
                doc.img(caption, a.read_bytes(), rel)
        if len(artifacts) > shown:
            doc.p(
                f"{len(artifacts) - shown} more picture(s) not embedded; see the artifacts "
                "folder(s)."
            )

    # config
    doc.h(2, "Resolved configuration")
    for s in sources:
        if len(sources) > 1:
            doc.h(3, s.name)
        doc.code(s.config_text or "(config.yaml missing)", "yaml")

    paths.figures = figures
    atomic_write_text(paths.report_md, doc.markdown())
    atomic_write_text(paths.report_html, doc.html(title))
    return paths


def _learning_curve_section(doc: Any, summary: pd.DataFrame) -> None:
    """Clip accuracy against the number of target training subjects (``method@Nsubj``)."""
    parsed = summary["method"].str.extract(r"^(?P<base>.+)@(?P<n>\d+)subj$")
    if parsed["n"].isna().all():
        return
    bases = list(dict.fromkeys(parsed["base"].dropna()))
    ns = sorted({int(n) for n in parsed["n"].dropna()})
    by_name = {m: r for m, (_, r) in zip(summary["method"], summary.iterrows(), strict=True)}
    doc.h(2, "Target training subjects")
    doc.p(
        "Clip accuracy (mean ± std over runs) when each fold keeps only N of its training "
        "subjects (a seeded, nested choice); 'all' is the full fold."
    )
    rows = []
    for base in bases:
        row = [base]
        for n in ns:
            r = by_name.get(f"{base}@{n}subj")
            row.append(_ms(r, "clip_acc") if r is not None else "–")
        full = by_name.get(base)
        row.append(_ms(full, "clip_acc") if full is not None else "–")
        rows.append(row)
    doc.table(["method", *[f"N={n}" for n in ns], "all"], rows)


def write_report(
    run_dir: str | Path,
    records: Iterable[Mapping[str, Any]] | None = None,
    out_dir: str | Path | None = None,
    reference: str | None = None,
) -> ReportPaths:
    """Write metrics tables and the Markdown/HTML report of one run folder.

    ``records`` overrides the results read from ``run_dir/results``; ``reference`` is the
    method every other is paired against (default ``pathnet_transfer`` when present, else
    the first method); outputs go to ``out_dir`` (default ``run_dir``).
    """
    source = RunSource.read(run_dir)
    recs = [dict(r) for r in records] if records is not None else load_results(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir)
    return _build(
        recs,
        [source],
        out,
        f"pathfer report: {source.name}",
        reference,
        {i: source.name for i in range(len(recs))},
        source.method_order(),
    )


def merge_reports(
    run_dirs: Sequence[str | Path], out_dir: str | Path, reference: str | None = None
) -> ReportPaths:
    """One report over several run folders.

    A method name present in more than one run becomes ``<run name>:<method>`` (run name =
    folder name, made unique with ``-2``, ``-3``... when folders share a name); names unique
    to one run stay as they are. Every run's command and configuration are included.
    """
    sources: list[RunSource] = []
    used: set[str] = set()
    for d in run_dirs:
        base = Path(d).resolve().name
        name, k = base, 1
        while name in used:
            k += 1
            name = f"{base}-{k}"
        used.add(name)
        sources.append(RunSource.read(d, name))
    per_run = [(s, load_results(s.path)) for s in sources]
    owners: dict[str, set[str]] = {}
    for s, recs in per_run:
        for r in recs:
            owners.setdefault(r["method"], set()).add(s.name)
    records: list[dict[str, Any]] = []
    run_of: dict[int, str] = {}
    for s, recs in per_run:
        for r in recs:
            r = dict(r)
            if len(owners[r["method"]]) > 1:
                r["method"] = f"{s.name}:{r['method']}"
            run_of[len(records)] = s.name
            records.append(r)
    preferred = []  # each run's config order, runs in the order given, renamed
    for s, recs in per_run:
        for m in s.method_order() + [r["method"] for r in recs]:
            name = f"{s.name}:{m}" if len(owners.get(m, ())) > 1 else m
            if name not in preferred:
                preferred.append(name)
    title = "pathfer merged report: " + ", ".join(s.name for s in sources)
    return _build(records, sources, Path(out_dir), title, reference, run_of, preferred)
