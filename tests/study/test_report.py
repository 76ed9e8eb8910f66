"""Report: a fake run folder with known predictions, metrics checked against hand values."""

from __future__ import annotations

import base64
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pathfer.study.report import merge_reports, write_report
from pathfer.study.results import load_results, result_exists, save_result

LABELS = ["anger", "happiness", "sadness"]
CLIP_LABELS = [0, 0, 0, 1, 1, 2]  # six clips, unbalanced
FRAMES = 4
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def make_record(method, fold, seed, wrong_clips=(), wrong_frames=(), extra=None):
    """Clips in ``wrong_clips`` predict (y+1)%3 on every frame; a (clip, frame) in
    ``wrong_frames`` predicts (y+1)%3 on that frame only (the clip mean stays right)."""
    y, proba, ids = [], [], []
    for c, label in enumerate(CLIP_LABELS):
        for f in range(FRAMES):
            wrong = c in wrong_clips or (c, f) in wrong_frames
            pred = (label + 1) % 3 if wrong else label
            row = [0.15, 0.15, 0.15]
            row[pred] = 0.7
            y.append(label)
            proba.append(row)
            ids.append(f"s{fold}_clip{c}")
    return {
        "method": method,
        "fold": fold,
        "seed": seed,
        "labels": LABELS,
        "y_true": np.array(y),
        "proba": np.array(proba),
        "clip_ids": np.array(ids),
        "train_time_s": 10.0 + seed,
        "extra": extra or {},
    }


def curve(scale):
    return [
        {"time_s": t, "step": i, "val_acc": min(1.0, scale * t / 100)}
        for i, t in enumerate((10.0, 20.0, 40.0, 80.0))
    ]


def fake_records():
    recs = []
    for fold in ("f0", "f1"):
        for seed in (0, 1):
            recs.append(
                make_record(
                    "pathnet_transfer",
                    fold,
                    seed,
                    wrong_frames={(0, 0), (3, 1)},
                    extra={
                        "source_acc_before": 0.9,
                        "source_acc_after": 0.85,
                        "learning_curve": curve(1.0),
                        "history": [
                            {"generation": g, "best_fitness": 0.5 + 0.1 * g} for g in range(3)
                        ],
                        "path_images": ["pathnet_transfer_path.png"],
                    },
                )
            )
            wrong = {0, 5} if (fold, seed) == ("f1", 1) else {0}
            recs.append(
                make_record(
                    "cnn_scratch",
                    fold,
                    seed,
                    wrong_clips=wrong,
                    extra={"learning_curve": curve(0.5)},
                )
            )
    return recs


def make_run(tmp_path, name="run1", records=None):
    run = tmp_path / name
    (run / "artifacts").mkdir(parents=True)
    (run / "config.yaml").write_text(
        "name: demo\nmethods:\n- pathnet_transfer\n- cnn_scratch\nseeds: [0, 1]\n"
    )
    (run / "command.txt").write_text(f"pathfer run configs/demo.yaml --out runs/{name}\n")
    (run / "artifacts" / "pathnet_transfer_path.png").write_bytes(PNG_1X1)
    (run / "artifacts" / "evolution_f0.png").write_bytes(PNG_1X1)
    for rec in records if records is not None else fake_records():
        save_result(run, rec)
    return run


def test_save_and_load_roundtrip(tmp_path):
    rec = make_record(
        "finetune", "loso-s01", 3, wrong_clips={1}, extra={"epochs": 5, "val": np.float32(0.5)}
    )
    path = save_result(tmp_path, rec)
    assert path.name == "finetune__loso-s01__seed3.json"
    assert result_exists(tmp_path, "finetune", "loso-s01", 3)
    assert not result_exists(tmp_path, "finetune", "loso-s01", 4)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    (loaded,) = load_results(tmp_path)
    assert loaded["y_true"].dtype == np.int64
    np.testing.assert_array_equal(loaded["y_true"], rec["y_true"])
    np.testing.assert_array_equal(loaded["proba"], rec["proba"])
    assert list(loaded["clip_ids"]) == list(rec["clip_ids"])
    assert loaded["extra"] == {"epochs": 5, "val": 0.5}
    assert loaded["fold"] == "loso-s01" and loaded["seed"] == 3


def test_load_results_reports_corrupt_file(tmp_path):
    save_result(tmp_path, make_record("m", 0, 0))
    (tmp_path / "results" / "broken__0__seed0.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken__0__seed0.json"):
        load_results(tmp_path)
    with pytest.warns(UserWarning):
        assert len(load_results(tmp_path, strict=False)) == 1


def test_write_report_metrics_match_hand_values(tmp_path):
    run = make_run(tmp_path)
    paths = write_report(run)
    m = pd.read_csv(paths.metrics_csv)
    assert len(m) == 8 and list(m["method"].unique()) == ["pathnet_transfer", "cnn_scratch"]
    pt = m[m.method == "pathnet_transfer"]
    # 2 of 24 frames wrong; clips all right; frame recalls: class0 11/12, class1 7/8, class2 1
    assert np.allclose(pt.frame_acc, 22 / 24)
    assert np.allclose(pt.frame_uar, (11 / 12 + 7 / 8 + 1) / 3)
    assert np.allclose(pt.clip_acc, 1.0) and np.allclose(pt.clip_uar, 1.0)
    assert np.allclose(pt.forgetting, 0.05)
    cnn = m[m.method == "cnn_scratch"].set_index(["fold", "seed"])
    # clip 0 (class 0) wrong: clip acc 5/6, clip UAR (2/3 + 1 + 1)/3 = 8/9
    assert cnn.loc[("f0", 0), "clip_acc"] == pytest.approx(5 / 6)
    assert cnn.loc[("f0", 0), "clip_uar"] == pytest.approx(8 / 9)
    assert cnn.loc[("f0", 0), "frame_acc"] == pytest.approx(20 / 24)
    # clips 0 and 5 wrong: clip acc 4/6, UAR (2/3 + 1 + 0)/3 = 5/9
    assert cnn.loc[("f1", 1), "clip_acc"] == pytest.approx(4 / 6)
    assert cnn.loc[("f1", 1), "clip_uar"] == pytest.approx(5 / 9)
    assert math.isnan(cnn.loc[("f0", 0), "forgetting"])
    assert cnn.loc[("f1", 1), "train_time_s"] == 11.0

    rows = json.loads(paths.metrics_json.read_text())
    assert len(rows) == 8 and rows[0]["method"] == "pathnet_transfer"

    s = pd.read_csv(paths.summary_csv).set_index("method")
    # cnn clip acc over 4 runs: 5/6, 5/6, 5/6, 4/6
    vals = np.array([5 / 6, 5 / 6, 5 / 6, 4 / 6])
    assert s.loc["cnn_scratch", "n"] == 4
    assert s.loc["cnn_scratch", "clip_acc_mean"] == pytest.approx(vals.mean())
    assert s.loc["cnn_scratch", "clip_acc_std"] == pytest.approx(vals.std(ddof=1))

    p = pd.read_csv(paths.paired_csv)
    row = p[(p.method == "cnn_scratch") & (p.metric == "clip_acc")].iloc[0]
    # seeds averaged within a fold: f0 -> 5/6 - 1, f1 -> (5/6 + 4/6)/2 - 1; two pairs
    d = np.array([5 / 6 - 1, 3 / 4 - 1])
    assert row["reference"] == "pathnet_transfer" and row["n"] == 2 and row["n_seeds"] == 2
    assert row["mean_diff"] == pytest.approx(d.mean())
    # two pairs (n < 3): no test statistic, no p-value
    for key in ("t_stat", "t_pvalue", "wilcoxon_stat", "wilcoxon_pvalue"):
        assert math.isnan(row[key]), key

    md = paths.report_md.read_text()
    for text in (
        "| **pathnet_transfer** (ref) | 4 |",
        "| cnn_scratch | 4 |",
        "pathfer run configs/demo.yaml --out runs/run1",
        "- cnn_scratch",
        "0.792 ± 0.083",
        "| cnn_scratch | 2 (2) | -0.208 (t –, W –) |",
        "–: n < 3: fewer than 3 folds",
        "Seeds are averaged within a fold",
        "Equal wall-clock budget",
        "figures/methods.png",
        "figures/evolution_pathnet_transfer.png",
        "artifacts/pathnet_transfer_path.png",
        "`artifacts/evolution_f0.png`",  # the run's own evolution plot: linked, not embedded
    ):
        assert text in md, text
    assert md.count("n < 3") == 1  # said once, under the paired tables
    html = paths.report_html.read_text()
    # figures: bars, confusion, curves, evolution; and the path picture beside the evolution
    assert html.count("data:image/png;base64,") == 5
    row_html = html.split('<div class="row">')[1].split("</div>")[0]
    assert row_html.count("<figure>") == 2 and "pathnet_transfer: paths after f0" in row_html
    assert "pathfer run configs/demo.yaml" in html and "<table>" in html
    assert paths.equal_budget_csv is not None and paths.equal_budget_csv.is_file()
    names = sorted(f.name for f in paths.figures)
    assert names == [
        "confusion.png",
        "evolution_pathnet_transfer.png",
        "learning_curves.png",
        "methods.png",
    ]
    assert all(f.read_bytes().startswith(b"\x89PNG") for f in paths.figures)


def test_write_report_with_given_records_and_missing_runs(tmp_path):
    recs = [r for r in fake_records() if not (r["method"] == "cnn_scratch" and r["seed"] == 1)]
    run = tmp_path / "bare"
    run.mkdir()
    paths = write_report(run, records=recs, reference="cnn_scratch")
    md = paths.report_md.read_text()
    assert "Incomplete methods" in md and "`cnn_scratch`: 2 of 4" in md
    assert "command.txt missing" in md and "Paired comparisons against cnn_scratch" in md
    assert len(pd.read_csv(paths.metrics_csv)) == 6
    with pytest.raises(ValueError, match="duplicate"):
        write_report(run, records=recs + recs[:1])


def test_photos_show_frame_scores_once(tmp_path):
    """One frame per clip (a photo set): the summary, the paired table and the bars show
    frame scores only (clip scores are the same numbers); the CSVs keep every column."""

    def first_frames(rec):
        keep = np.arange(0, len(rec["y_true"]), FRAMES)
        return {**rec, **{k: rec[k][keep] for k in ("y_true", "proba", "clip_ids")}}

    photos = [first_frames(r) for r in fake_records()]
    paths = write_report(make_run(tmp_path, "photos", records=photos))
    md = paths.report_md.read_text()
    assert "clip and frame scores are equal: shown once" in md
    assert "clip acc" not in md and "clip UAR" not in md
    assert "| method | n | frame acc | frame UAR | forgetting | train time (s) | CPU (s) |" in md
    s = pd.read_csv(paths.summary_csv)
    assert np.allclose(s.clip_acc_mean, s.frame_acc_mean)
    # video clips: both kinds of score, as before
    md_clips = write_report(make_run(tmp_path, "clips")).report_md.read_text()
    assert (
        "shown once" not in md_clips
        and "| clip acc | peak clip acc | clip UAR | peak clip UAR | frame acc |" in md_clips
    )


def test_merge_reports_pairs_methods_only_within_their_experiment(tmp_path):
    run_a = make_run(tmp_path, "runA")
    # runB: the same fold names (f0, f1) but another experiment's test set
    extra = [make_record("finetune", "f0", 0, wrong_clips={1, 2})]
    run_b = make_run(tmp_path, "runB", records=fake_records()[:2] + extra)
    paths = merge_reports([run_a, run_b], tmp_path / "merged")
    m = pd.read_csv(paths.metrics_csv)
    assert set(m.method) == {
        "runA:pathnet_transfer",
        "runA:cnn_scratch",
        "runB:pathnet_transfer",
        "runB:cnn_scratch",
        "finetune",
    }
    assert len(m) == 8 + 3
    assert set(m.run) == {"runA", "runB"}
    ft = m[m.method == "finetune"].iloc[0]
    assert ft.clip_acc == pytest.approx(4 / 6)
    p = pd.read_csv(paths.paired_csv)
    pairs = set(zip(p.run, p.method, p.reference, strict=True))
    assert pairs == {
        ("runA", "runA:cnn_scratch", "runA:pathnet_transfer"),
        ("runB", "runB:cnn_scratch", "runB:pathnet_transfer"),
        ("runB", "finetune", "runB:pathnet_transfer"),
    }
    ft_row = p[(p.method == "finetune") & (p.metric == "clip_acc")].iloc[0]
    assert ft_row["n"] == 1 and ft_row["mean_diff"] == pytest.approx(4 / 6 - 1)
    s = pd.read_csv(paths.summary_csv)
    assert list(zip(s.run, s.method, strict=True))[-1] == ("runB", "finetune")
    md = paths.report_md.read_text()
    assert "### Experiment runA (reference: pathnet_transfer)" in md
    assert "### Experiment runB (reference: pathnet_transfer)" in md
    summary_b = md.split("## Summary")[1].split("### Experiment runB")[1].split("\n\n")[1]
    assert "| **pathnet_transfer** (ref) | 1 |" in summary_b and "| finetune | 1 |" in summary_b
    assert "runs/runA" in md and "runs/runB" in md
    names = sorted(f.name for f in paths.figures)
    assert "confusion_runA.png" in names and "confusion_runB.png" in names
    assert "evolution_runA_pathnet_transfer.png" in names


def test_curve_key_is_one_every_method_records():
    from pathfer.study.report.training_sections import _curve_key

    both = [[{"time_s": 1.0, "val_acc": 0.5, "test_acc": 0.4}]]
    val_only = [[{"time_s": 1.0, "val_acc": 0.6}]]
    assert _curve_key({"cnn": both, "pathnet": val_only}) == "val_acc"
    assert _curve_key({"cnn": both, "finetune": both}) == "test_acc"
    assert _curve_key({"cnn": both, "odd": [[{"time_s": 1.0, "acc": 0.1}]]}) == "test_acc"


def _screenshot_script():
    path = Path(__file__).resolve().parents[2] / "scripts" / "report_screenshot.py"
    spec = importlib.util.spec_from_file_location("report_screenshot", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_reads_at_100_percent_in_chromium(tmp_path):
    """In a 1,200-pixel browser window, the page needs no sideways scrolling and every
    figure is drawn at its full size (none scaled down, none broken)."""
    shot = _screenshot_script()
    if shot.browser() is None:
        pytest.skip("no chromium (apt-get install chromium)")
    run_a = make_run(tmp_path, "within_corpus_experiment")
    run_b = make_run(tmp_path, "cross_corpus_experiment")
    paths = merge_reports([run_a, run_b], tmp_path / "merged")
    layout = shot.measure(paths.report_html, width=1200)
    assert layout["page_width"] <= 1200
    images = layout["images"]
    assert len(images) == paths.report_html.read_text().count("<img ")
    for im in images:
        assert im["natural"] > 0, im  # decoded
        assert im["shown"] >= im["natural"] - 1, im  # not scaled down


def test_report_of_a_run_without_results_says_so(tmp_path):
    run = tmp_path / "empty"
    (run / "results").mkdir(parents=True)
    paths = write_report(run)
    md = paths.report_md.read_text()
    assert "**No results found.**" in md
    assert "## Summary" not in md and "## Per-run metrics" not in md and not paths.figures
    assert pd.read_csv(paths.metrics_csv).empty and pd.read_csv(paths.paired_csv).empty


def test_clip_scores_chosen_in_the_config(tmp_path):
    """``report: {clip_scores: [peak]}`` shows only the peak clip scores; the CSVs keep all."""
    run = make_run(tmp_path, "peak")
    cfg = run / "config.yaml"
    cfg.write_text(cfg.read_text() + "report: {clip_scores: [peak]}\n")
    paths = write_report(run)
    md = paths.report_md.read_text()
    assert "| method | n | peak clip acc | peak clip UAR | frame acc | frame UAR |" in md
    assert "| clip acc |" not in md
    scores = pd.read_csv(paths.metrics_csv)
    assert {"clip_acc", "clip_peak_acc", "clip_peak_uar"} <= set(scores.columns)


def test_report_of_a_run_where_every_job_failed(tmp_path):
    """No results/ at all, only failures.json (as the runner records it): the report lists
    the failures and the command exits 1, as documented."""
    from typer.testing import CliRunner

    from pathfer.cli import app
    from pathfer.study.experiments.provenance import record_failures

    run = tmp_path / "allfail"
    run.mkdir()
    (run / "config.yaml").write_text("name: allfail\nmethods: [cnn_scratch]\n")
    failed = [
        {"job": f"cnn_scratch fold{k}of2 seed 0", "error": "ValueError: bad\nmore", "traceback": ""}
        for k in (1, 2)
    ]
    record_failures(run, failed)
    res = CliRunner().invoke(app, ["report", str(run)])
    assert res.exit_code == 1, res.output
    assert "2 job(s) failed" in res.output and "the report covers the failures" in res.output
    md = (run / "report.md").read_text()
    assert "## Failed jobs" in md and "| cnn_scratch fold2of2 seed 0 | ValueError: bad |" in md
    # a folder that is neither: still refused, exit 2
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(app, ["report", str(tmp_path / "empty")])
    assert res.exit_code == 2 and "not a results folder" in res.output
