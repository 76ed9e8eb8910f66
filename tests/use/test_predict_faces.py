"""Faces handed over as crops (``classify_faces``, bundles with ``detector: none``), the
detector's confidence in the output, and the device the model runs on."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from pathfer.data.faces import DETECTORS, CropSettings, Face, HaarDetector, largest
from pathfer.data.video import iter_frames
from pathfer.use.bundle import load_bundle, save_bundle
from pathfer.use.predict import Recognizer, resolve_device

GRID = Path(__file__).parents[1] / "media" / "grid"
CLIPS = sorted(GRID.glob("*.mpg"))


class WholeImage:
    """The ``none`` detector as the faces package defines it: the image is the face."""

    name = "none"
    calls = 0

    def detect(self, image: np.ndarray) -> list[Face]:
        WholeImage.calls += 1
        return [Face((0, 0, image.shape[1], image.shape[0]))]


class ScoredHaar(HaarDetector):
    """Haar with a confidence, standing in for a detector that gives one (YuNet)."""

    name = "scored_haar"

    def detect(self, image):
        return [Face(f.box, 0.87) for f in super().detect(image)]


@pytest.fixture
def registered():
    """Register the test detectors for one test (``none`` only where not yet registered)."""
    with DETECTORS.scoped():
        if "none" not in DETECTORS:
            DETECTORS.register("none", WholeImage)
        DETECTORS.register("scored_haar", ScoredHaar)
        yield


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    """Real GRID faces, cut out at different sizes (BGR)."""
    det = HaarDetector()
    out = []
    for clip, size in zip(CLIPS, (48, 64, 97, 150), strict=True):
        frame = next(iter_frames(clip))[2]
        x, y, w, h = largest(det.detect(frame)).box
        out.append(cv2.resize(frame[y : y + h, x : x + w], (size, size)))
    return out


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer.from_bundle()


def test_classify_faces_applies_the_bundles_resize_and_equalisation(rec, crops):
    p = rec.classify_faces(crops)
    assert p.shape == (4, 7) and np.allclose(p.sum(1), 1, atol=1e-5)
    size = rec.crop.size
    manual = []
    for c in crops:
        interp = cv2.INTER_AREA if c.shape[0] > size else cv2.INTER_LINEAR
        g = cv2.resize(cv2.cvtColor(c, cv2.COLOR_BGR2GRAY), (size, size), interpolation=interp)
        manual.append(cv2.equalizeHist(g) if rec.crop.equalize else g)
    np.testing.assert_allclose(p, rec.classify(np.stack(manual)), atol=1e-6)
    # the same faces as RGB, PIL images, grey, one at a time
    rgb = [np.ascontiguousarray(c[:, :, ::-1]) for c in crops]
    np.testing.assert_allclose(rec.classify_faces(rgb, color="rgb"), p, atol=1e-6)
    np.testing.assert_allclose(rec.classify_faces([Image.fromarray(c) for c in rgb]), p, atol=1e-6)
    grey = [cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) for c in crops]
    np.testing.assert_allclose(rec.classify_faces(grey), p, atol=1e-6)
    np.testing.assert_allclose(rec.classify_faces(crops[2]), p[2:3], atol=1e-6)
    assert rec.classify_faces([]).shape == (0, 7)


def test_equalisation_follows_the_bundle(crops, tmp_path):
    b = load_bundle()
    flat = [
        np.clip(c.astype(int) // 3 + 60, 0, 255).astype(np.uint8) for c in crops
    ]  # low contrast
    probs = {}
    for eq in (False, True):
        path = save_bundle(
            b.model,
            tmp_path / f"eq{eq}.safetensors",
            architecture="mini_xception",
            arch_kwargs=b.model.arch_kwargs(),
            labels=b.labels,
            crop=CropSettings(size=64, margin=0.1, equalize=eq),
        )
        probs[eq] = Recognizer.from_bundle(path).classify_faces(flat)
    assert np.abs(probs[True] - probs[False]).max() > 1e-3


def test_a_detector_none_bundle_predicts_on_crops_without_detecting(registered, crops, tmp_path):
    b = load_bundle()
    path = save_bundle(
        b.model,
        tmp_path / "crops.safetensors",
        architecture="mini_xception",
        arch_kwargs=b.model.arch_kwargs(),
        labels=b.labels,
        crop=CropSettings(size=64, margin=0.1, equalize=False, detector="none"),
    )
    rec = Recognizer.from_bundle(path)
    assert rec.whole_image
    WholeImage.calls = 0
    df = rec.predict(crops)
    assert df["face"].all() and len(df) == 4
    assert df[["x", "y", "w", "h"]].iloc[1].tolist() == [0, 0, 64, 64]
    np.testing.assert_allclose(df[rec.labels].to_numpy(float), rec.classify_faces(crops), atol=1e-6)
    # a 48x48 face crop that Haar finds no face in still gets a prediction
    tiny = cv2.cvtColor(cv2.resize(crops[0], (24, 24)), cv2.COLOR_BGR2GRAY)
    assert HaarDetector().detect(tiny) == []
    assert rec.predict(tiny)["face"].all()


def test_face_score_column_carries_the_detectors_confidence(registered):
    frames = [f for _, _, f in iter_frames(CLIPS[0], every=25)]
    for track in (True, False):
        rec = Recognizer.from_bundle(detector="scored_haar", track=track)
        df = rec.predict(frames)
        assert df["face"].all()
        assert df["face_score"].tolist() == pytest.approx([0.87] * 3)
    haar = Recognizer.from_bundle(detector="haar").predict(frames[0])
    assert math.isnan(haar["face_score"].iloc[0])


def test_unknown_detector_names_the_choices():
    with pytest.raises(ValueError, match="haar"):
        Recognizer.from_bundle(detector="nosuch")


def test_device_cpu_and_clear_errors():
    rec = Recognizer.from_bundle(device="cpu")
    assert rec.device == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in rec._infer.parameters())
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU.*device='cpu'"):
            Recognizer.from_bundle(device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_gives_the_cpu_numbers(crops):  # pragma: no cover - runs where a GPU exists
    cpu = Recognizer.from_bundle(device="cpu").classify_faces(crops)
    gpu = Recognizer.from_bundle(device="cuda")
    assert next(gpu._infer.parameters()).is_cuda
    np.testing.assert_allclose(gpu.classify_faces(crops), cpu, atol=1e-4)
