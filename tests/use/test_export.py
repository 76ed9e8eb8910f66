"""ONNX export: onnxruntime reproduces PyTorch on real GRID face crops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pathfer.data.faces import CropSettings, crop_face, get_detector, largest
from pathfer.data.video import FrameSampling, read_frames
from pathfer.use.bundle import load_bundle, save_bundle

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from pathfer.use.export import export_onnx, onnx_metadata  # noqa: E402

GRID = Path(__file__).parents[1] / "media" / "grid"


def _crops(settings: CropSettings) -> np.ndarray:
    det = get_detector(settings.detector)
    out = []
    for clip in sorted(GRID.glob("*.mpg")):
        for _, frame in read_frames(clip, FrameSampling("uniform", n=3)):
            face = largest(det.detect(frame))
            assert face is not None
            out.append(crop_face(frame, face.box, settings))
    return np.stack(out).astype(np.float32)[:, None] / 255.0


@pytest.fixture(scope="module")
def bundle():
    return load_bundle()


@pytest.fixture(scope="module")
def x64(bundle) -> np.ndarray:
    return _crops(bundle.crop)


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].name == "input"
    return sess.run(None, {"input": x})[0]


def test_onnx_matches_pytorch_on_grid_crops(bundle, x64, tmp_path):
    path = export_onnx(None, tmp_path / "fer.onnx")
    with torch.inference_mode():
        ref = torch.softmax(bundle.model(torch.from_numpy(x64)), 1).numpy()
    got = _run(path, x64)
    assert got.shape == ref.shape == (len(x64), 7)
    assert np.abs(got - ref).max() < 1e-4
    # dynamic batch: one crop at a time gives the same
    assert np.abs(_run(path, x64[:1]) - ref[:1]).max() < 1e-4
    meta = onnx_metadata(path)
    assert json.loads(meta["pathfer.labels"]) == bundle.labels
    assert json.loads(meta["pathfer.crop"]) == bundle.crop.as_dict()
    assert meta["pathfer.output"] == "probabilities" and meta["pathfer.architecture"]


def test_logits_and_48_pixel_bundle(bundle, tmp_path):
    # a bundle on pathfer's default 48x48 crops: the resize happens inside the graph
    crop = CropSettings(size=48, margin=0.15, equalize=True)
    src = save_bundle(
        bundle.model,
        tmp_path / "mx48.safetensors",
        architecture="mini_xception",
        arch_kwargs=bundle.model.arch_kwargs(),
        labels=bundle.labels,
        crop=crop,
    )
    path = export_onnx(src, tmp_path / "mx48.onnx", opset=18, output="logits")
    x = _crops(crop)[:6]
    assert x.shape[-1] == 48
    with torch.inference_mode():
        ref = bundle.model(torch.from_numpy(x)).numpy()
    assert np.abs(_run(path, x) - ref).max() < 1e-4
    assert onnx_metadata(path)["pathfer.output"] == "logits"
    with pytest.raises(ValueError, match="probabilities"):
        export_onnx(src, tmp_path / "bad.onnx", output="softmax")
