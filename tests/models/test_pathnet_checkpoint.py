"""Checkpoints: pickle-free save/load and kill-and-resume equal to an uninterrupted run."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pathfer.models.pathnet import EvolutionConfig, PathNet, PathNetConfig, TaskStatus
from pathfer.models.pathnet.toy import toy_task

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
    finish_eval_every=3,
    augment=True,  # exercise the generator-driven augmentation too
    seed_frozen_fraction=0.0,
    seed_copy_fraction=0.0,  # B's best path must reuse frozen modules to call the safeguard
    frozen_slots=0,
    compare_fresh=True,  # B: a second finish, and a second snapshot to resume
)


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
    ra = pn.learn_task("A", xa, ya, 3, evolution=EV)
    pn.freeze("A")
    rb = pn.learn_task("B", xb, yb, 3, evolution=EV)
    return pn, ra, rb


@pytest.fixture(scope="module")
def straight(data):
    torch.set_num_threads(1)
    return _straight(data)


def test_the_reference_run_exercises_the_safeguard(straight):
    check = straight[2].fresh_check
    assert check is not None and check["kept"] in ("reuse", "fresh")


@pytest.mark.parametrize(
    "stage,at,every",
    [("evolve", 3, 1), ("evolve", 3, 3), ("evolve", 5, 2), ("finish", 6, 1)],
)
def test_kill_and_resume_equals_uninterrupted(tmp_path, data, straight, stage, at, every):
    (xa, ya), (xb, yb) = data
    ck = tmp_path / "ck"
    pn = PathNet(CFG, seed=SEED)
    ra = pn.learn_task("A", xa, ya, 3, evolution=EV)
    pn.freeze("A")
    with pytest.raises(Killed):
        pn.learn_task(
            "B",
            xb,
            yb,
            3,
            evolution=EV,
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
    pn.learn_task("A", xa, ya, 3, evolution=EV, checkpoint_path=tmp_path / "a", checkpoint_every=1)
    pn.freeze("A")
    rb = pn.learn_task(
        "B", xb, yb, 3, evolution=EV, checkpoint_path=tmp_path / "b", checkpoint_every=2
    )
    _same_result(rb, straight[2])
    # the final checkpoint holds the learnt task
    again = PathNet.load(tmp_path / "b")
    assert again.status("B") is TaskStatus.TRAINED and again.status("A") is TaskStatus.FROZEN


def test_save_load_round_trip_then_continue_identically(tmp_path, data):
    (xa, ya), (xb, yb) = data
    pn = PathNet(CFG, seed=11)
    pn.learn_task("A", xa, ya, 3, evolution=EV, labels=["x", "y", "z"])
    pn.freeze("A")
    pn.save(tmp_path / "pn")
    loaded = PathNet.load(tmp_path / "pn")
    assert loaded.config == pn.config and loaded.seed == 11
    assert np.array_equal(loaded.frozen, pn.frozen)
    assert loaded.labels("A") == ["x", "y", "z"]
    assert np.array_equal(loaded.best_path("A"), pn.best_path("A"))
    assert np.array_equal(loaded.predict_proba("A", xb), pn.predict_proba("A", xb))
    _same_result(loaded.result("A"), pn.result("A"))
    r1 = pn.learn_task("B", xb, yb, 3, evolution=EV)
    r2 = loaded.learn_task("B", xb, yb, 3, evolution=EV)
    _same_result(r1, r2)


def test_checkpoint_from_before_relu_option_loads_as_it_was_saved(tmp_path, data):
    """A checkpoint whose config has no ``relu`` (written before the option existed) combined
    the modules before the ReLU: it loads with ``relu="layer"`` and predicts as saved."""
    (xa, ya), (xb, _) = data
    cfg = dataclasses.replace(CFG, relu="layer")
    pn = PathNet(cfg, seed=3)
    pn.learn_task("A", xa, ya, 3, evolution=EV)
    pn.save(tmp_path / "old")
    state_file = tmp_path / "old" / "state.json"
    state = json.loads(state_file.read_text())
    del state["config"]["relu"]
    state_file.write_text(json.dumps(state))
    loaded = PathNet.load(tmp_path / "old")
    assert loaded.config.relu == "layer"
    assert np.array_equal(loaded.predict_proba("A", xb), pn.predict_proba("A", xb))


def test_evolving_checkpoint_from_before_the_transfer_options_resumes(tmp_path, data):
    """An interrupted task saved before ``head_from_frozen`` / ``finish_frozen`` /
    ``finish_baseline`` existed evolved without them: it loads with them off and resumes
    under today's config."""
    (xa, ya), _ = data
    pn = PathNet(CFG, seed=0)
    kw = {"evolution": EV, "checkpoint_path": tmp_path / "c", "checkpoint_every": 1}
    with pytest.raises(Killed):
        pn.learn_task("A", xa, ya, 3, progress=_kill_at("evolve", 2), **kw)
    state_file = tmp_path / "c" / "state.json"
    state = json.loads(state_file.read_text())
    for key in ("head_from_frozen", "finish_frozen", "finish_baseline"):
        del state["tasks"][0]["run"]["evolution"][key]
    state_file.write_text(json.dumps(state))
    loaded = PathNet.load(tmp_path / "c")
    assert loaded.learn_task("A", xa, ya, 3, evolution=EV).generations == EV.generations


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
            checkpoint_path=tmp_path / "c",
            checkpoint_every=1,
            progress=_kill_at("evolve", 1),
        )
    loaded = PathNet.load(tmp_path / "c")
    with pytest.raises(ValueError, match="different data"):
        loaded.learn_task("A", xb, yb, 3)
    with pytest.raises(ValueError, match="different EvolutionConfig"):
        loaded.learn_task("A", xa, ya, 3, evolution=dataclasses.replace(EV, lr=0.5))
