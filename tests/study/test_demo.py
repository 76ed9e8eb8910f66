"""`pathfer demo --quick`: the README's main command, end to end at the smallest scale."""

from __future__ import annotations

from typer.testing import CliRunner

from pathfer.cli import app


def test_quick_demo_writes_the_merged_report(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "FAILED" not in res.output
    md = (out / "report" / "report.md").read_text()
    for run in ("demo_within_enterface", "demo_savee_to_enterface"):
        assert f"{run}:pathnet_transfer" in md
        assert (out / "runs" / run / "report.html").exists()
    assert "demo report:" in res.output
    # a second run reuses the corpora, caches and every finished result
    res = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "resuming: 14 finished runs kept" in res.output
