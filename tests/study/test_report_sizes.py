"""The learning curve over target training subjects (``method@Nsubj`` results): the figure
that opens the report, accuracy with t-intervals over folds, paired differences per size,
and no interval or p-value below three pairs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pathfer.study.report import sizes as Z
from pathfer.study.report import write_report
from pathfer.study.results import save_result

LABELS = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
PHOTOS = 60  # test photos per fold: accuracies are multiples of 1/60


def still_record(method, fold, seed, n_right, cpu=None, subjects=None):
    """A record of ``PHOTOS`` still images (one frame per clip), the first ``n_right``
    predicted right, the rest as the next class."""
    rng = np.random.default_rng(int(fold.removeprefix("fold")))  # one test set per fold
    y = rng.integers(0, len(LABELS), PHOTOS)
    pred = np.where(np.arange(PHOTOS) < n_right, y, (y + 1) % len(LABELS))
    proba = np.full((PHOTOS, len(LABELS)), 0.1)
    proba[np.arange(PHOTOS), pred] = 0.5
    extra = {} if cpu is None else {"cpu_time_s": cpu}
    if subjects is not None:
        extra["target_train_subjects"] = subjects
    return {
        "method": method,
        "fold": fold,
        "seed": seed,
        "labels": LABELS,
        "y_true": y,
        "proba": proba,
        "clip_ids": np.array([f"{fold}/img{i}" for i in range(PHOTOS)]),
        "train_time_s": 5.0,
        "extra": extra,
    }


def curve_records(methods, ns=(2, 4), folds=3, seeds=(0, 1), skill=None, cpu=True):
    """Every method at every size and on the full fold; accuracy grows with N, differs
    by method and fold, and a little by seed."""
    skill = skill or {m: 10 + 4 * i for i, m in enumerate(methods)}
    recs = []
    for k, m in enumerate(methods):
        for n in [*ns, None]:
            name = m if n is None else f"{m}@{n}subj"
            for f in range(folds):
                for s in seeds:
                    # folds differ, and differ otherwise for each method
                    right = skill[m] + 3 * (n or 16).bit_length() + ((k + 2) * f) % 5 + s
                    recs.append(
                        still_record(
                            name, f"fold{f}", s, min(right, PHOTOS), 30.0 + f if cpu else None
                        )
                    )
    return recs


def make_run(tmp_path, records, methods):
    run = tmp_path / "c2w"
    run.mkdir()
    (run / "config.yaml").write_text(
        "name: c2w\nmethods:\n" + "".join(f"- {m}\n" for m in methods) + "target_subjects: [2, 4]\n"
    )
    (run / "command.txt").write_text("pathfer experiment run c2w.yaml --out runs/c2w\n")
    for rec in records:
        save_result(run, rec)
    return run


METHODS = ["pathnet_transfer", "finetune", "pathnet_fer", "mini_xception_finetune"]


def fold_accuracy(records, method):
    """Per fold, the mean over seeds of frame accuracy in percent, from the records."""
    acc = {}
    for r in records:
        if r["method"] == method:
            ok = np.argmax(r["proba"], 1) == r["y_true"]
            acc.setdefault(r["fold"], []).append(100 * ok.mean())
    return {f: float(np.mean(v)) for f, v in sorted(acc.items())}


def test_learning_curve_opens_the_report_with_its_figure(tmp_path):
    records = curve_records(METHODS)
    paths = write_report(make_run(tmp_path, records, METHODS))
    md = paths.report_md.read_text()
    figure = paths.out_dir / "figures" / "target_subjects.png"
    assert figure.is_file() and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure in paths.figures
    # first section after the title and its bullets
    sections = [line for line in md.splitlines() if line.startswith("## ")]
    assert sections[0] == "## Target training subjects: learning curves"
    assert md.index("figures/target_subjects.png") < md.index("## Reproduce")
    assert "data:image/png;base64" in paths.report_html.read_text()
    # photos: frame accuracy is the metric, in percent, with CPU beside it
    assert "Test frame accuracy (`frame_acc`, %)" in md
    assert (
        "| method | folds (seeds) | N=2 acc % | CPU s | N=4 acc % | CPU s | all acc % | CPU s |"
        in md
    )
    # 'all' is placed one doubling right of N=4: the records state no full-fold count
    assert "'all' one doubling right of the largest N" in md


def test_curve_points_match_scipy_on_the_fold_means():
    records = curve_records(METHODS, folds=4)
    sz = Z.analyse_sizes(records, "frame_acc", order=["pathnet_fer@2subj", "finetune"])
    assert list(dict.fromkeys(sz.points["method"]))[:2] == ["pathnet_fer", "finetune"]
    assert sz.ns == [2, 4] and sz.x_all == 8.0 and not sz.all_measured
    for method in ("finetune@2subj", "pathnet_fer"):
        base, n = Z.split_name(method)
        folds = fold_accuracy(records, method)
        point = sz.points[
            (sz.points["method"] == base) & (sz.points["size"] == (str(n) if n else "all"))
        ]
        point = point.iloc[0]
        x = np.array(list(folds.values()))
        lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
        assert point["mean"] == pytest.approx(x.mean())
        assert (point["ci_low"], point["ci_high"]) == pytest.approx((lo, hi))
        assert point["n_folds"] == 4 and point["n_seeds"] == 2
        assert point["cpu_s"] == pytest.approx(np.mean([30, 31, 32, 33]))


def test_paired_differences_per_size_match_scipy():
    records = curve_records(METHODS, folds=5)
    sz = Z.analyse_sizes(records, "frame_acc")
    # pathnet_transfer - reference_finetune: no reference_finetune ran, so no such pair
    assert set(zip(sz.pairs["a"], sz.pairs["b"], strict=True)) == {
        ("pathnet_fer", "mini_xception_finetune"),
        ("pathnet_transfer", "finetune"),
    }
    row = sz.pairs[(sz.pairs["a"] == "pathnet_fer") & (sz.pairs["size"] == "4")].iloc[0]
    a = fold_accuracy(records, "pathnet_fer@4subj")
    b = fold_accuracy(records, "mini_xception_finetune@4subj")
    xa, xb = np.array(list(a.values())), np.array(list(b.values()))
    # the differences must vary for the interval to mean anything
    assert np.ptp(xa - xb) > 1
    ref = stats.ttest_rel(xa, xb)
    ci = ref.confidence_interval(0.95)
    assert row["n"] == 5
    assert row["mean_diff"] == pytest.approx((xa - xb).mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert row["t_pvalue"] == pytest.approx(ref.pvalue)
    assert row["wilcoxon_pvalue"] == pytest.approx(stats.wilcoxon(xa - xb).pvalue)
    # the table prints the same numbers
    line = next(r for r in Z.pair_rows(sz) if r[0].startswith("pathnet_fer") and r[1] == "N=4")
    assert line[3] == f"[{ci.low:+.1f}, {ci.high:+.1f}]"
    assert line[6] == "5"


def test_fewer_than_three_pairs_print_no_interval_and_no_p_value(tmp_path):
    records = curve_records(METHODS, folds=2)
    sz = Z.analyse_sizes(records, "frame_acc")
    assert (sz.pairs["n"] == 2).all()
    assert sz.pairs[["ci_low", "ci_high", "t_pvalue", "wilcoxon_pvalue"]].isna().all().all()
    assert sz.points[["ci_low", "ci_high"]].isna().all().all()
    for row in Z.pair_rows(sz):
        assert row[3:6] == ["–", "–", "–"] and row[6] == "2 (n < 3)"
        assert row[2] != "–"  # the mean difference is still shown
    header, rows = Z.curve_table(sz)
    assert all("±" not in cell for row in rows for cell in row)
    md = write_report(make_run(tmp_path, records, METHODS)).report_md.read_text()
    table = md[md.index("### Paired differences per size") :]
    rows = [line for line in table[: table.index("\n## ")].splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 2 * 3  # header; two pairs at N=2, N=4 and all
    for line in rows[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[3:6] == ["–", "–", "–"] and cells[6] == "2 (n < 3)"


def test_full_fold_subject_count_places_all_when_recorded():
    records = curve_records(["finetune"], folds=3)
    for r in records:
        if "@" not in r["method"]:
            r["extra"]["target_train_subjects"] = 20 + int(r["fold"][-1])
    sz = Z.analyse_sizes(records, "frame_acc")
    assert sz.all_measured and sz.x_all == pytest.approx(21.0)
    assert sz.points.set_index("size").loc["all", "x"] == pytest.approx(21.0)


def test_wall_time_stands_in_where_cpu_was_not_recorded():
    records = curve_records(["finetune"], cpu=False)
    sz = Z.analyse_sizes(records, "frame_acc")
    assert sz.points["cpu_is_wall"].all() and (sz.points["cpu_s"] == 5.0).all()
    _, rows = Z.curve_table(sz)
    assert rows[0][3] == "5 (wall)"


def test_runs_without_sizes_have_no_learning_curve(tmp_path):
    records = [r for r in curve_records(METHODS) if "@" not in r["method"]]
    assert Z.analyse_sizes(records, "frame_acc") is None
    paths = write_report(make_run(tmp_path, records, METHODS))
    md = paths.report_md.read_text()
    assert (
        "learning curves" not in md
        and not (paths.out_dir / "figures" / "target_subjects.png").exists()
    )
    assert not math.isnan(pd.read_csv(paths.summary_csv)["frame_acc_mean"].iloc[0])


def test_summary_shows_cpu_seconds_beside_accuracy(tmp_path):
    records = curve_records(METHODS, folds=3)
    records[0]["extra"].pop("cpu_time_s")  # one job of one method without CPU time
    md = write_report(make_run(tmp_path, records, METHODS)).report_md.read_text()
    summary = md[md.index("\n## Summary") : md.index("\n## Paired comparisons")]
    header = next(line for line in summary.splitlines() if line.startswith("| method"))
    assert header.endswith("| forgetting | train time (s) | CPU (s) |")
    cpu = [r["extra"]["cpu_time_s"] for r in records if r["method"] == "pathnet_fer@2subj"]
    row = next(line for line in summary.splitlines() if line.startswith("| pathnet_fer@2subj |"))
    assert row.endswith(f"| {np.mean(cpu):.1f} ± {np.std(cpu, ddof=1):.1f} |")
    missing = next(
        line for line in summary.splitlines() if line.startswith(f"| {records[0]['method']} |")
    )
    assert missing.endswith("| – |")
