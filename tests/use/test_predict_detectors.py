"""Which detector predict uses: the best installed one for any bundle trained on detected
faces (the built-in model included), ``none`` as one path (the image is the crop), the
detector named in one line, and a hint where Haar finds nothing and YuNet is missing."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pathfer.cli import app
from pathfer.data.faces import CropSettings, default_detector, yunet_available
from pathfer.data.faces import detect as detect_module
from pathfer.data.video import iter_frames
from pathfer.use.bundle import load_bundle
from pathfer.use.predict import Recognizer
from pathfer.use.predict import job as job_module

GRID = Path(__file__).parents[1] / "media" / "grid"
CLIPS = sorted(GRID.glob("*.mpg"))


def _cli(*args: str):
    return CliRunner().invoke(app, ["predict", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return next(iter_frames(CLIPS[0]))[2]


def test_the_built_in_model_uses_the_best_installed_detector():
    rec = Recognizer.from_bundle()
    assert rec.training_detector == "haar"  # what the FER2013 crops came from
    assert rec.detector.name == default_detector()
    assert rec.crop.margin == load_bundle().crop.margin  # the same kind of crop
    assert Recognizer.from_bundle(detector="haar").detector.name == "haar"


def test_grey_and_rgba_images_of_a_face_are_found_with_the_defaults(frame, tmp_path):
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)
    bgra[..., 3] = 200  # a real alpha channel, not all opaque
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    cv2.imwrite(str(tmp_path / "rgba.png"), bgra)
    assert cv2.imread(str(tmp_path / "rgba.png"), cv2.IMREAD_UNCHANGED).shape[2] == 4
    rec = Recognizer.from_bundle()
    df = rec.predict([tmp_path / "grey.png", tmp_path / "rgba.png"])
    assert df["face"].tolist() == [True, True]
    # arrays too: a 2-D grey array and a BGRA array
    assert rec.predict(grey)["face"].all()
    assert rec.predict(bgra)["face"].all()


def test_the_cli_names_its_detector_in_one_line(frame, tmp_path):
    cv2.imwrite(str(tmp_path / "f.png"), frame)
    res = _cli(str(tmp_path / "f.png"))
    assert res.exit_code == 0
    lines = [ln for ln in res.output.splitlines() if ln.startswith("face detector:")]
    assert len(lines) == 1
    assert lines[0].startswith(f"face detector: {default_detector()} (the best installed")
    res = _cli(str(tmp_path / "f.png"), "--detector", "haar")
    assert "face detector: haar (" in res.output


def test_a_haar_miss_without_yunet_suggests_the_fix(tmp_path, monkeypatch):
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((120, 160), 128, np.uint8))
    res = _cli(str(tmp_path / "blank.png"), "--detector", "haar")
    if yunet_available():  # YuNet installed: nothing to suggest
        assert "pip install yuface" not in res.output
    monkeypatch.setattr(job_module, "yunet_available", lambda: False)
    monkeypatch.setattr(detect_module, "yunet_available", lambda: False)
    res = _cli(str(tmp_path / "blank.png"), "--detector", "haar")
    assert res.exit_code == 0
    assert "no face found in 1 frame(s) with the Haar detector" in res.output
    assert "pip install yuface" in res.output


def test_detector_none_is_the_crop_itself_in_predict_and_classify_faces(tmp_path, frame):
    """``--detector none`` with a bundle trained on detected faces: no margin, no detection:
    the same probabilities, to the last bit, as classify_faces on the same images."""
    folder = tmp_path / "crops"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        x, y = (int(v) for v in rng.integers(60, 110, 2))
        side = int(rng.integers(90, 150))
        cv2.imwrite(str(folder / f"c{i}.png"), frame[y : y + side, x : x + side])
    out = tmp_path / "none.csv"
    res = _cli(str(folder), "--detector", "none", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "face detector: none (each image is the face crop" in res.output
    df = pd.read_csv(out)
    rec = Recognizer.from_bundle()
    assert len(df) == 4 and df["face"].all()
    for row in df.itertuples():
        image = cv2.imread(row.file)
        assert (row.w, row.h) == image.shape[1::-1]
        expected = rec.classify_faces([image])[0].astype(np.float64)
        got = df.loc[df["file"] == row.file, rec.labels].to_numpy(np.float64)[0]
        assert got.tolist() == expected.tolist()


def test_a_bundle_trained_on_a_crops_corpus_records_whole_images(tmp_path):
    """``pathfer train`` on a ``detector: none`` corpus records ``none`` (and no margin),
    whatever the experiment's detector; predict then uses each image as the crop."""
    from pathfer.study.experiments.config import config_from_dict
    from pathfer.study.experiments.train import train_model

    folder = tmp_path / "faces"
    rng = np.random.default_rng(1)
    for label, level in (("anger", 70), ("happiness", 180)):  # tellable apart by brightness
        for subject in range(1, 5):
            for k in range(2):
                path = folder / label / f"S{subject:03d}_{k:03d}_00000001.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                img = np.clip(rng.normal(level, 30, (40 + 8 * k, 40)), 0, 255).astype(np.uint8)
                cv2.imwrite(str(path), img)
    spec = tmp_path / "faces.yaml"
    spec.write_text(
        "name: faces\nroot: faces\nglob: '*/*.png'\nlabel: {from: parent}\n"
        "regex: '(?P<subject>S\\d+)_\\d+_\\d+'\ndetector: none\n"
    )
    cfg = config_from_dict(
        {
            "name": "crops",
            "kind": "single",
            "target": str(spec),
            "cache": str(tmp_path / "cache"),
            "methods": ["cnn_scratch"],
            "preparation": {"frames": 1, "size": 48, "margin": 0.15, "detector": "haar"},
            "split": {"kind": "group_kfold", "k": 2},
            "executor": "inline",
            "train": {"max_steps": 2, "batch_size": 8},
        }
    )
    out = train_model(cfg, "cnn_scratch", tmp_path / "m.safetensors", log=lambda s: None)
    crop = load_bundle(out).crop
    assert crop == CropSettings(size=48, margin=0.0, detector="none")
    rec = Recognizer.from_bundle(out)
    assert rec.detector.name == "none" and rec.whole_image
    image = cv2.imread(str(next(folder.rglob("*.png"))))
    df = rec.predict(image)
    assert df[rec.labels].to_numpy(np.float32)[0].tolist() == rec.classify_faces(image)[0].tolist()
    assert re.fullmatch(r"\w+", str(df["top_emotion"].iloc[0]))
