"""Model bundles: round trips, the architecture registry, clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from pathfer.data.faces import CropSettings
from pathfer.models.architectures import ARCHITECTURES
from pathfer.models.baselines.mini_xception import MiniXception
from pathfer.use.bundle import (
    BundleError,
    default_bundle_path,
    load_bundle,
    read_meta,
    register_architecture,
    save_bundle,
)


class TinyCNN(nn.Module):
    def __init__(self, n_classes: int = 3, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))


class Unregistered(TinyCNN):
    pass


@pytest.fixture(autouse=True)
def _registry():
    with ARCHITECTURES.scoped():
        register_architecture("tiny_cnn", TinyCNN)
        yield


def _tiny(seed: int = 0) -> TinyCNN:
    torch.manual_seed(seed)
    m = TinyCNN(3, 4)
    m.bn.running_mean.uniform_(-1, 1)
    m.bn.running_var.uniform_(0.5, 2)
    return m.eval()


def test_round_trip_custom_architecture(tmp_path):
    m = _tiny()
    path = save_bundle(
        m,
        tmp_path / "tiny.safetensors",
        architecture="tiny_cnn",
        arch_kwargs={"n_classes": 3, "width": 4},
        labels=["Happy", "sad", "neutral"],
        crop=CropSettings(size=32, margin=0.2, equalize=False),
        provenance={"dataset": "savee", "seed": np.int64(3), "acc": np.float32(0.5)},
        pathnet_path=[[0, 1], [2, 3]],
    )
    b = load_bundle(path)
    assert isinstance(b.model, TinyCNN) and not b.model.training
    assert b.labels == ["happiness", "sadness", "neutral"]
    assert b.crop == CropSettings(size=32, margin=0.2, equalize=False)
    assert b.meta["provenance"] == {"dataset": "savee", "seed": 3, "acc": 0.5}
    assert b.meta["pathnet_path"] == [[0, 1], [2, 3]]
    assert b.meta["output"] == "logits" and b.meta["pathfer_version"]
    x = torch.rand(6, 1, 32, 32)
    with torch.inference_mode():
        assert torch.equal(m(x), b.model(x))
    crops = (np.random.default_rng(0).random((5, 32, 32)) * 255).astype(np.uint8)
    p = b.predict_proba(crops)
    assert p.shape == (5, 3) and np.allclose(p.sum(1), 1, atol=1e-6)
    assert not (tmp_path / "tiny.json").exists()  # card only on request
    assert path.stat().st_mode & 0o044  # readable by others, like any written file


def test_register_architecture_as_decorator_and_import_string(tmp_path):
    @register_architecture("deco_cnn")
    def make(n_classes: int = 2) -> nn.Module:
        return TinyCNN(n_classes, 2)

    register_architecture("lazy_cnn", f"{TinyCNN.__module__}:TinyCNN")
    m = make(2).eval()
    p = save_bundle(
        m,
        tmp_path / "a.safetensors",
        architecture="deco_cnn",
        arch_kwargs={"n_classes": 2},
        labels=["anger", "fear"],
    )
    assert isinstance(load_bundle(p).model, TinyCNN)
    p2 = save_bundle(
        _tiny(),
        tmp_path / "b.safetensors",
        architecture="lazy_cnn",
        arch_kwargs={"n_classes": 3},
        labels=["anger", "fear", "sadness"],
    )
    assert read_meta(p2)["factory"] == f"{TinyCNN.__module__}:TinyCNN"
    assert isinstance(load_bundle(p2).model, TinyCNN)
    with pytest.raises(ValueError, match="module:callable"):
        register_architecture("bad", "no_colon_here")


def test_mini_xception_with_new_head_round_trip(tmp_path):
    m = load_bundle().model
    m.replace_head(3)
    m.eval()
    p = save_bundle(
        m,
        tmp_path / "mx3.safetensors",
        architecture="mini_xception",
        arch_kwargs=m.arch_kwargs(),
        labels=["anger", "happiness", "neutral"],
        crop=CropSettings(),
        write_card=True,
    )
    b = load_bundle(p)
    x = torch.rand(4, 1, 48, 48)
    with torch.inference_mode():
        assert torch.allclose(m(x), b.model(x))
    card = json.loads((tmp_path / "mx3.json").read_text())
    assert card["arch_kwargs"]["n_classes"] == 3 and card["labels"][1] == "happiness"


def test_save_checks_model_against_architecture(tmp_path):
    m = MiniXception(n_classes=3).eval()
    with pytest.raises(BundleError, match="does not match architecture"):
        save_bundle(
            m,
            tmp_path / "x.safetensors",
            architecture="mini_xception",
            arch_kwargs={"n_classes": 7},
            labels=["anger", "fear", "sadness"],
        )
    with pytest.raises(BundleError, match="outputs 3 classes but 2 labels"):
        save_bundle(
            m,
            tmp_path / "x.safetensors",
            architecture="mini_xception",
            arch_kwargs={"n_classes": 3},
            labels=["anger", "fear"],
        )
    with pytest.raises(BundleError, match="must end in .safetensors"):
        save_bundle(
            m,
            tmp_path / "x.pt",
            architecture="mini_xception",
            arch_kwargs={"n_classes": 3},
            labels=["anger", "fear", "sadness"],
        )
    with pytest.raises(ValueError, match="unknown emotion"):
        save_bundle(
            m,
            tmp_path / "x.safetensors",
            architecture="mini_xception",
            arch_kwargs={"n_classes": 3},
            labels=["anger", "fear", "boredom"],
        )
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_unregistered_architecture_needs_trust(tmp_path):
    m = Unregistered(3, 4).eval()
    p = save_bundle(
        m,
        tmp_path / "u.safetensors",
        architecture="not_registered",
        arch_kwargs={"n_classes": 3},
        labels=["anger", "fear", "sadness"],
    )
    hint = read_meta(p)["factory"]
    assert hint.endswith(":Unregistered")
    with pytest.raises(BundleError, match="trusted_modules"):
        load_bundle(p)
    b = load_bundle(p, trusted_modules=[hint.split(":")[0]])
    assert type(b.model).__name__ == "Unregistered"
    # a hint inside pathfer must still name a module class, not any function
    meta = dict(read_meta(p), architecture="evil", factory="pathfer.data.emotions:canonical")
    evil = tmp_path / "evil.safetensors"
    save_file({"w": torch.zeros(1)}, str(evil), metadata={"pathfer.meta": json.dumps(meta)})
    with pytest.raises(BundleError, match="neither registered nor an nn.Module"):
        load_bundle(evil)


def test_foreign_and_corrupt_files_are_named(tmp_path):
    good = default_bundle_path()
    cases: dict[str, Path] = {}
    cases["random"] = tmp_path / "random.safetensors"
    cases["random"].write_bytes(np.random.default_rng(0).bytes(5000))
    cases["truncated"] = tmp_path / "truncated.safetensors"
    cases["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases["foreign"] = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(cases["foreign"]), metadata={"format": "pt"})
    cases["empty"] = tmp_path / "empty.safetensors"
    cases["empty"].write_bytes(b"")
    expected = {
        "random": "not a readable safetensors",
        "truncated": "not a readable safetensors|corrupt or truncated",
        "foreign": "without pathfer metadata",
        "empty": "not a readable safetensors",
    }
    for key, path in cases.items():
        with pytest.raises(BundleError, match=expected[key]) as info:
            load_bundle(path)
        assert str(path) in str(info.value)
    with pytest.raises(BundleError, match="bundle not found") as info:
        load_bundle(tmp_path / "missing.safetensors")
    assert "missing.safetensors" in str(info.value)
    with pytest.raises(BundleError, match="is a folder"):
        load_bundle(tmp_path)


def test_damaged_metadata_and_wrong_weights(tmp_path):
    bad_json = tmp_path / "badjson.safetensors"
    save_file({"w": torch.zeros(1)}, str(bad_json), metadata={"pathfer.meta": "{not json"})
    with pytest.raises(BundleError, match="metadata is damaged"):
        load_bundle(bad_json)
    meta = dict(read_meta(default_bundle_path()))
    wrong = tmp_path / "wrong.safetensors"
    save_file({"w": torch.zeros(1)}, str(wrong), metadata={"pathfer.meta": json.dumps(meta)})
    with pytest.raises(BundleError, match="weights do not fit") as info:
        load_bundle(wrong)
    assert "wrong.safetensors" in str(info.value)


def test_default_bundle_path_is_package_data():
    p = default_bundle_path()
    assert p.name == "fer2013_mini_xception.safetensors"
    assert p.parent.name == "assets" and (p.parent / "fer2013_mini_xception.json").is_file()
    assert read_meta(p)["architecture"] == "mini_xception"


def _forge(tmp_path: Path, name: str, **meta_changes) -> Path:
    """A bundle file with the default model's weights and edited metadata (as a hand-edited
    or foreign-made file would be)."""
    src = default_bundle_path()
    meta = {**read_meta(src), **meta_changes}
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as f:
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open API
    path = tmp_path / name
    save_file(state, str(path), metadata={"pathfer.meta": json.dumps(meta)})
    return path


def test_labels_must_match_the_model_outputs_at_load(tmp_path):
    # seven outputs, three labels: predict would index past them, export would misname them
    path = _forge(tmp_path, "three.safetensors", labels=["anger", "fear", "sadness"])
    with pytest.raises(BundleError, match="outputs 7 classes but 3 labels") as info:
        load_bundle(path)
    assert "three.safetensors" in str(info.value)


def test_save_refuses_a_model_that_cannot_score_the_crop_size(tmp_path):
    from pathfer.models.nn import PlainCNN

    m = PlainCNN(3, channels=[4, 4], branches=1, input_size=32).eval()  # flatten head: 32 px
    with pytest.raises(BundleError, match=r"cannot score a \(1, 1, 48, 48\) crop"):
        save_bundle(
            m,
            tmp_path / "m.safetensors",
            architecture="plain_cnn",
            arch_kwargs=m.arch_kwargs,
            labels=["anger", "fear", "sadness"],
            crop=CropSettings(size=48),
        )
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "factory",
    [
        "pathfer.use.bundle:torch.nn.Identity",  # a pathfer module, a torch class
        "pathfer.models.nn:nn.Identity",
        "pathfer.use.bundle:nn.Sequential",
    ],
)
def test_trust_covers_the_whole_factory_path(tmp_path, factory):
    path = _forge(tmp_path, "evil.safetensors", architecture="evil", factory=factory)
    with pytest.raises(BundleError, match="outside the trusted modules") as info:
        load_bundle(path)
    assert "evil.safetensors" in str(info.value)
    # trusting torch explicitly is the caller's choice (then arch_kwargs and weights decide)
    with pytest.raises(BundleError, match="weights do not fit|cannot build"):
        load_bundle(path, trusted_modules=["torch"])


def test_unknown_architecture_names_the_file(tmp_path):
    path = _forge(tmp_path, "unknown.safetensors", architecture="resnet9000", factory=None)
    with pytest.raises(BundleError, match="unknown architecture 'resnet9000'") as info:
        load_bundle(path)
    assert str(info.value).startswith(str(path))


def test_state_dict_mismatch_names_the_tensors(tmp_path):
    m = _tiny()
    path = save_bundle(
        m,
        tmp_path / "t.safetensors",
        architecture="tiny_cnn",
        arch_kwargs={"n_classes": 3, "width": 4},
        labels=["anger", "fear", "sadness"],
    )
    meta = read_meta(path)
    state = {k: v for k, v in m.state_dict().items() if k != "head.bias"}
    state["conv.weight"] = torch.zeros(8, 1, 3, 3)
    state["extra.w"] = torch.zeros(2)
    bad = tmp_path / "bad.safetensors"
    save_file(state, str(bad), metadata={"pathfer.meta": json.dumps(meta)})
    with pytest.raises(BundleError) as info:
        load_bundle(bad)
    msg = str(info.value)
    assert "bad.safetensors" in msg
    assert "missing: head.bias" in msg and "unexpected: extra.w" in msg
    assert "conv.weight (8, 1, 3, 3) in the file vs (4, 1, 3, 3)" in msg
