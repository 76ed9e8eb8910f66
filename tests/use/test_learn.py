"""`pathfer learn`: an interrupted learn resumes to the uninterrupted result; the command
line learns a corpus onto a model file, refuses in one line, and predict / inspect / export
serve its tasks."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from conftest import build_savee, grid, plain_bundle
from safetensors import safe_open
from typer.testing import CliRunner

from pathfer.cli import app
from pathfer.data.faces import CropSettings, default_detector
from pathfer.models.pathnet import EvolutionConfig, PathNetConfig
from pathfer.models.pathnet.toy import toy_task
from pathfer.use.bundle import default_bundle_path
from pathfer.use.learn import LearnData, learn_onto
from pathfer.use.model_file import load_model, new_model

pytestmark = pytest.mark.usefixtures("one_thread")

CFG = PathNetConfig(layers=3, modules=4, max_active=2, channels=4, input_size=16, norm="batch")
EV = EvolutionConfig(
    population=4, steps_per_path=2, batch_size=8, generations=5, patience=None, finish_steps=4
)
CROP = CropSettings(size=16, margin=0.1, detector="haar")


def toy(i: int) -> LearnData:
    x, y = toy_task(48, n_classes=3, seed=i, offset=i)
    labels = ["anger", "happiness", "sadness"]
    return LearnData(x[:32], y[:32], x[32:], y[32:], labels, CROP, {"corpus": f"toy{i}"})


def _tensors(path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("base") / "base.safetensors"
    learn_onto(new_model(CFG, CROP), "a", toy(0), path, evolution=EV)
    return path


def test_an_interrupted_learn_rerun_equals_an_uninterrupted_one(base, tmp_path):
    whole = tmp_path / "whole.safetensors"
    learn_onto(load_model(base), "b", toy(1), whole, evolution=EV)

    seen = []

    def stop_after_three(rec):
        seen.append(rec)
        if rec["stage"] == "evolve" and rec["generation"] == 3:
            raise KeyboardInterrupt

    out = tmp_path / "resumed.safetensors"
    with pytest.raises(KeyboardInterrupt):
        learn_onto(load_model(base), "b", toy(1), out, evolution=EV, progress=stop_after_three)
    assert not out.exists() and any((tmp_path / ".resumed.safetensors.work").iterdir())
    generations = []
    learn_onto(
        load_model(base),
        "b",
        toy(1),
        out,
        evolution=EV,
        progress=lambda r: generations.append(r.get("generation")),
    )
    assert generations[0] == 4  # resumed after the third generation, not from the start
    a, b = _tensors(whole), _tensors(out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / ".resumed.safetensors.work").exists()  # cleaned up once written


def test_learn_refits_by_default_and_keeps_earlier_tasks(base, tmp_path):
    x = torch.rand(6, 1, 16, 16)
    before = load_model(base).predict_proba("a", x)
    plain = learn_onto(
        load_model(base), "b", toy(1), tmp_path / "p.safetensors", evolution=EV, refit=False
    )
    new = learn_onto(load_model(base), "b", toy(1), tmp_path / "r.safetensors", evolution=EV)
    assert torch.equal(torch.as_tensor(new.predict_proba("a", x)), torch.as_tensor(before))
    record = new.tasks["b"]["provenance"]
    assert record["frames_refit"] == 48 and record["frames_fit"] == 32  # fit + validation
    assert "frames_refit" not in plain.tasks["b"]["provenance"]
    assert record["refit_steps"] > 0  # the chosen finish, rerun on more data: other weights
    assert not torch.equal(
        torch.as_tensor(new.predict_proba("b", x)), torch.as_tensor(plain.predict_proba("b", x))
    )


def test_train_layers_limits_what_a_task_trains_and_adds_to_the_file(base, tmp_path):
    x = torch.rand(6, 1, 16, 16)
    before = load_model(base).predict_proba("a", x)
    every = learn_onto(load_model(base), "b", toy(1), tmp_path / "e.safetensors", evolution=EV)
    some = learn_onto(
        load_model(base), "b", toy(1), tmp_path / "s.safetensors", evolution=EV, train_layers=[0]
    )
    trained = some.tasks["b"]["trained"]
    assert trained and {layer for layer, _ in trained} == {0}  # layers 1-2: frozen modules
    assert some.tasks["b"]["provenance"]["train_layers"] == [0]
    assert {layer for layer, _ in every.tasks["b"]["trained"]} != {0}  # the same seed, free
    assert (tmp_path / "s.safetensors").stat().st_size < (tmp_path / "e.safetensors").stat().st_size
    assert torch.equal(torch.as_tensor(some.predict_proba("a", x)), torch.as_tensor(before))

    with pytest.raises(ValueError, match="no module is frozen there yet"):
        learn_onto(new_model(CFG, CROP), "a", toy(0), tmp_path / "f.safetensors", train_layers=[0])
    with pytest.raises(ValueError, match=r"has 3 layers \(0 to 2\)"):
        learn_onto(load_model(base), "b", toy(1), tmp_path / "f.safetensors", train_layers=[3])
    assert not list(tmp_path.glob("f.safetensors"))
    # the command line refuses in one line, before it prepares any data
    for given, words in (("0,last", "--train-layers '0,last'"), ("0,5", "has 3 layers")):
        r = _cli(
            "learn", "savee", str(tmp_path / "nowhere"), "--onto", str(base), "--task", "b",
            "-o", str(tmp_path / "f.safetensors"), "--train-layers", given,
        )  # fmt: skip
        assert r.exit_code == 2 and words in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_the_command_line_learns_serves_and_refuses(base, tmp_path):
    savee = build_savee(tmp_path / "SAVEE")
    out = tmp_path / "more.safetensors"
    common = ["--cache", str(tmp_path / "cache"), "--recipe", "quick", "-q"]
    r = _cli(
        "learn",
        "savee",
        str(savee),
        "--onto",
        str(base),
        "--task",
        "savee",
        "-o",
        str(out),
        *common,
    )
    assert r.exit_code == 0, r.output
    m = load_model(out)
    assert m.names == ["a", "savee"]
    prov = m.tasks["savee"]["provenance"]
    assert prov["corpus"] == "savee" and prov["subjects_val"] and prov["recipe"] == "quick"
    # the model's crop (size, margin), found by the default detector: not the base model's
    # own task's detector (haar), which would lose faces the default one finds
    assert m.tasks["a"]["crop"]["detector"] == "haar"
    assert m.tasks["savee"]["crop"]["detector"] == default_detector()
    assert m.tasks["savee"]["crop"]["size"] == 16

    # refusals: one line each, exit 2
    for args, words in (
        (["--onto", str(out), "--task", "a"], "already has a task 'a'"),
        (["--onto", str(plain_bundle(tmp_path)), "--task", "x"], "plain plain_cnn network"),
    ):
        r = _cli(
            "learn", "savee", str(savee), *args, "-o", str(tmp_path / "x.safetensors"), *common
        )
        assert r.exit_code == 2 and words in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1
    one = build_savee(tmp_path / "ONE", codes=("h",))
    r = _cli(
        "learn",
        "savee",
        str(one),
        "--onto",
        str(base),
        "--task",
        "x",
        "-o",
        str(tmp_path / "x.safetensors"),
        *common,
    )
    assert r.exit_code == 2, r.output

    # predict --task all: every task's probabilities, columns prefixed by the task's name
    csv = tmp_path / "rows.csv"
    r = _cli(
        "predict",
        str(grid(0)),
        "--model",
        str(out),
        "--task",
        "all",
        "-o",
        str(csv),
        "-q",
        "-k",
        "10",
    )
    assert r.exit_code == 0, r.output
    cols = list(pd.read_csv(csv).columns)
    want = [f"{t}:{label}" for t in m.names for label in m.labels(t)]
    assert [c for c in cols if ":" in c] == want

    r = _cli("inspect", str(out), "--plot", str(tmp_path / "paths.png"))
    assert r.exit_code == 0 and "savee" in r.output and (tmp_path / "paths.png").stat().st_size
    r = _cli("export", str(out), "--task", "a", "-o", str(tmp_path / "a.onnx"))
    assert r.exit_code == 0 and (tmp_path / "a.onnx").is_file(), r.output
    r = _cli("predict", str(grid(0)), "--model", str(default_bundle_path()), "--task", "a", "-q")
    assert r.exit_code == 2 and "bundle has one task" in r.output
