"""Run folders carry a format version: a folder written by pathfer 0.1 (format 1, no
version recorded; ``data/run_v1`` was written by it) is not resumed, and its report is
still read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from pathfer.runtime import formats
from pathfer.study.experiments.config import ConfigError, config_from_dict
from pathfer.study.experiments.provenance import RunFormatError, open_run
from pathfer.study.experiments.runner import run_experiment
from pathfer.study.report import write_report

V1 = Path(__file__).parent / "data" / "run_v1"
REFUSAL = "written by pathfer 0.1 (format 1): start a new run folder, or finish it with pathfer 0.1"


@pytest.fixture
def v1_run(tmp_path) -> Path:
    return Path(shutil.copytree(V1, tmp_path / "run"))


def _cfg(tmp_path: Path):
    return config_from_dict(
        {
            "name": "v1_run",
            "kind": "single",
            "target": {"corpus": "enterface", "path": str(tmp_path / "absent")},
            "methods": ["cnn_scratch", "pathnet_target"],
            "preparation": {"detector": "haar"},
            "executor": "inline",
        }
    )


def test_the_fixture_is_a_version_1_folder():
    recorded = yaml.safe_load((V1 / "config.yaml").read_text())
    assert formats.KEY not in recorded and formats.version_of(recorded) == 1
    assert len(list((V1 / "results").glob("*.json"))) == 2


def test_a_version_1_run_folder_is_not_resumed(v1_run, tmp_path):
    before = {p.name: p.read_bytes() for p in v1_run.rglob("*") if p.is_file()}
    with pytest.raises(RunFormatError) as info:
        run_experiment(_cfg(tmp_path), v1_run, log=lambda s: None)
    msg = str(info.value)
    assert msg == f"{v1_run}: {REFUSAL}"
    assert isinstance(info.value, formats.FormatError) and "\n" not in msg
    after = {p.name: p.read_bytes() for p in v1_run.rglob("*") if p.is_file()}
    assert after == before  # nothing written into it


def test_a_new_run_starts_beside_a_version_1_folder(v1_run, tmp_path):
    chosen = open_run(v1_run, _cfg(tmp_path).to_dict(), "pathfer test", new_run=True, log=print)
    assert chosen == tmp_path / "run-2"
    assert yaml.safe_load((chosen / "config.yaml").read_text())[formats.KEY] == formats.CURRENT
    assert json.loads((chosen / "environment.json").read_text())[formats.KEY] == formats.CURRENT


def test_a_newer_run_folder_is_refused(v1_run, tmp_path):
    path = v1_run / "config.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), formats.KEY: 99}))
    with pytest.raises(RunFormatError, match=r"newer pathfer \(format 99"):
        run_experiment(_cfg(tmp_path), v1_run, log=lambda s: None)


def test_the_report_reads_a_version_1_folder(v1_run):
    paths = write_report(v1_run)
    md = paths.report_md.read_text()
    assert "cnn_scratch" in md and "pathnet_target" in md
    metrics = json.loads((v1_run / "metrics.json").read_text())
    assert {m["method"] for m in metrics} == {"cnn_scratch", "pathnet_target"}


def test_a_recorded_config_is_a_config(tmp_path):
    cfg = _cfg(tmp_path)
    recorded = formats.stamp(cfg.to_dict())
    assert config_from_dict(recorded).to_dict() == cfg.to_dict()
    with pytest.raises(ConfigError, match=r"newer pathfer \(format 3\)"):
        config_from_dict({**recorded, formats.KEY: 3})
