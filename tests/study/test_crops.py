"""Per-method preparation: each method's crop (registered, FER2013's own, or overridden in
the config), each distinct crop prepared once, folds cut once and valid for every crop, and
corpus specs that name their own detector (``detector: none`` for folders of face crops)."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from pathfer.cli import app
from pathfer.data import synthetic
from pathfer.data.corpora import CorpusError, scan_target
from pathfer.data.datasets import FaceDataset, PrepareError, prepare_corpus
from pathfer.data.faces import CropSettings
from pathfer.data.video import FrameSampling
from pathfer.study.experiments.config import ConfigError, config_from_dict
from pathfer.study.experiments.plan import check_aligned, make_plan
from pathfer.study.experiments.provenance import RunMismatchError, claim
from pathfer.study.experiments.runner import run_experiment
from pathfer.study.results import load_results
from pathfer.use.bundle import default_bundle_path, read_meta

TINY = {
    "train": {"max_steps": 4, "batch_size": 16},
    "pathnet": {"modules": 4, "max_active": 2, "channels": [4, 8, 8, 8]},
    "evolution": {"population": 2, "generations": 1, "steps_per_path": 2, "finish_steps": 0},
}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("crops")
    savee = synthetic.make_savee(
        root / "savee", speakers=("DC", "JE", "JK"), clips_per_emotion=1, frames=4, seed=4
    )
    ent = synthetic.make_enterface(root / "ent", subjects=4, sentences=1, frames=4, seed=3)
    # a CK+48-style folder of face crops (<emotion>/S###_###_########.png), cut by the
    # pipeline itself from the generated eNTERFACE clips
    rep = prepare_corpus(
        scan_target("enterface", ent),
        root / "cut",
        sampling=FrameSampling(n=2),
        crop=CropSettings(size=56, margin=0.0, equalize=False),
        executor="inline",
        progress=False,
    )
    ds = FaceDataset.load(rep.path)
    faces = root / "faces"
    for i, (row, crop) in enumerate(zip(ds.manifest.itertuples(), ds.crops, strict=True)):
        subject = int(re.sub(r"\D", "", row.subject))
        path = faces / row.label / f"S{subject:03d}_{i:03d}_{row.frame_index:08d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.asarray(crop))
    spec = root / "faces.yaml"
    spec.write_text(
        "name: faces\nroot: faces\nglob: '*/*.png'\nlabel: {from: parent}\n"
        "regex: '(?P<subject>S\\d+)_\\d+_\\d+'\ndetector: none\n"
    )
    return {"savee": savee, "spec": spec, "cache": root / "cache", "n_faces": len(ds)}


def _raw(corpora, **over):
    raw = {
        "name": "crops",
        "kind": "transfer",
        "sources": [{"corpus": "savee", "path": str(corpora["savee"])}],
        "target": str(corpora["spec"]),
        "cache": str(corpora["cache"]),
        "preparation": {"frames": 2, "size": 48, "margin": 0.15, "equalize": True},
        "split": {"kind": "group_kfold", "k": 2},
        "executor": "inline",
        **TINY,
    }
    raw.update(over)
    return raw


def test_each_method_gets_its_crop(corpora):
    fer = read_meta(default_bundle_path())["crop"]
    cfg = config_from_dict(
        _raw(
            corpora,
            methods=["cnn_scratch", "mini_xception_zeroshot", "mini_xception_finetune"],
            crops={"mini_xception_finetune": {"margin": 0.0}},
        )
    )
    crops = cfg.to_dict()["crops"]  # the run's identity holds every method's crop in full
    assert crops["cnn_scratch"] == {"size": 48, "margin": 0.15, "equalize": True}
    # the shipped bundle's own crop, read from the bundle
    assert crops["mini_xception_zeroshot"] == {
        "size": fer["size"],
        "margin": fer["margin"],
        "equalize": fer["equalize"],
    }
    assert crops["mini_xception_finetune"] == {**crops["mini_xception_zeroshot"], "margin": 0.0}
    prep = cfg.method_preparation("mini_xception_finetune")
    assert (prep.size, prep.margin, prep.frames) == (fer["size"], 0.0, 2)
    # the resolved config reads back to itself
    assert config_from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()


def test_budgets_one_rate_per_method_and_the_grid_on_request(corpora):
    methods = ["cnn_scratch", "reference_cnn", "mini_xception_finetune", "pathnet_target"]
    budgets = config_from_dict(_raw(corpora, methods=methods, train={})).to_dict()["budgets"]
    assert set(budgets) == {"cnn_scratch", "reference_cnn", "mini_xception_finetune"}
    assert budgets["cnn_scratch"] == {"lrs": [0.001], "max_epochs": 30, "patience": 8}
    assert budgets["reference_cnn"] == {"lrs": [0.001], "max_epochs": 30, "patience": 8}
    assert budgets["mini_xception_finetune"] == {"lrs": [0.0003], "max_epochs": 12, "patience": 4}
    grid = config_from_dict(
        _raw(
            corpora,
            methods=methods,
            train={"lrs": [3e-3, 1e-3], "patience": 3},
            budgets={"reference_cnn": {"lrs": 0.01, "max_epochs": 5}},
        )
    ).to_dict()["budgets"]
    assert grid["cnn_scratch"] == {"lrs": [0.003, 0.001], "max_epochs": 30, "patience": 3}
    assert grid["mini_xception_finetune"]["lrs"] == [0.0009, 0.0003]  # 0.3 x the base rates
    assert grid["reference_cnn"] == {"lrs": [0.01], "max_epochs": 5, "patience": 3}


@pytest.mark.parametrize(
    ("over", "message"),
    [
        (
            {"methods": ["cnn_scratch"], "crops": {"reference_cnn": {"size": 32}}},
            "crops names reference_cnn, not among the methods (cnn_scratch)",
        ),
        ({"methods": ["cnn_scratch"], "crops": {"cnn_scratch": {"size": 4}}}, "crops.cnn_scratch"),
        (
            {"methods": ["finetune", "feature_extraction"], "crops": {"finetune": {"margin": 0}}},
            "finetune, feature_extraction share the cnn source model",
        ),
        (
            {"methods": ["pathnet_target"], "budgets": {"pathnet_target": {"lrs": 0.1}}},
            "pathnet_target has no training budget here",
        ),
        ({"methods": ["cnn_scratch"], "crops": {"cnn_scratch": {"zoom": 2}}}, "unknown key"),
    ],
)
def test_bad_crops_and_budgets_are_refused(corpora, over, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_dict(_raw(corpora, **over))


def test_each_distinct_crop_is_prepared_once_and_the_folds_fit_every_crop(corpora):
    cfg = config_from_dict(
        _raw(
            corpora,
            methods=["cnn_scratch", "reference_cnn", "finetune", "mini_xception_zeroshot"],
            crops={"reference_cnn": {"size": 40}},
        )
    )
    logs: list[str] = []
    plan = make_plan(cfg, log=logs.append)
    assert sorted(plan.method_crops.values()) == sorted(
        ["48px-m0.15-eq", "40px-m0.15-eq", "48px-m0.15-eq", "64px-m0.1-noeq"]
    )
    assert plan.family_crops == {"cnn": "48px-m0.15-eq"}
    # the target in its three distinct crops, the source only in its source model's: each
    # prepared once
    assert sorted(plan.prepared) == sorted(
        [(plan_key, k) for plan_key in [cfg.target.key()] for k in set(plan.method_crops.values())]
        + [(cfg.sources[0].key(), "48px-m0.15-eq")]
    )
    assert len([x for x in logs if ": prepared " in x]) == 4
    base = plan.target.load()
    for method, key in plan.method_crops.items():
        ds = plan.target_for(method).load()
        assert ds.size == int(key.split("px")[0])
        np.testing.assert_array_equal(ds.clip_ids, base.clip_ids)  # same frames, same order
        np.testing.assert_array_equal(ds.y, base.y)
    # the target is a folder of face crops: whole images, whatever the experiment's detector
    for key in set(plan.method_crops.values()):
        settings = FaceDataset.load(plan.target.at(key).path).settings["crop"]
        assert settings["detector"] == "none" and settings["margin"] == 0.0
    src = FaceDataset.load(plan.sources_for("cnn")[0].path).settings["crop"]
    assert src["detector"] == cfg.preparation.detector != "none"
    assert len(base) == corpora["n_faces"]
    # a second plan reuses every prepared crop
    logs.clear()
    make_plan(cfg, log=logs.append)
    assert len([x for x in logs if ": reused " in x]) == 4


def test_crops_holding_other_frames_are_refused(corpora):
    scan = scan_target("savee", corpora["savee"])
    paths = {}
    for n in (2, 3):  # other frame sampling: other frames
        rep = prepare_corpus(
            scan,
            corpora["cache"],
            sampling=FrameSampling(n=n),
            executor="inline",
            progress=False,
        )
        paths[f"n{n}"] = str(rep.path)
    with pytest.raises(PrepareError, match="hold other frames than the n2 crops"):
        check_aligned(paths, "n2", "savee")


def test_experiment_runs_each_method_on_its_crop(corpora, tmp_path):
    cfg = config_from_dict(
        _raw(corpora, methods=["cnn_scratch", "mini_xception_zeroshot", "reference_finetune"])
    )
    logs: list[str] = []
    run = run_experiment(cfg, tmp_path / "run", log=logs.append)
    assert not [x for x in logs if "FAILED" in x], logs
    records = load_results(run)
    assert len(records) == 6
    for fold in {r["fold"] for r in records}:
        rs = [r for r in records if r["fold"] == fold]
        for r in rs[1:]:  # the same test frames in every crop
            np.testing.assert_array_equal(r["clip_ids"], rs[0]["clip_ids"])
            np.testing.assert_array_equal(r["y_true"], rs[0]["y_true"])
    for r in records:
        assert 0.0 <= r["extra"]["val_acc"] <= 1.0  # every method reports validation accuracy
        if r["method"] == "reference_finetune":  # forgetting measured like finetune's
            assert {"source_acc_before", "source_acc_after"} <= set(r["extra"])
        if r["method"] != "mini_xception_zeroshot":
            assert r["extra"]["lr"] == 0.001 and len(r["extra"]["lr_search"]) == 1
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    assert recorded["crops"]["mini_xception_zeroshot"]["size"] == 64

    # a resume may add a method (and its crop); changing a method's crop is refused
    grown = config_from_dict(
        _raw(
            corpora,
            methods=["cnn_scratch", "mini_xception_zeroshot", "reference_finetune", "finetune"],
        )
    )
    assert claim(run, grown.to_dict()) == run
    changed = config_from_dict(
        _raw(
            corpora,
            methods=["cnn_scratch", "mini_xception_zeroshot", "reference_finetune"],
            crops={"cnn_scratch": {"margin": 0.2}},
        )
    )
    with pytest.raises(RunMismatchError, match=r"crops\.cnn_scratch\.margin: 0\.15 -> 0\.2"):
        claim(run, changed.to_dict())


def test_spec_detector(corpora, tmp_path):
    scan = scan_target(str(corpora["spec"]))
    assert scan.detector == "none"
    bad = tmp_path / "bad.yaml"
    bad.write_text(corpora["spec"].read_text().replace("detector: none", "detector: owl"))
    with pytest.raises(CorpusError, match="unknown detector 'owl'; allowed: .*none"):
        scan_target(str(bad))
    # `pathfer prepare` honours the spec's detector, and says so when told another
    res = CliRunner().invoke(
        app,
        [
            "prepare",
            str(corpora["spec"]),
            "--detector",
            "haar",
            "-o",
            str(tmp_path / "c"),
            "-q",
            "--executor",
            "inline",
        ],
    )
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "spec says detector none; it is used instead of --detector haar" in text
    assert "faces: detector none" in text and "skipped: 0" in text


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parents[2] / "configs").glob("specs/*.yaml"))
)
def test_shipped_corpus_specs_are_valid(path):
    from pathfer.data.corpora import load_spec

    spec = load_spec(path)
    assert spec.glob and spec.subject_from == "regex"
