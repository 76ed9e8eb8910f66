"""Multi-task model files: the shipped FER2013 model as task ``fer2013``; a chain of three
tasks where every earlier task stays bit-identical and the file holds only frozen modules;
the refusals; serving a task (``Recognizer.from_model``, ``task="all"``) and its ONNX."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import plain_bundle
from safetensors import safe_open
from safetensors.torch import save_file

from pathfer.data.faces import CropSettings
from pathfer.models.nn import predict_proba
from pathfer.models.pathnet import EvolutionConfig, PathNetConfig
from pathfer.models.pathnet.toy import toy_task
from pathfer.runtime import formats
from pathfer.use.bundle import META_KEY, default_bundle_path, load_bundle
from pathfer.use.learn import LearnData, learn_onto
from pathfer.use.model_file import (
    MARK_KEY,
    ModelFileError,
    ModelFormatError,
    builtin_model,
    is_model_file,
    load_model,
    new_model,
    read_model_meta,
    save_model,
    with_free_modules,
)
from pathfer.use.predict.recognizer import Recognizer

pytestmark = pytest.mark.usefixtures("one_thread")

CFG = PathNetConfig(
    layers=3,
    modules=4,
    max_active=2,
    channels=4,
    input_size=16,
    norm="batch",
    frozen_statistics="task",
    free_init="copy",
)
EV = EvolutionConfig(
    population=4, steps_per_path=2, batch_size=8, generations=3, patience=None, finish_steps=4
)
CROP = CropSettings(size=16, margin=0.1, detector="none")
LABELS = [
    ["anger", "happiness", "sadness"],
    ["fear", "surprise"],
    ["disgust", "happiness", "neutral"],
]


def toy(i: int, n: int = 48) -> LearnData:
    x, y = toy_task(n, n_classes=len(LABELS[i]), seed=i, offset=i)
    return LearnData(x[:32], y[:32], x[32:], y[32:], LABELS[i], CROP, {"corpus": f"toy{i}"})


@pytest.fixture(scope="module")
def probe() -> torch.Tensor:
    return toy_task(12, seed=99)[0]


@pytest.fixture(scope="module")
def chain(tmp_path_factory, probe):
    """Three tasks learnt one after another, each written to its own file."""
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("chain")
    model, files, before = new_model(CFG, CROP), [], {}
    for i, name in enumerate(("a", "b", "c")):
        files.append(d / f"m{i + 1}.safetensors")
        model = learn_onto(model, name, toy(i), files[-1], evolution=EV)
        before[name] = load_model(files[-1]).predict_proba(name, probe)
        model = load_model(files[-1])
    return files, before


def test_builtin_is_the_shipped_bundle_bit_for_bit(tmp_path):
    bundle = load_bundle(default_bundle_path())
    crops = np.random.default_rng(0).integers(0, 256, (16, 64, 64), dtype=np.uint8)
    m = builtin_model()
    assert m.names == ["fer2013"] and m.labels() == bundle.labels
    assert m.crop() == bundle.crop and m.pathnet.frozen[:, 0].all()
    ref = torch.from_numpy(bundle.predict_proba(crops))
    assert torch.equal(torch.from_numpy(m.predict_proba("fer2013", crops)), ref)
    path = save_model(m, tmp_path / "builtin.safetensors")
    again = load_model(path)
    assert torch.equal(torch.from_numpy(again.predict_proba(None, crops)), ref)
    # stored: the five frozen stages and the head, never the free copies
    with safe_open(str(path), "pt") as f:
        layers = {int(k.split(".")[1]) for k in f.keys() if k.startswith("modules.")}  # noqa: SIM118
        rows = {int(k.split(".")[2]) for k in f.keys() if k.startswith("modules.")}  # noqa: SIM118
    assert layers == set(range(5)) and rows == {0}
    assert path.stat().st_size < 1.05 * default_bundle_path().stat().st_size


def test_every_earlier_task_is_bit_identical_along_a_chain(chain, probe):
    files, before = chain
    last = load_model(files[-1])
    assert last.names == ["a", "b", "c"] and last.default_task == "c"
    for name in ("a", "b"):
        for f in files[["a", "b", "c"].index(name) :]:
            now = load_model(f).predict_proba(name, probe)
            assert torch.equal(torch.from_numpy(now), torch.from_numpy(before[name]))


def test_a_file_holds_frozen_modules_only_and_grows_by_what_a_task_trained(chain):
    files, _ = chain
    prev = set()
    for f, name in zip(files, ("a", "b", "c"), strict=True):
        m = load_model(f)
        with safe_open(str(f), "pt") as h:
            keys = set(h.keys())
        modules = {tuple(map(int, k.split(".")[1:3])) for k in keys if k.startswith("modules.")}
        assert modules == {tuple(x) for x in np.argwhere(m.pathnet.frozen)}
        trained, reused = m.modules_of(name)
        assert modules - prev == set(trained)  # only the modules the new task trained
        assert all(owner in m.names[:-1] for *_, owner in reused)
        new_heads = {k.split(".")[1] for k in keys if k.startswith("heads.")}
        assert new_heads == set(m.names)
        prev = modules


def test_a_full_super_network_widens_and_every_task_predicts_as_before(chain, probe):
    files, _ = chain
    for f in files:
        m = load_model(f)
        wide = with_free_modules(m)
        frozen = m.pathnet.frozen.sum(axis=1)
        assert (~wide.pathnet.frozen).sum(axis=1).min() >= CFG.max_active
        assert wide.pathnet.config.modules == max(CFG.modules, frozen.max() + CFG.max_active)
        for name in m.names:
            assert np.array_equal(wide.predict_proba(name, probe), m.predict_proba(name, probe))
    # the three tasks fill some layer of a 4-module network: the next task gets room
    full = load_model(files[-1])
    assert full.pathnet.frozen.all(axis=1).any() or full.pathnet.frozen.sum(1).max() > 2
    assert with_free_modules(full).pathnet.config.modules > CFG.modules


def test_a_mini_xception_bundle_is_a_one_task_model_that_learns_on(tmp_path):
    bundle = tmp_path / "my-fer.safetensors"
    bundle.write_bytes(default_bundle_path().read_bytes())
    m = load_model(bundle)
    assert (
        m.names == ["my-fer"]
        and m.tasks["my-fer"]["provenance"]["from"] == "bundle my-fer.safetensors"
    )
    x = torch.rand(6, 1, 64, 64)
    shipped = predict_proba(load_bundle(default_bundle_path()).model, x)
    assert np.array_equal(m.predict_proba("my-fer", x), shipped)
    toy_task_data = toy(2)
    cropped = CropSettings.from_dict({**m.module_crop.as_dict(), "detector": "none"})
    data = LearnData(
        torch.rand(24, 1, 64, 64),
        toy_task_data.y_fit[:24] % 2,
        torch.rand(12, 1, 64, 64),
        toy_task_data.y_val[:12] % 2,
        ["anger", "happiness"],
        cropped,
        {},
    )
    tiny = EvolutionConfig(
        population=2, steps_per_path=1, batch_size=8, generations=1, patience=None, finish_steps=1
    )
    out = learn_onto(m, "more", data, tmp_path / "more.safetensors", evolution=tiny)
    assert out.names == ["my-fer", "more"]
    assert np.array_equal(
        load_model(tmp_path / "more.safetensors").predict_proba("my-fer", x), shipped
    )


def test_refusals_name_clash_newer_version_bundle_one_class_crop(chain, tmp_path):
    files, _ = chain
    m = load_model(files[0])
    with pytest.raises(ModelFileError, match="already has a task 'a'"):
        learn_onto(m, "a", toy(1), tmp_path / "x.safetensors", evolution=EV)
    one = toy(1)
    one.y_fit = torch.zeros_like(one.y_fit)
    with pytest.raises(ModelFileError, match="at least two emotions"):
        learn_onto(m, "d", one, tmp_path / "x.safetensors", evolution=EV)
    other = toy(1)
    other.crop = CropSettings(size=16, equalize=True, detector="none")
    with pytest.raises(ModelFileError, match="differs from the crop"):
        learn_onto(m, "d", other, tmp_path / "x.safetensors", evolution=EV)
    with pytest.raises(ModelFileError, match="plain plain_cnn network"):
        load_model(plain_bundle(tmp_path))
    # a file from a newer pathfer: refused with what to do
    with safe_open(str(files[0]), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        header = dict(f.metadata())
    meta = json.loads(header[META_KEY])
    meta[formats.KEY] = formats.CURRENT + 1
    newer = tmp_path / "newer.safetensors"
    save_file(tensors, str(newer), metadata={**header, META_KEY: json.dumps(meta)})
    with pytest.raises(ModelFormatError, match="newer pathfer.*upgrade"):
        read_model_meta(newer)
    assert is_model_file(newer) and MARK_KEY in header and not is_model_file(default_bundle_path())


def test_a_damaged_file_is_refused_not_half_loaded(chain, tmp_path):
    files, _ = chain
    with safe_open(str(files[1]), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        header = dict(f.metadata())
    tensors.pop(next(k for k in tensors if k.startswith("modules.")))
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata=header)
    with pytest.raises(ModelFileError, match="missing"):
        load_model(bad)


def test_task_all_gives_each_task_its_own_probabilities(chain, probe):
    files, _ = chain
    rec = Recognizer.from_model(files[-1], task="all")
    m = load_model(files[-1])
    want = [f"{t}:{label}" for t in m.names for label in m.labels(t)]
    assert rec.labels == want
    crops = (probe[:, 0].numpy() * 255).round().astype(np.uint8)
    got = rec.classify(crops)
    start = 0
    for t in m.names:
        n = len(m.labels(t))
        single = Recognizer.from_model(files[-1], task=t).classify(crops)
        assert np.array_equal(got[:, start : start + n], single)
        np.testing.assert_allclose(got[:, start : start + n].sum(1), 1.0, atol=1e-5)
        start += n
    assert Recognizer.from_model(files[-1]).labels == m.labels("c")  # the default task
    with pytest.raises(ModelFileError, match="no task 'zz'"):
        Recognizer.from_model(files[-1], task="zz")


def test_onnx_of_a_task_equals_its_pytorch_output(chain, tmp_path, probe):
    ort = pytest.importorskip("onnxruntime")
    from pathfer.use.export import export_onnx

    files, _ = chain
    m = load_model(files[-1])
    for task in ("a", "c"):
        out = export_onnx(m.as_bundle(task), tmp_path / f"{task}.onnx")
        sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        x = probe.numpy().astype(np.float32)
        (got,) = sess.run(None, {"input": x})
        np.testing.assert_allclose(got, m.predict_proba(task, probe), atol=1e-5, rtol=0)
        np.testing.assert_allclose(got, predict_proba(m.task_model(task), probe), atol=1e-5)
