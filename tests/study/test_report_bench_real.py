"""benchmarks/bench_real.py's learning-curve study: its configs, and its section of
bench_real.md from a run folder of generated results."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from test_report_sizes import METHODS, curve_records, make_run

from pathfer.study.report import write_report

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "bench_real.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_real", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(tmp_path, *extra):
    ap = argparse.ArgumentParser()
    ap.add_argument("--target-subjects", type=lambda t: [int(x) for x in t.split(",")])
    ap.add_argument("--seeds", type=lambda t: [int(x) for x in t.split(",")])
    ap.add_argument("--choice-fraction", type=float, default=0.0)
    args = ap.parse_args(list(extra))
    return argparse.Namespace(**vars(args), out=tmp_path, workers=1, folds=5, max_folds=0)


def test_curves_configs_and_unchanged_defaults(bench, tmp_path):
    specs = {"ck48": tmp_path / "ck48.yaml", "wild": tmp_path / "wild.yaml"}
    cfgs = bench.study_configs(specs, tmp_path, _args(tmp_path), ["finetune"])
    # without the options, c2w and w2c run the full folds once, as before
    assert cfgs["c2w"]["seeds"] == [0] and "target_subjects" not in cfgs["c2w"]
    for name, base in bench.CURVES:
        cfg = cfgs[name]
        assert cfg["name"] == name and cfg["target"] == cfgs[base]["target"]
        assert cfg["target_subjects"] == [2, 4, 8, 16] and cfg["seeds"] == [0, 1, 2]
    given = _args(tmp_path, "--target-subjects", "2,4", "--seeds", "0,1")
    cfgs = bench.study_configs(specs, tmp_path, given, ["finetune"])
    for name in ("c2w", "w2c", "curves-c2w", "curves-w2c"):
        assert cfgs[name]["target_subjects"] == [2, 4] and cfgs[name]["seeds"] == [0, 1]
        assert "choice_fraction" not in cfgs[name]["split"]
    chosen = _args(tmp_path, "--target-subjects", "2,4", "--choice-fraction", "0.2")
    cfgs = bench.study_configs(specs, tmp_path, chosen, ["finetune"])
    assert cfgs["curves-w2c"]["split"] == {"kind": "group_kfold", "k": 5, "choice_fraction": 0.2}
    assert "curves" not in bench.STUDIES  # the default --studies leave it out


def test_curves_section_of_bench_real_md(bench, tmp_path):
    run = make_run(tmp_path, curve_records(METHODS, folds=3), METHODS)
    write_report(run)  # as `pathfer experiment run` does: the figure the section links
    curve = bench.learning_curve(run, tmp_path)
    assert curve["figure"] == "c2w/figures/target_subjects.png"
    # bench_real.json keeps it (NaN included) and bench_real.md is written from it
    results = {"command": "benchmarks/bench_real.py X --studies curves"}
    results["curves"] = {
        "curves-c2w": {
            "command": results["command"],
            "wall_s": {"4 methods": 60.0},
            "cpu_s": {"4 methods": 120.0},
            "curve": json.loads(json.dumps(curve)),
        }
    }
    bench.write_report(tmp_path, results)
    md = (tmp_path / "bench_real.md").read_text()
    section = md[md.index("## Learning curves") :]
    assert "### curves-c2w" in section
    assert "Command: `benchmarks/bench_real.py X --studies curves`" in section
    assert (
        "![test accuracy against target training subjects](c2w/figures/target_subjects.png)" in md
    )
    assert (
        "| method | folds (seeds) | N=2 acc % | CPU s | N=4 acc % | CPU s | all acc % | CPU s |"
        in md
    )
    pair = next(line for line in section.splitlines() if line.startswith("| pathnet_fer − mini_xc"))
    cells = [c.strip() for c in pair.strip("|").split("|")]
    assert cells[1] == "N=2" and cells[3].startswith("[") and cells[6] == "3"


def test_main_runs_the_curves_study_in_both_directions(bench, tmp_path, monkeypatch):
    """``--studies curves``: both directions run with the sizes and seeds asked for (the
    runs stand in for ``pathfer experiment run``) and bench_real.md gets their section."""
    (tmp_path / "made").mkdir()
    made = make_run(tmp_path / "made", curve_records(METHODS, folds=3), METHODS)
    write_report(made)
    ran = []

    def run_study(cfg, out, log_dir):
        ran.append(cfg)
        shutil.copytree(made, out / "runs" / cfg["name"])
        return 90.0

    specs = {"ck48": tmp_path / "ck48.yaml", "wild": tmp_path / "wild.yaml"}
    monkeypatch.setattr(bench, "write_specs", lambda *a, **k: specs)
    monkeypatch.setattr(bench, "run_study", run_study)
    out = tmp_path / "out"
    argv = ["DEV", "--out", str(out), "--studies", "curves", "--methods", ",".join(METHODS)]
    assert bench.main([*argv, "--target-subjects", "2,4", "--seeds", "0,1"]) == 0
    assert [c["name"] for c in ran] == ["curves-c2w", "curves-w2c"]
    assert all(c["target_subjects"] == [2, 4] and c["seeds"] == [0, 1] for c in ran)
    md = (out / "bench_real.md").read_text()
    for name in ("curves-c2w", "curves-w2c"):
        assert f"### {name}" in md
        assert f"](runs/{name}/figures/target_subjects.png)" in md
    assert json.loads((out / "bench_real.json").read_text())["curves"].keys() == {
        "curves-c2w",
        "curves-w2c",
    }
