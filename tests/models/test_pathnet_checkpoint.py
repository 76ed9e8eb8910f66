"""Checkpoints: pickle-free save/load and kill-and-resume equal to an uninterrupted run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pathfer.models.pathnet import (
    EngineSettings,
    EvolutionConfig,
    PathNet,
    PathNetConfig,
    TaskStatus,
)
from pathfer.models.pathnet.checkpoint import upgrade_checkpoint_v1
from pathfer.models.pathnet.toy import toy_task
from pathfer.runtime.formats import CURRENT, FormatError

pytestmark = pytest.mark.usefixtures("one_thread")

#: per-module BatchNorm (running statistics are state to resume), B's own statistics of A's
#: frozen modules (state too, snapshotted with the best path), a dropout head (its masks come
#: from the saved generator) and free modules restarted as copies at the freeze
CFG = PathNetConfig(
    layers=3,
    modules=8,
    max_active=2,
    channels=4,
    input_size=16,
    norm="batch",
    head_hidden=8,
    free_init="copy",
    frozen_statistics="task",
)
EV = EvolutionConfig(
    population=4,
    steps_per_path=3,
    batch_size=8,
    generations=6,
    patience=None,
    lr=1e-2,
    finish_steps=9,
    augment=True,  # exercise the generator-driven augmentation too
    seed_copy_fraction=0.0,
)
#: three finish evaluations to interrupt between (the engine's setting, saved with the run)
ENG = EngineSettings(finish_eval_every=3)


@pytest.fixture(scope="module")
def data():
    return toy_task(120, n_classes=3, seed=0), toy_task(90, n_classes=3, seed=1, offset=3)


#: the seed of the runs compared here
SEED = 13


class Killed(Exception):
    pass


def _kill_at(stage: str, at: int):
    def progress(rec):
        key = "generation" if stage == "evolve" else "step"
        if rec["stage"] == stage and rec[key] == at:
            raise Killed

    return progress


def _state(pn: PathNet) -> dict[str, torch.Tensor]:
    out = {k: v.clone() for k, v in pn.net.state_dict().items()}
    out.update(pn.opt.state_tensors("opt"))
    return out


def _strip(hist):
    return [{k: v for k, v in h.items() if k != "wall_time"} for h in hist]


def _same_result(r1, r2):
    d1, d2 = r1.as_dict(), r2.as_dict()
    for d in (d1, d2):
        d.pop("wall_time")
        d["history"] = _strip(d["history"])
        d["finish_history"] = _strip(d["finish_history"])
    assert d1 == d2


def _straight(data):
    (xa, ya), (xb, yb) = data
    pn = PathNet(CFG, seed=SEED)
    ra = pn.learn_task("A", xa, ya, 3, evolution=EV, engine=ENG)
    pn.freeze("A")
    rb = pn.learn_task("B", xb, yb, 3, evolution=EV, engine=ENG)
    return pn, ra, rb


@pytest.fixture(scope="module")
def straight(data):
    torch.set_num_threads(1)
    return _straight(data)


@pytest.mark.parametrize(
    "stage,at,every",
    [("evolve", 3, 1), ("evolve", 3, 3), ("evolve", 5, 2), ("finish", 6, 1)],
)
def test_kill_and_resume_equals_uninterrupted(tmp_path, data, straight, stage, at, every):
    (xa, ya), (xb, yb) = data
    ck = tmp_path / "ck"
    pn = PathNet(CFG, seed=SEED)
    ra = pn.learn_task("A", xa, ya, 3, evolution=EV, engine=ENG)
    pn.freeze("A")
    with pytest.raises(Killed):
        pn.learn_task(
            "B",
            xb,
            yb,
            3,
            evolution=EV,
            engine=ENG,
            checkpoint_path=ck,
            checkpoint_every=every,
            progress=_kill_at(stage, at),
        )
    del pn
    resumed = PathNet.load(ck)
    assert resumed.status("B") is TaskStatus.EVOLVING
    rb = resumed.learn_task("B", xb, yb, 3)  # the saved EvolutionConfig is reused
    ref_pn, ref_a, ref_b = straight
    _same_result(ra, ref_a)
    _same_result(rb, ref_b)
    s1, s2 = _state(resumed), _state(ref_pn)
    assert s1.keys() == s2.keys()
    for k in s1:
        assert torch.equal(s1[k], s2[k]), k
    assert resumed.rng.bit_generator.state == ref_pn.rng.bit_generator.state
    assert torch.equal(resumed.generator.get_state(), ref_pn.generator.get_state())


def test_checkpointing_does_not_change_the_run(tmp_path, data, straight):
    (xa, ya), (xb, yb) = data
    pn = PathNet(CFG, seed=SEED)
    pn.learn_task(
        "A", xa, ya, 3, evolution=EV, engine=ENG, checkpoint_path=tmp_path / "a", checkpoint_every=1
    )
    pn.freeze("A")
    rb = pn.learn_task(
        "B", xb, yb, 3, evolution=EV, engine=ENG, checkpoint_path=tmp_path / "b", checkpoint_every=2
    )
    _same_result(rb, straight[2])
    # the final checkpoint holds the learnt task
    again = PathNet.load(tmp_path / "b")
    assert again.status("B") is TaskStatus.TRAINED and again.status("A") is TaskStatus.FROZEN


def test_save_load_round_trip_then_continue_identically(tmp_path, data):
    (xa, ya), (xb, yb) = data
    pn = PathNet(CFG, seed=11)
    pn.learn_task("A", xa, ya, 3, evolution=EV, engine=ENG, labels=["x", "y", "z"])
    pn.freeze("A")
    pn.save(tmp_path / "pn")
    loaded = PathNet.load(tmp_path / "pn")
    assert loaded.config == pn.config and loaded.seed == 11
    assert np.array_equal(loaded.frozen, pn.frozen)
    assert loaded.labels("A") == ["x", "y", "z"]
    assert np.array_equal(loaded.best_path("A"), pn.best_path("A"))
    assert np.array_equal(loaded.predict_proba("A", xb), pn.predict_proba("A", xb))
    _same_result(loaded.result("A"), pn.result("A"))
    r1 = pn.learn_task("B", xb, yb, 3, evolution=EV, engine=ENG)
    r2 = loaded.learn_task("B", xb, yb, 3, evolution=EV, engine=ENG)
    _same_result(r1, r2)


DATA = Path(__file__).parent / "data"


def _v1_data():
    """The data the version-1 checkpoint in tests/models/data was written with."""
    xa, ya = toy_task(24, size=12, n_classes=2, seed=1)
    xb, yb = toy_task(24, size=12, n_classes=2, seed=2, offset=2)
    return xa, ya, xb, yb


def test_version_1_checkpoint_loads_and_resumes_as_it_would_have(tmp_path):
    """A checkpoint written by pathfer 0.1 (no format_version): a frozen task A and a task B
    interrupted after two generations. It loads, A predicts what 0.1 predicted, and B
    resumes to what 0.1 reached (the probabilities 0.1 wrote beside it)."""
    xa, ya, xb, yb = _v1_data()
    expected = np.load(DATA / "pathnet_v1_expected.npz")
    assert "format_version" not in json.loads((DATA / "pathnet_v1" / "state.json").read_text())
    pn = PathNet.load(DATA / "pathnet_v1")
    assert pn.config.relu == "layer" and pn.status("B") is TaskStatus.EVOLVING
    # bit-equal on the kind of CPU that wrote them; another kind (AVX2 against AVX512)
    # rounds floats otherwise, by about 1e-7 here
    close = {"rtol": 0, "atol": 1e-5}
    np.testing.assert_allclose(pn.predict_proba("A", xa), expected["A"], **close)
    pn.learn_task("B", xb, yb, 2)  # the saved settings: finish every 3 steps
    np.testing.assert_allclose(pn.predict_proba("B", xb), expected["B"], **close)
    pn.save(tmp_path / "now")
    assert json.loads((tmp_path / "now" / "state.json").read_text())["format_version"] == CURRENT


def _v1_state() -> dict:
    return json.loads((DATA / "pathnet_v1" / "state.json").read_text())


def test_upgrade_v1_fills_the_settings_added_since_and_moves_engine_settings():
    state = _v1_state()
    for key in ("relu", "frozen_statistics", "free_init"):
        state["config"].pop(key)
    del state["tasks"][1]["run"]["evolution"]["seed_copy_fraction"]
    new = upgrade_checkpoint_v1(state)
    assert {k: new["config"][k] for k in ("relu", "frozen_statistics", "free_init")} == {
        "relu": "layer",
        "frozen_statistics": "owner",
        "free_init": "random",
    }
    run = new["tasks"][1]["run"]
    assert EvolutionConfig.from_dict(run["evolution"]).seed_copy_fraction == 0.0
    assert EngineSettings.from_dict(run["engine"]) == EngineSettings(finish_eval_every=3)
    assert "pinned" not in run and "fresh" not in run
    assert state["tasks"][1]["run"]["evolution"]["frozen_slots"] == 0  # input untouched


@pytest.mark.parametrize(
    "key,value",
    [("frozen_slots", 1), ("compare_fresh", True), ("finish_frozen", "copy"), ("head_lr", 0.1)],
)
def test_upgrade_v1_refuses_an_interrupted_run_of_a_removed_variant(key, value):
    state = _v1_state()
    state["tasks"][1]["run"]["evolution"][key] = value
    with pytest.raises(FormatError, match=f"evolution.{key}={value!r}.*pathfer 0.1"):
        upgrade_checkpoint_v1(state)


def test_a_checkpoint_of_a_newer_format_is_refused(tmp_path, data):
    (xa, ya), _ = data
    PathNet(CFG, seed=0).save(tmp_path / "c")
    state_file = tmp_path / "c" / "state.json"
    state = json.loads(state_file.read_text())
    state["format_version"] = CURRENT + 1
    state_file.write_text(json.dumps(state))
    with pytest.raises(FormatError, match=f"newer pathfer \\(format {CURRENT + 1}"):
        PathNet.load(tmp_path / "c")


def test_checkpoint_is_json_and_safetensors_only(tmp_path, data):
    (xa, ya), _ = data
    pn = PathNet(CFG, seed=0)
    with pytest.raises(Killed):
        pn.learn_task(
            "A",
            xa,
            ya,
            3,
            evolution=EV,
            engine=ENG,
            checkpoint_path=tmp_path / "c",
            checkpoint_every=1,
            progress=_kill_at("evolve", 2),
        )
    files = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert files == ["state.json", "weights.safetensors"]
    state = json.loads((tmp_path / "c" / "state.json").read_text())
    assert state["tasks"][0]["status"] == "evolving"
    assert state["tasks"][0]["run"]["generation"] == 2
    tensors = load_file(str(tmp_path / "c" / "weights.safetensors"))
    assert "rng.torch" in tensors and tensors["rng.torch"].dtype == torch.uint8
    assert any(k.startswith("snap.A.") for k in tensors)
    # a weights file that does not belong to the JSON is refused
    other = tmp_path / "other"
    PathNet(CFG, seed=1).save(other)
    (tmp_path / "c" / "weights.safetensors").write_bytes(
        (other / "weights.safetensors").read_bytes()
    )
    with pytest.raises(ValueError, match="checksum"):
        PathNet.load(tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="not a PathNet checkpoint"):
        PathNet.load(tmp_path / "nothing")


def test_resume_with_other_data_or_config_is_refused(tmp_path, data):
    (xa, ya), (xb, yb) = data
    pn = PathNet(CFG, seed=0)
    with pytest.raises(Killed):
        pn.learn_task(
            "A",
            xa,
            ya,
            3,
            evolution=EV,
            engine=ENG,
            checkpoint_path=tmp_path / "c",
            checkpoint_every=1,
            progress=_kill_at("evolve", 1),
        )
    loaded = PathNet.load(tmp_path / "c")
    with pytest.raises(ValueError, match="different data"):
        loaded.learn_task("A", xb, yb, 3)
    with pytest.raises(ValueError, match="different EvolutionConfig"):
        loaded.learn_task("A", xa, ya, 3, evolution=dataclasses.replace(EV, lr=0.5))
    with pytest.raises(ValueError, match="different EngineSettings"):
        loaded.learn_task("A", xa, ya, 3, engine=EngineSettings(augment_shift=3))
