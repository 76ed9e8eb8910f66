"""End-to-end experiments on tiny generated corpora: every method, same folds, resume, report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from pathfer.cli import app
from pathfer.data import synthetic
from pathfer.study.experiments.config import ALL_METHODS, ConfigError, config_from_dict, load_config
from pathfer.study.experiments.plan import choice_cut, fold_task
from pathfer.study.experiments.runner import make_plan, run_experiment, validation_cut
from pathfer.study.experiments.train import train_model
from pathfer.study.report.metrics import score
from pathfer.study.results import load_results
from pathfer.study.run import run_and_report

TINY_EVOLUTION = {
    "population": 2,
    "generations": 2,
    "steps_per_path": 2,
    "finish_steps": 4,
    "batch_size": 16,
}
TINY_PATHNET = {"modules": 4, "max_active": 2, "channels": [4, 8, 8, 8]}
TINY_TRAIN = {"max_steps": 6, "lrs": [0.003], "batch_size": 16}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpora")
    ent = synthetic.make_enterface(root / "enterface", subjects=4, sentences=1, frames=4, seed=3)
    sav = synthetic.make_savee(
        root / "savee", speakers=("DC", "JE", "JK"), clips_per_emotion=1, frames=4, seed=4
    )
    return {"enterface": ent, "savee": sav, "cache": root / "cache"}


def _cfg(corpora, **over):
    raw = {
        "name": "tiny",
        "kind": "transfer",
        "sources": [{"corpus": "savee", "path": str(corpora["savee"])}],
        "target": {"corpus": "enterface", "path": str(corpora["enterface"])},
        "cache": str(corpora["cache"]),
        "methods": list(ALL_METHODS),
        "preparation": {"frames": 2},
        "split": {"kind": "group_kfold", "k": 2},
        "train": TINY_TRAIN,
        "pathnet": TINY_PATHNET,
        "evolution": TINY_EVOLUTION,
        "workers": 1,
        "executor": "inline",
    }
    raw.update(over)
    return config_from_dict(raw)


def _single_cfg(corpora, target: Path, **over):
    """``cnn_scratch`` alone on one generated eNTERFACE-like corpus."""
    return _cfg(
        corpora,
        kind="single",
        sources=[],
        target={"corpus": "enterface", "path": str(target)},
        methods=["cnn_scratch"],
        **over,
    )


def test_transfer_experiment_runs_every_method_on_the_same_folds(corpora, tmp_path):
    cfg = _cfg(corpora)
    logs: list[str] = []
    run_and_report(cfg, tmp_path / "run", command="pathfer test", log=logs.append)
    records = load_results(tmp_path / "run")
    assert not [line for line in logs if "FAILED" in line], logs
    assert sorted({r["method"] for r in records}) == sorted(ALL_METHODS)
    folds = sorted({r["fold"] for r in records})
    assert len(folds) == 2
    for fold in folds:
        rs = [r for r in records if r["fold"] == fold]
        assert len(rs) == len(ALL_METHODS)
        for r in rs[1:]:  # every method is tested on exactly the same frames
            np.testing.assert_array_equal(r["y_true"], rs[0]["y_true"])
            np.testing.assert_array_equal(r["clip_ids"], rs[0]["clip_ids"])
        assert rs[0]["labels"] == ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    for r in records:
        s = score(r)
        assert 0.0 <= s["frame_acc"] <= 1.0 and 0.0 <= s["clip_uar"] <= 1.0
        np.testing.assert_allclose(r["proba"].sum(1), 1.0, atol=1e-5)
    # PathNet never forgets its source task; the forgetting of fine-tuning is measured
    for r in records:
        if r["method"] == "pathnet_transfer":
            assert r["extra"]["source_acc_after"] == r["extra"]["source_acc_before"]
        if r["method"] in ("finetune", "feature_extraction"):
            assert "source_acc_after" in r["extra"]
        if r["method"] == "feature_extraction":  # a frozen body cannot forget either
            assert r["extra"]["source_acc_after"] == pytest.approx(r["extra"]["source_acc_before"])
    report = (tmp_path / "run" / "report.md").read_text()
    for m in ALL_METHODS:
        assert m in report
    assert (tmp_path / "run" / "report.html").stat().st_size > 10_000
    assert "pathfer test" in (tmp_path / "run" / "command.txt").read_text()

    # a restarted run keeps every finished result and recomputes nothing
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run" / "results").iterdir()}
    logs.clear()
    run_and_report(cfg, tmp_path / "run", command="pathfer test", log=logs.append)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run" / "results").iterdir()}
    assert before == after
    assert not [line for line in logs if " done" in line]


def test_resume_runs_only_missing_jobs(corpora, tmp_path):
    cfg = _cfg(corpora, methods=["cnn_scratch", "mini_xception_zeroshot"])
    run_experiment(cfg, tmp_path / "run", log=lambda s: None)
    files = sorted((tmp_path / "run" / "results").iterdir())
    assert len(files) == 4
    files[0].unlink()  # as if the run had been killed before this job finished
    logs: list[str] = []
    run_and_report(cfg, tmp_path / "run", log=logs.append)
    assert len([line for line in logs if " done" in line]) == 1
    assert len(list((tmp_path / "run" / "results").iterdir())) == 4


def test_within_corpus_cuts_disjoint_subject_groups(corpora):
    cfg = _cfg(corpora, kind="within", sources=[], methods=["cnn_scratch"])
    plan = make_plan(cfg, log=lambda s: None)
    a, b = plan.sources[0].load(), plan.target.load()
    assert set(a.subjects).isdisjoint(b.subjects)
    assert len(a.subjects) == 2 and len(b.subjects) == 2
    for split in plan.folds:  # folds are subject-independent
        assert set(b.groups[split.train_idx]).isdisjoint(b.groups[split.test_idx])


def test_within_by_classes(corpora):
    cfg = _cfg(
        corpora,
        kind="within",
        sources=[],
        methods=["cnn_scratch"],
        within={"by": "classes", "a_classes": ["anger", "fear", "sadness"]},
    )
    plan = make_plan(cfg, log=lambda s: None)
    assert plan.sources[0].labels == ["anger", "fear", "sadness"]
    assert plan.target.labels == ["disgust", "happiness", "surprise"]


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"kind": "sideways"}, "kind: should be 'single', 'within' or 'transfer'"),
        ({"methods": ["pathnet_transfer", "magic"]}, "unknown method(s) magic; allowed:"),
        ({"split": {"kind": "group_kfold", "k": 1}}, "split.k: should be greater than or equal"),
        ({"split": {"folds": 3}}, "split.folds: unknown key; allowed: kind, k,"),
        ({"sources": []}, "needs at least one entry under sources"),
        ({"train": {"lrs": [-1.0]}}, "train.lrs[0]: should be greater than 0"),
    ],
)
def test_bad_config_values_get_clear_messages(corpora, over, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        _cfg(corpora, **over)


def test_cli_experiment_run_and_report(corpora, tmp_path):
    cfg = _cfg(corpora, methods=["cnn_scratch", "pathnet_target"]).to_dict()
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert load_config(path).methods == ["cnn_scratch", "pathnet_target"]
    runner = CliRunner()
    res = runner.invoke(app, ["experiment", "run", str(path), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert {m["method"] for m in metrics} == {"cnn_scratch", "pathnet_target"}
    res = runner.invoke(
        app, ["report", str(tmp_path / "r"), str(tmp_path / "r"), "--out", str(tmp_path / "merged")]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "merged" / "report.html").exists()
    res = runner.invoke(app, ["experiment", "run", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2 and "config file not found" in res.output


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[2] / "configs").glob("*.yaml")))
def test_shipped_configs_are_valid(path):
    from pathfer.study.continual.config import is_chain_config, load_chain_config

    if is_chain_config(path):  # a continual-learning study: its own config
        cfg = load_chain_config(path)
        assert len(cfg.chain) >= 2 and all(Path(ref.corpus).is_file() for ref in cfg.chain)
        return
    cfg = load_config(path)
    assert cfg.target is not None and cfg.methods


@pytest.mark.parametrize(
    "method",
    ["pathnet_transfer", "finetune", "reference_finetune", "mini_xception_finetune", "pathnet_fer"],
)
def test_train_saves_a_bundle_that_predicts_like_the_trained_model(corpora, tmp_path, method):
    from pathfer.use.bundle import load_bundle
    from pathfer.use.predict import Recognizer

    cfg = _cfg(corpora)
    out = train_model(cfg, method, tmp_path / "model.safetensors", log=lambda s: None)
    bundle = load_bundle(out)
    assert bundle.labels == ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    assert bundle.meta["provenance"]["method"] == method
    # the bundle records the method's own crop (the mini-Xception's is its FER2013 bundle's)
    own = cfg.method_preparation(method)
    assert (bundle.crop.size, bundle.crop.margin, bundle.crop.equalize) == (
        own.size,
        own.margin,
        own.equalize,
    )
    if method == "mini_xception_finetune":
        assert (own.size, own.margin, own.equalize) == (64, 0.1, False)
    # the bundle reproduces the trained model's validation accuracy on the same frames
    plan = make_plan(cfg, log=lambda s: None)
    ds = plan.target_for(method).load()
    assert ds.size == bundle.crop.size
    cut = validation_cut(ds, np.arange(len(ds)), cfg.split.val_fraction, cfg.seeds[0])
    proba = bundle.predict_proba(np.asarray(ds.crops[cut.test_idx]))
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    acc = float((proba.argmax(1) == ds.y[cut.test_idx]).mean())
    assert acc == pytest.approx(bundle.meta["provenance"]["val_accuracy"])
    # and runs end to end on a video
    clip = next(Path(corpora["enterface"]).rglob("*.avi"))
    df = Recognizer.from_bundle(out).predict_video(clip)
    assert len(df) == 4 and df["face"].all()


def test_train_rejects_bad_requests(corpora, tmp_path):
    cfg = _cfg(corpora, kind="single", sources=[], methods=["cnn_scratch"])
    with pytest.raises(ConfigError, match="needs a source"):
        train_model(cfg, "pathnet_transfer", tmp_path / "m.safetensors", log=lambda s: None)
    with pytest.raises(ConfigError, match="must end in .safetensors"):
        train_model(cfg, "cnn_scratch", tmp_path / "m.pt", log=lambda s: None)
    with pytest.raises(ConfigError, match="mini_xception_zeroshot trains nothing"):
        train_model(cfg, "mini_xception_zeroshot", tmp_path / "m.safetensors", log=print)


def test_learning_curve_over_target_training_subjects(corpora, tmp_path):
    # two sentences per emotion, so a single training subject still has a validation cut
    ent = synthetic.make_enterface(tmp_path / "ent", subjects=3, sentences=2, frames=3, seed=5)
    cfg = _single_cfg(corpora, ent, target_subjects=[1], split={"kind": "loso"}, max_folds=2)
    logs: list[str] = []
    run_and_report(cfg, tmp_path / "run", log=logs.append)
    assert not [line for line in logs if "FAILED" in line], logs
    records = load_results(tmp_path / "run")
    assert sorted({r["method"] for r in records}) == ["cnn_scratch", "cnn_scratch@1subj"]
    for r in records:  # the same test frames, whatever the training subjects
        twin = next(o for o in records if o["fold"] == r["fold"] and o["method"] != r["method"])
        np.testing.assert_array_equal(r["y_true"], twin["y_true"])
        # the training subjects each run had: 1 kept, or the full fold's 2 (loso of 3)
        assert r["extra"]["target_train_subjects"] == (1 if r["method"].endswith("@1subj") else 2)
    md = (tmp_path / "run" / "report.md").read_text()
    assert "Target training subjects" in md and "N=1" in md


def test_choice_subjects_are_held_out_from_every_method(corpora, tmp_path):
    """``split.choice_fraction``: whole training subjects that no method fits, validates or
    stops on; the result records the trained model's accuracy on them."""
    ent = synthetic.make_enterface(tmp_path / "ent", subjects=8, sentences=1, frames=2, seed=6)
    choice_split = {"kind": "group_kfold", "k": 2, "choice_fraction": 0.25}
    cfg = _single_cfg(corpora, ent, split=choice_split, max_folds=1)
    plan = make_plan(cfg, log=lambda s: None)
    view, split = plan.target_for("cnn_scratch"), plan.folds[0]
    ds = view.load()
    rest, choice = choice_cut(ds, split.train_idx, 0.25, 0)
    subjects = {part: set(ds.groups[idx]) for part, idx in [("rest", rest), ("choice", choice)]}
    assert len(subjects["choice"]) == 1 and len(subjects["rest"]) == 3
    assert not subjects["choice"] & (subjects["rest"] | set(ds.groups[split.test_idx]))
    assert subjects["choice"] | subjects["rest"] == set(ds.groups[split.train_idx])
    task = fold_task(view, split, cfg, 0)
    assert len(task.fit.y) + len(task.val.y) == len(rest)
    np.testing.assert_array_equal(task.choice.y.numpy(), ds.y[choice])
    np.testing.assert_array_equal(task.test.y.numpy(), ds.y[split.test_idx])
    assert task.train_subjects == 3
    # a learning curve's N is drawn from the rest: the same choice subjects at every N
    small = fold_task(view, split, cfg, 0, n_subjects=2)
    assert small.train_subjects == 2
    np.testing.assert_array_equal(small.choice.clip_ids, task.choice.clip_ids)
    kept = set(small.fit.clip_ids) | set(small.val.clip_ids)
    assert kept < set(ds.clip_ids[rest])
    # off (0), or too few subjects to spare one: nothing is cut
    assert choice_cut(ds, split.train_idx, 0.0, 0)[1] is None
    three = split.train_idx[np.isin(ds.groups[split.train_idx], list(subjects["rest"]))]
    assert choice_cut(ds, three, 0.25, 0)[1] is None
    run_and_report(cfg, tmp_path / "run", command="pathfer test", log=lambda s: None)
    (rec,) = load_results(tmp_path / "run")
    n = rec["extra"]["choice_n"]
    assert n == len(choice)
    assert 0 <= rec["extra"]["choice_acc"] <= 1
    assert float(rec["extra"]["choice_acc"] * n).is_integer()
    # the report shows it beside the other scores
    md = (tmp_path / "run" / "report.md").read_text()
    assert "| choice acc |" in md and f"{rec['extra']['choice_acc']:.3f} |" in md
    assert "choice_acc" in (tmp_path / "run" / "metrics.csv").read_text()


def test_fewer_subjects_keeps_a_nested_subset(corpora):
    from pathfer.study.experiments.runner import fewer_subjects

    plan = make_plan(_cfg(corpora, methods=["cnn_scratch"]), log=lambda s: None)
    ds = plan.target.load()
    split = plan.folds[0]
    one = fewer_subjects(plan.target, split, 1, seed=0)
    assert len(set(ds.groups[one.train_idx])) == 1
    assert set(one.train_idx) <= set(split.train_idx)
    np.testing.assert_array_equal(one.test_idx, split.test_idx)
    assert fewer_subjects(plan.target, split, 99, seed=0) is split


def test_cli_reports_an_unpreparable_corpus_in_one_line(tmp_path):
    clip = tmp_path / "sav" / "AudioVisualClip" / "DC" / "a1.avi"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"")
    cfg = {
        "name": "bad",
        "kind": "single",
        "methods": ["cnn_scratch"],
        "target": {"corpus": "savee", "path": str(tmp_path / "sav")},
        "cache": str(tmp_path / "cache"),
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    for args in (
        ["experiment", "run", str(path), "--out", str(tmp_path / "r")],
        ["train", str(path), "--method", "cnn_scratch", "-o", str(tmp_path / "m.safetensors")],
    ):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2, res.output
        assert "a1.avi" in res.output and "empty file" in res.output
        assert "Traceback" not in res.output
