"""A chain study (``kind: chain``): two generated corpora learnt onto the FER2013
mini-Xception in both orders by PathNet, sequential fine-tuning and separate models.
PathNet's earlier tasks stay bit-identical, fine-tuning's do not; the run resumes; bad
configs are refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from typer.testing import CliRunner

from pathfer.cli import app
from pathfer.data import synthetic
from pathfer.models.pathnet.pretrained import PRETRAINED_TASK
from pathfer.study.continual.config import chain_config_from_dict
from pathfer.study.experiments.config import ConfigError
from pathfer.use.model_file import builtin_model, load_model

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {
    "evolution": {
        "population": 2,
        "generations": 1,
        "steps_per_path": 2,
        "batch_size": 8,
        "finish_steps": 2,
    },
    "train": {"max_epochs": 1, "max_steps": 2},
}


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("chain")
    synthetic.make_savee(root / "sav", clips_per_emotion=1, frames=3, seed=4)
    synthetic.make_enterface(root / "ent", subjects=4, sentences=1, frames=3, seed=3)
    cfg = {
        "name": "tiny",
        "kind": "chain",
        "chain": [{"corpus": "savee", "path": "sav"}, {"corpus": "enterface", "path": "ent"}],
        "reverse": True,
        "labels": ["anger", "disgust", "fear", "happiness", "sadness", "surprise"],
        "split": {"k": 2, "fold": 0},
        "cache": str(root / "cache"),
        **TINY,
    }
    path = root / "chain.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = root / "run"
    r = CliRunner().invoke(app, ["experiment", "run", str(path), "--out", str(out)])
    assert r.exit_code == 0, r.output
    return path, out, r.output


def _jobs(out) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "jobs").glob("*.json")}


def test_every_way_and_order_runs_and_is_reported(chain_run):
    _, out, _ = chain_run
    jobs = _jobs(out)
    assert set(jobs) == {
        "pathnet.savee-enterface",
        "pathnet.enterface-savee",
        "finetune.savee-enterface",
        "finetune.enterface-savee",
        "separate.savee",
        "separate.enterface",
    }
    steps = jobs["pathnet.savee-enterface"]["steps"]
    assert [s["learnt"] for s in steps] == [None, "savee", "enterface"]
    assert set(steps[-1]["acc"]) == {PRETRAINED_TASK, "savee", "enterface"}
    assert all(0 <= a <= 1 for s in steps for a in s["acc"].values())
    matrix = pd.read_csv(out / "matrix.csv")
    assert set(matrix["way"]) == {"pathnet", "finetune", "separate"}
    report = (out / "report.md").read_text()
    for words in ("Order: fer2013 -> savee -> enterface", "bit-identical", "size vs separate"):
        assert words in report
    assert (out / "chain.png").stat().st_size > 10_000
    (out / "report.md").unlink()
    r = CliRunner().invoke(app, ["report", str(out)])  # rebuilt from the jobs on disk
    assert r.exit_code == 0 and (out / "report.md").read_text() == report, r.output


def test_pathnet_keeps_earlier_tasks_bit_identical_and_fine_tuning_does_not(chain_run):
    _, out, _ = chain_run
    jobs = _jobs(out)
    for order in ("savee-enterface", "enterface-savee"):
        first = order.split("-")[0]
        pn, ft = jobs[f"pathnet.{order}"]["steps"], jobs[f"finetune.{order}"]["steps"]
        assert len({s["digest"][PRETRAINED_TASK] for s in pn}) == 1
        assert all(s["fer2013_top"] == pn[0]["fer2013_top"] for s in pn)  # same answers
        assert pn[1]["digest"][first] == pn[2]["digest"][first]
        assert len({s["digest"][PRETRAINED_TASK] for s in ft}) == 3  # the shared layers move
        assert ft[1]["digest"][first] != ft[2]["digest"][first]
    # the model files themselves: the FER2013 task predicts exactly as the shipped model
    last = load_model(out / "models" / "pathnet.savee-enterface.2.safetensors")
    assert last.names == [PRETRAINED_TASK, "savee", "enterface"]
    x = torch.rand(5, 1, 64, 64)
    before = builtin_model().predict_proba(PRETRAINED_TASK, x)
    assert np.array_equal(last.predict_proba(PRETRAINED_TASK, x), before)


def test_separate_models_keep_one_bundle_per_corpus(chain_run):
    _, out, _ = chain_run
    jobs = _jobs(out)
    step = jobs["separate.savee"]["steps"][0]
    assert step["size_bytes"] == (out / "models" / "separate.savee.safetensors").stat().st_size
    assert step["fer2013_bytes"] > 100_000  # the shipped bundle counts as the first model


def test_a_rerun_resumes_and_a_lost_job_reuses_its_finished_steps(chain_run):
    path, out, _ = chain_run
    before = _jobs(out)
    (out / "jobs" / "pathnet.savee-enterface.json").unlink()
    r = CliRunner().invoke(app, ["experiment", "run", str(path), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "resuming: 5 finished jobs kept" in r.output
    assert _jobs(out) == before  # the steps on disk were taken as they were


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"split": {"k": 2, "fold": 2}}, "split.fold"),
        ({"ways": ["pathnet", "sideways"]}, "ways"),
        ({"evolution": {"population": 1}}, "population"),
        ({"chain": ["savee.yaml", "savee.yaml"]}, "lists a corpus twice"),
        ({"colour": 1}, "unknown key"),
    ],
)
def test_bad_chain_configs_are_refused_naming_the_key(change, words):
    base = {"kind": "chain", "chain": ["a.yaml", "b.yaml"]}
    with pytest.raises(ConfigError, match=words):
        chain_config_from_dict({**base, **change})


def test_a_chain_refits_as_experiments_do_unless_told_not_to():
    base = {"kind": "chain", "chain": ["a.yaml", "b.yaml"]}
    assert chain_config_from_dict(base).train.refit is True
    assert chain_config_from_dict({**base, "train": {"lrs": [3e-4]}}).train.refit is True
    assert chain_config_from_dict({**base, "train": {"refit": False}}).train.refit is False
