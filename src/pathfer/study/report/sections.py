"""The report's result sections: one function each, writing into ``report.doc``.

Each reads the tables :func:`~pathfer.study.report.analysis.analyse` computed and, where it
has a figure, renders it (:mod:`.plots`). In a merged report every section is split by
experiment (run folder), and methods are named within their experiment.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd

from pathfer.study.report import metrics as M
from pathfer.study.report import plots
from pathfer.study.report import sizes as Z
from pathfer.study.report import stats as S
from pathfer.study.report.analysis import Report
from pathfer.study.report.formatting import experiment_heading, fmt, mean_std, pvalue, summary_rows


def header(r: Report) -> None:
    scores = r.scores
    folds = sorted({str(f) for f in scores["fold"]})
    seeds = sorted({str(s) for s in scores["seed"]})
    r.doc.h(1, r.title)
    r.doc.bullets(
        [
            f"generated {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
            f"{len(r.records)} result(s): {len(r.methods)} method(s) x {len(folds)} fold(s) "
            f"x {len(seeds)} seed(s) (folds: {', '.join(folds) or '–'}; seeds: "
            f"{', '.join(seeds) or '–'})",
            ("experiments (run folders): " if r.merged else "run folder: ")
            + ", ".join(f"`{s.path}`" for s in r.sources),
            "tables: `metrics.csv` / `metrics.json` (one row per run), `summary.csv`, `paired.csv`",
        ]
    )
    if not r.records:
        r.doc.p("**No results found.** Nothing to summarise yet.")


def failures(r: Report) -> None:
    """The jobs of each run's last session that failed, with their first error line."""
    failed = [(s, f) for s in r.sources for f in s.failures]
    if not failed:
        return
    r.doc.h(2, "Failed jobs")
    r.doc.p(
        f"{len(failed)} job(s) failed in the last session (`failures.json` has their "
        "tracebacks); run the same command again to retry only them."
    )
    rows = [
        ([s.name] if r.merged else []) + [f["job"], (f["error"].strip().splitlines() or [""])[0]]
        for s, f in failed
    ]
    r.doc.table((["experiment"] if r.merged else []) + ["job", "error"], rows)


def reproduce(r: Report) -> None:
    r.doc.h(2, "Reproduce")
    for s in r.sources:
        if r.merged:
            r.doc.h(3, s.name)
        r.doc.code(s.command or "(command.txt missing: the exact command was not recorded)", "sh")


def summary(r: Report) -> None:
    if not r.records:
        return
    r.doc.h(2, "Summary")
    r.doc.p(
        "Mean ± sample standard deviation (ddof=1) over all runs (folds x seeds) of each "
        "method; `n` is the number of runs, every one of which is included. Accuracy and "
        "UAR are scikit-learn's `accuracy_score` and `balanced_accuracy_score` (UAR: mean "
        "recall over the classes present in a test fold). Clip predictions average the "
        "frame probabilities of the clip; peak clip predictions take the probabilities of "
        "the clip's frame furthest from neutral (its highest non-neutral probability is "
        "the largest). Forgetting = source accuracy before minus after "
        "learning the target (methods with a source only)."
    )
    shown = r.shown_metrics
    if r.stills:
        r.doc.p("Every clip here is one image, so clip and frame scores are equal: shown once.")
    # subjects no method saw (split.choice_fraction): a column only where a run had them
    choice = "choice_acc" in r.scores
    if choice:
        r.doc.p(
            "choice acc: frame accuracy on training subjects held out from every method "
            "(`split.choice_fraction`), for choosing between variants of a method."
        )
    header = ["method", "n", *(METRIC_NAMES[m] for m in shown), "forgetting", "train time (s)"]
    header += ["CPU (s)"]
    header += ["choice acc"] * choice
    panels = []
    for run in r.runs:
        rows = summary_rows(r, run)
        labels = [r.label(m, run) for m in rows["method"]]
        experiment_heading(r, run)
        table = []
        for label, (_, row) in zip(labels, rows.iterrows(), strict=True):
            name = f"**{label}** (ref)" if row["method"] == r.references.get(run) else label
            table.append(
                [name, int(row["n"])]
                + [mean_std(row, m) for m in shown]
                + [mean_std(row, "forgetting"), mean_std(row, "train_time_s", 1)]
                + [_cpu_mean_std(r.records_of(run, row["method"]))]
                + [mean_std(row, "choice_acc")] * choice
            )
        r.doc.table(header, table)
        chance = plots.chance_level(r.records_of(run))
        panels.append(plots.Panel(run, plots.labels_frame(rows, labels), chance))
    r.doc.p(
        "train time: wall-clock seconds of a job (one fold, one seed); CPU: its process CPU "
        "seconds (`extra.cpu_time_s`; – where the results do not record it), which a busy "
        "machine does not inflate. Neither counts a source model, trained once per seed."
    )
    if panels:
        caption = "Methods: mean ± sample std over runs" + (", per experiment" * r.merged)
        r.doc.img_row([r.figure("methods", caption, plots.methods_figure(panels, shown))])


def _cpu_mean_std(records: list[dict]) -> str:
    """Mean ± sample std of the jobs' CPU seconds; – unless every job recorded them."""
    cpu = pd.to_numeric(
        pd.Series([(rec.get("extra") or {}).get("cpu_time_s") for rec in records], dtype=object),
        errors="coerce",
    )
    if cpu.empty or cpu.isna().any():
        return "–"
    return mean_std({"cpu_mean": cpu.mean(), "cpu_std": cpu.std()}, "cpu", 1)


def completeness(r: Report) -> None:
    lines = []
    for run in r.runs:
        in_run = r.scores[r.scores["run"] == run]
        grid = {(str(f), str(s)) for f, s in zip(in_run["fold"], in_run["seed"], strict=True)}
        for method in r.methods_of(run):
            mine = in_run[in_run["method"] == method]
            have = {(str(f), str(s)) for f, s in zip(mine["fold"], mine["seed"], strict=True)}
            miss = sorted(grid - have)
            if miss:
                ex = ", ".join(f"{f}/seed{s}" for f, s in miss[:8])
                lines.append(
                    f"`{method}`: {len(miss)} of {len(grid)} fold x seed pairs "
                    f"missing ({ex}{', ...' if len(miss) > 8 else ''})"
                )
    if lines:
        r.doc.h(3, "Incomplete methods")
        r.doc.p(
            "These methods lack results for fold x seed pairs other methods of their "
            "experiment have; their means are over fewer runs and paired tests use only "
            "the common pairs."
        )
        r.doc.bullets(lines)


def paired(r: Report) -> None:
    if r.paired.empty:
        return
    refs = {r.label(m, run) for run, m in r.references.items()}
    title = f"Paired comparisons against {refs.pop()}" if len(refs) == 1 else "Paired comparisons"
    r.doc.h(2, title)
    r.doc.p(
        "Within each experiment, every method is paired with the experiment's reference on "
        "the same test folds; difference = method - reference. **Seeds are averaged within "
        "a fold before testing**: runs of one fold share their test subjects, so each fold "
        "gives one pair (the mean over the seeds both methods ran on it) and `n` counts "
        "folds. Methods of different experiments are never paired. Two-sided paired t-test "
        "and Wilcoxon signed-rank test (scipy; zero differences dropped; exact p-values "
        "without ties up to 50 folds and with ties up to 13, normal approximation above). "
        "p-values are not corrected for multiple comparisons; with n folds the exact "
        "Wilcoxon p cannot go below 2/2^n (0.5 for 2 folds, 0.0625 for 5)."
    )
    renamed = [m for run, m in r.references.items() if m != r.label(m, run)]
    if renamed:
        r.doc.p(
            "A method that several experiments ran is named `<experiment>:<method>` in "
            "`metrics.csv`, `summary.csv` and `paired.csv`; the references there are "
            + ", ".join(f"`{m}`" for m in renamed)
            + "."
        )
    r.doc.p(
        "Each cell: mean difference over folds (method - reference), then the t-test and "
        "the Wilcoxon p-values. The method means are in the summary above."
    )
    metrics = [m for m in dict.fromkeys(r.paired["metric"]) if m in r.shown_metrics]
    header = ["method", "folds (seeds each)", *(METRIC_NAMES.get(m, m) for m in metrics)]
    for run in r.runs:
        rows = r.paired[r.paired["run"] == run]
        if rows.empty:
            continue
        experiment_heading(r, run, note=f" (reference: {r.label(r.references[run], run)})")
        table = []
        for method, by_metric in rows.groupby("method", sort=False):
            cells = by_metric.set_index("metric")
            first = cells.iloc[0]
            folds = f"{int(first['n'])} ({int(first['n_seeds'])})"
            if int(first["n"]) >= S.MIN_PAIRS:
                folds += f", {first['wilcoxon_method']}"
            table.append([r.label(method, run), folds, *(_pair_cell(cells, m) for m in metrics)])
        r.doc.table(header, table)
    if (r.paired["n"] < S.MIN_PAIRS).any():
        r.doc.p(
            f"–: n < {S.MIN_PAIRS}: fewer than {S.MIN_PAIRS} folds, too few pairs for a test "
            "statistic or a p-value (only the mean difference is shown)."
        )


METRIC_NAMES = {
    "clip_acc": "clip acc",
    "clip_uar": "clip UAR",
    "clip_peak_acc": "peak clip acc",
    "clip_peak_uar": "peak clip UAR",
    "frame_acc": "frame acc",
    "frame_uar": "frame UAR",
}


def _pair_cell(cells: pd.DataFrame, metric: str) -> str:
    if metric not in cells.index:
        return "–"
    row = cells.loc[metric]
    diff = ("+" if row["mean_diff"] > 0 else "") + fmt(row["mean_diff"])
    return f"{diff} (t {pvalue(row['t_pvalue'])}, W {pvalue(row['wilcoxon_pvalue'])})"


def target_subjects(r: Report) -> None:
    """The learning curve over target training subjects (``method@Nsubj`` results): the
    figure, accuracy and CPU per size, and paired differences per size. It opens the
    report when a run has such results."""
    metric = r.shown_metrics[0] if r.records else "clip_acc"
    per_run = {}
    for run in r.runs:
        recs = [dict(rec, method=r.label(rec["method"], run)) for rec in r.records_of(run)]
        order = [r.label(m, run) for m in r.methods_of(run)]
        sz = Z.analyse_sizes(recs, metric, plots.chance_level(recs), order)
        if sz is not None:
            per_run[run] = sz
    if not per_run:
        return
    name = dict(plots.BAR_METRICS).get(metric, metric)
    placed = [
        f"{run}: 'all' at the mean count of training subjects its full folds record "
        f"({sz.x_all:.1f})"
        if sz.all_measured
        else f"{run}: 'all' one doubling right of the largest N, its segment dashed (the "
        "results do not record how many training subjects a full fold has)"
        for run, sz in per_run.items()
    ]
    r.doc.h(2, "Target training subjects: learning curves")
    r.doc.p(
        f"Test {name} (`{metric}`, %) when each fold keeps only N of its training subjects "
        "(a seeded, nested choice: the subjects of a smaller N are among those of a larger one; "
        "choice subjects, when a run holds some out, are cut before the N are drawn; "
        "validation subjects are cut from these N; the test fold is unchanged); 'all' is "
        "the full fold. Each point is the mean over folds of the per-fold means (**seeds "
        "averaged within a fold**: runs of one fold share their test subjects); band and "
        f"±: the 95% t-interval over folds (scipy), none with fewer than {S.MIN_PAIRS} "
        "folds. CPU s: the mean process CPU time of one job (one fold, one seed), not "
        "counting a source model, which is trained once per seed and serves every fold "
        "and size; '(wall)' marks wall-clock seconds where CPU time was not recorded. "
        + "; ".join(placed)
        + "."
    )
    panels = [plots.Panel(run, sz) for run, sz in per_run.items()]
    caption = f"Test {name} against target training subjects, 95% t-interval over folds"
    png = plots.subjects_figure(panels, name)
    r.doc.img_row([r.figure("target_subjects", caption, png)])
    for run, sz in per_run.items():
        experiment_heading(r, run)
        r.doc.table(*Z.curve_table(sz))
    pairs = {run: sz for run, sz in per_run.items() if not sz.pairs.empty}
    if not pairs:
        return
    r.doc.h(3, "Paired differences per size")
    r.doc.p(
        "A − B in percentage points of test accuracy, per size, on the folds both methods "
        "ran (seeds both ran averaged within a fold; one fold = one pair): mean "
        "difference, its 95% t-interval (scipy `ttest_rel`), the two-sided paired t-test "
        "and Wilcoxon signed-rank p-values (as in the paired comparisons below; not "
        f"corrected for multiple comparisons). With fewer than {S.MIN_PAIRS} pairs no "
        "interval and no p-value is given (–, n < 3)."
    )
    for run, sz in pairs.items():
        experiment_heading(r, run, level=4)
        r.doc.table(Z.PAIR_HEADER, Z.pair_rows(sz))


def per_run(r: Report) -> None:
    if not r.records:
        return
    r.doc.h(2, "Per-run metrics")
    cols = ["method", "fold", "seed", *r.shown_metrics, "forgetting", "train_time_s", "n_clips"]
    text = ("method", "fold", "seed", "n_clips")
    for run in r.runs:
        experiment_heading(r, run)
        scores = r.scores[r.scores["run"] == run].assign(
            method=lambda df, run=run: [r.label(m, run) for m in df["method"]]
        )
        rows = [
            [row[c] if c in text else fmt(row[c], 1 if c == "train_time_s" else 3) for c in cols]
            for _, row in scores.iterrows()
        ]
        r.doc.table(cols, rows)


def _confusions(r: Report, run: str) -> dict[str, tuple[np.ndarray, list[str], int]]:
    """Clip-level confusion counts per method of one run, summed over its runs (classes
    unioned by name), keyed by the method's in-run label."""
    out: dict[str, tuple[np.ndarray, list[str], int]] = {}
    for method in r.methods_of(run):
        recs = r.records_of(run, method)
        labels: list[str] = []
        per_record = []
        for rec in recs:
            y, proba, ids, k = M.record_arrays(rec)
            names = list(rec.get("labels") or [str(i) for i in range(k)])
            labels += [n for n in names if n not in labels]
            y_clip, p_clip, _ = M.clip_level(y, proba, ids)
            per_record.append((names, y_clip, np.argmax(p_clip, axis=1)))
        cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
        index = {n: i for i, n in enumerate(labels)}
        for names, y_clip, pred in per_record:
            remap = np.array([index[n] for n in names])
            cm += M.confusion(remap[y_clip], remap[pred], len(labels))
        out[r.label(method, run)] = (cm, labels, len(recs))
    return out


def confusions(r: Report) -> None:
    if not r.records:
        return
    r.doc.h(2, "Confusion matrices")
    r.doc.p(
        "Clip level, counts summed over all runs (folds x seeds) of each method; rows are "
        "true classes, colour is the row-normalised recall."
    )
    for run in r.runs:
        experiment_heading(r, run)
        name = r.file_name("confusion", run if r.merged else "")
        caption = "Clip-level confusion matrices" + (f", {run}" if r.merged else "")
        png = plots.confusion_figure(_confusions(r, run))
        r.doc.img_row([r.figure(name, caption, png)])


def configuration(r: Report) -> None:
    r.doc.h(2, "Resolved configuration")
    for s in r.sources:
        if r.merged:
            r.doc.h(3, s.name)
        r.doc.code(s.config_text or "(config.yaml missing)", "yaml")
