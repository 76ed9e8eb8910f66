"""`pathfer demo --quick`: the README's main command, end to end at the smallest scale, and
what a seed fixes: the same numbers whatever the machine's thread settings."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from pathfer.cli import app
from pathfer.study.experiments.methods import METHODS

RUNS = ("demo_within_enterface", "demo_savee_to_enterface")


@pytest.fixture(autouse=True)
def _restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _metrics(path):
    # everything but the wall time, which no seed fixes
    return pd.read_csv(path).drop(columns=["train_time_s"])


def test_quick_demo_is_deterministic_writes_the_report_and_resumes(tmp_path, monkeypatch):
    runner = CliRunner()
    outs = []
    for threads in ("1", "2"):  # as on two machines that set their thread counts differently
        monkeypatch.setenv("PATHFER_THREADS", threads)
        out = tmp_path / f"demo_threads{threads}"
        res = runner.invoke(app, ["demo", "--quick", "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert "FAILED" not in res.output and "demo report:" in res.output
        outs.append(out)
    first, second = outs

    md = (first / "report" / "report.md").read_text()
    for run in RUNS:
        assert f"{run}:pathnet_transfer" in md
        assert (first / "runs" / run / "report.html").exists()
        # the same seed gives the same numbers, to the last bit
        pd.testing.assert_frame_equal(
            _metrics(first / "runs" / run / "metrics.csv"),
            _metrics(second / "runs" / run / "metrics.csv"),
            check_exact=True,
        )
        results = sorted((first / "runs" / run / "results").iterdir())
        assert len(results) == 2 * len(METHODS.list())  # every method, 2 folds
        for path in results:
            a = json.loads(path.read_text())
            b = json.loads((second / "runs" / run / "results" / path.name).read_text())
            assert a["proba"] == b["proba"], path.name
    pd.testing.assert_frame_equal(
        _metrics(first / "report" / "metrics.csv"), _metrics(second / "report" / "metrics.csv")
    )

    # a second run reuses the corpora, caches and every finished result
    res = runner.invoke(app, ["demo", "--quick", "--out", str(first)])
    assert res.exit_code == 0, res.output
    assert f"resuming: {2 * len(METHODS.list())} finished runs kept" in res.output


def test_the_demo_scales_choose_methods_and_remake_corpora_of_another_scale(tmp_path):
    from pathfer.study.demo import DEMO_METHODS, FULL, QUICK, DemoScale, demo_configs, make_corpora
    from pathfer.study.experiments.config import config_from_dict

    default = [config_from_dict(c) for c in demo_configs(tmp_path, DemoScale())]
    for cfg in default:  # PathNet and the paper's baselines; pathnet_fer only with --full
        assert cfg.methods == list(DEMO_METHODS) and "pathnet_fer" not in cfg.methods
        assert cfg.train.refit is False  # the demo's measured minutes; corpora refit
    for scale in (FULL, QUICK):
        for cfg in map(config_from_dict, demo_configs(tmp_path, scale)):
            assert cfg.methods == METHODS.list()
    tiny = DemoScale(savee_clips=1, enterface_subjects=2, enterface_sentences=1, frames_generated=2)
    _, ent = make_corpora(tmp_path, tiny, log=lambda _: None)
    n_tiny = len(list(ent.rglob("*.avi")))
    kept = []
    make_corpora(tmp_path, tiny, log=kept.append)
    assert kept == []  # the same scale: reused
    make_corpora(
        tmp_path,
        DemoScale(savee_clips=1, enterface_subjects=3, enterface_sentences=1, frames_generated=2),
        log=kept.append,
    )
    assert any("eNTERFACE" in line for line in kept)
    assert len(list(ent.rglob("*.avi"))) > n_tiny
