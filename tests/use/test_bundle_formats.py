"""Bundle format versions: bundles of version 1 (pathfer 0.1) load through
``upgrade_bundle_v1`` and predict as before; newer versions are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from pathfer.data.faces import CropSettings
from pathfer.models.nn import PlainCNN
from pathfer.runtime import formats
from pathfer.use.bundle import (
    MARK_KEY,
    META_KEY,
    BundleError,
    BundleFormatError,
    default_bundle_path,
    load_bundle,
    read_meta,
    save_bundle,
    upgrade_bundle_v1,
)

DATA = Path(__file__).parent / "data"
V1 = DATA / "plain_cnn_v1.safetensors"


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    raw = json.loads((DATA / "v1_expected.json").read_text())
    return {k: np.asarray(v, dtype=np.float32) for k, v in raw.items()}


def _crops() -> tuple[np.ndarray, np.ndarray]:
    """The inputs ``v1_expected.json`` was computed on (tests/use/data/README.md)."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (5, 16, 16), dtype=np.uint8)
    return small, rng.integers(0, 256, (4, 64, 64), dtype=np.uint8)


def _header(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as f:
        return f.metadata()


def test_a_version_1_bundle_loads_and_predicts_as_before(expected) -> None:
    assert formats.version_of(json.loads(_header(V1)[META_KEY])) == 1
    b = load_bundle(V1)
    assert b.meta["format_version"] == formats.CURRENT
    # the arguments version 1 left out are written out with the values it relied on
    assert b.meta["arch_kwargs"]["head_hidden"] == 0
    assert b.meta["arch_kwargs"]["relu"] == "layer"
    assert b.crop.as_dict() == {
        "size": 16,
        "margin": 0.2,
        "equalize": False,
        "detector": "haar",
        "align": False,
    }
    probs = b.predict_proba(_crops()[0])
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs, expected["plain_cnn_v1"], rtol=0, atol=1e-6)


def test_the_shipped_bundle_is_version_2_and_predicts_as_before(expected) -> None:
    path = default_bundle_path()
    header = _header(path)
    meta = json.loads(header[META_KEY])
    assert header[MARK_KEY] == "2" and meta["format_version"] == formats.CURRENT
    assert meta["factory"] == "pathfer.models.baselines.mini_xception:MiniXception"
    card = json.loads(path.with_suffix(".json").read_text())
    assert card == meta
    probs = load_bundle(path).predict_proba(_crops()[1])
    np.testing.assert_allclose(probs, expected["fer2013"], rtol=0, atol=1e-6)


def test_upgrade_bundle_v1_maps_old_modules_and_keeps_given_kwargs() -> None:
    old = {
        "format_version": 1,
        "architecture": "mini_xception",
        "factory": "pathfer.baselines.mini_xception:MiniXception",
        "arch_kwargs": {"n_classes": 7},
    }
    new = upgrade_bundle_v1(old)
    assert new["factory"] == "pathfer.models.baselines.mini_xception:MiniXception"
    assert new["arch_kwargs"] == {"n_classes": 7}  # only plain CNNs left arguments out
    assert new["format_version"] == formats.CURRENT and old["format_version"] == 1
    cnn = {"architecture": "plain_cnn", "factory": "pathfer.baselines.cnn:PlainCNN"}
    cnn["arch_kwargs"] = {"n_classes": 3, "relu": "module", "head_hidden": 8}
    new = upgrade_bundle_v1(cnn)
    assert new["factory"] == "pathfer.models.nn:PlainCNN"
    assert new["arch_kwargs"] == cnn["arch_kwargs"]  # values the bundle gives stay


def test_saved_bundles_record_the_current_version(tmp_path) -> None:
    torch.manual_seed(0)
    m = PlainCNN(2, channels=(2,), branches=1, input_size=8).eval()
    path = save_bundle(
        m,
        tmp_path / "b.safetensors",
        architecture="plain_cnn",
        arch_kwargs=m.arch_kwargs,
        labels=["anger", "neutral"],
        crop=CropSettings(size=8),
    )
    header = _header(path)
    assert header[MARK_KEY] == str(formats.CURRENT)
    assert json.loads(header[META_KEY])["format_version"] == formats.CURRENT
    assert read_meta(path)["format_version"] == formats.CURRENT


@pytest.mark.parametrize(
    ("version", "message"),
    [(3, r"newer pathfer \(format 3.*upgrade pathfer"), ("2", "positive integer")],
)
def test_other_versions_are_refused_naming_the_file(tmp_path, version, message) -> None:
    meta = {**read_meta(V1), "format_version": version}
    with safe_open(str(V1), framework="pt") as f:
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open API
    path = tmp_path / "future.safetensors"
    save_file(state, str(path), metadata={META_KEY: json.dumps(meta)})
    with pytest.raises(BundleFormatError, match=message) as info:
        load_bundle(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, BundleError) and isinstance(info.value, formats.FormatError)
