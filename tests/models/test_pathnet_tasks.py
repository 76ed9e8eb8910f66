"""Learning tasks end to end on small generated images: evolution, finish, freeze, transfer."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pathfer.models.pathnet import (
    EngineSettings,
    EvolutionConfig,
    PathNet,
    PathNetConfig,
    PathNetStateError,
    TaskStatus,
    stratified_split,
)
from pathfer.models.pathnet.recipes import get_recipe
from pathfer.models.pathnet.toy import toy_task
from pathfer.models.pathnet.training import restore, snapshot

pytestmark = pytest.mark.usefixtures("one_thread")

CFG = PathNetConfig(layers=3, modules=5, max_active=2, channels=8, input_size=16)
#: per-module BatchNorm, a hidden FC + dropout head, free modules restarting as copies
CFG_BN = dataclasses.replace(CFG, norm="batch", head_hidden=32, head_dropout=0.25, free_init="copy")
#: the same, and B keeps its own BatchNorm statistics of A's frozen modules
CFG_TASK = dataclasses.replace(CFG_BN, frozen_statistics="task")
EV = EvolutionConfig(
    population=4,
    steps_per_path=10,
    batch_size=16,
    generations=8,
    patience=None,
    lr=1e-2,
    finish_steps=60,
)
SMALL = dataclasses.replace(EV, generations=3, steps_per_path=3, finish_steps=6)
#: the finish stage evaluates every 3 steps (an engine setting a recipe may change)
EVERY3 = EngineSettings(finish_eval_every=3)


@pytest.fixture(scope="module")
def data():
    return {
        "A": toy_task(300, n_classes=3, seed=0),
        "A_test": toy_task(150, n_classes=3, seed=1),
        "B": toy_task(240, n_classes=3, seed=2, offset=3),
        "B_test": toy_task(120, n_classes=3, seed=3, offset=3),
    }


@pytest.fixture(
    scope="module", params=[CFG, CFG_BN, CFG_TASK], ids=["group", "batch", "batch-task-stats"]
)
def learnt(data, request):
    """A learnt and frozen, then B learnt on top; snapshots taken in between."""
    torch.set_num_threads(1)
    pn = PathNet(request.param, seed=0)
    res_a = pn.learn_task("A", *data["A"], 3, evolution=EV, labels=["h", "v", "d"])
    proba_a = pn.predict_proba("A", data["A_test"][0])
    pn.freeze("A")
    frozen_before = {
        (layer, i): p.detach().clone()
        for layer in range(CFG.layers)
        for i, p in enumerate(pn.net.layer_state(layer))  # BatchNorm statistics too
    }
    head_a = {k: v.clone() for k, v in pn.net.heads["A"].state_dict().items()}
    after_freeze_proba = pn.predict_proba("A", data["A_test"][0])
    # no members seeded through A's copies: B's path runs through A's frozen modules
    res_b = pn.learn_task(
        "B", *data["B"], 3, evolution=dataclasses.replace(EV, seed_copy_fraction=0)
    )
    return {
        "pn": pn,
        "res_a": res_a,
        "res_b": res_b,
        "proba_a": proba_a,
        "after_freeze_proba": after_freeze_proba,
        "frozen_before": frozen_before,
        "head_a": head_a,
    }


def test_task_is_learnt_well_above_chance(learnt, data):
    pn, res = learnt["pn"], learnt["res_a"]
    acc = pn.evaluate("A", *data["A_test"])["accuracy"]
    assert acc > 0.8, acc  # chance is 1/3
    assert res.final_val_accuracy > 0.8
    assert res.chance_accuracy == pytest.approx(1 / 3, abs=0.02)
    assert res.evolution_gain == pytest.approx(res.evolution_val_accuracy - res.chance_accuracy)
    assert res.finish_gain == pytest.approx(res.final_val_accuracy - res.evolution_val_accuracy)
    assert res.generations == EV.generations and res.stop_reason == "budget"
    assert res.n_train + res.n_val == 300 and res.n_val == 60
    assert pn.labels("A") == ["h", "v", "d"]
    assert pn.status("A") is TaskStatus.FROZEN


def test_history_records_and_monotone_best(learnt):
    hist = learnt["res_a"].history
    assert [h["generation"] for h in hist] == list(range(1, EV.generations + 1))
    keys = {"best_fitness", "mean_fitness", "diversity", "frozen_reused", "wall_time"}
    assert keys <= set(hist[0])
    best = [h["best_fitness"] for h in hist]
    assert all(b2 >= b1 for b1, b2 in zip(best, best[1:], strict=False))
    assert all(1 <= h["diversity"] <= EV.population for h in hist)
    assert all(h["mean_fitness"] <= h["best_fitness"] + 1e-12 for h in hist)
    assert learnt["res_a"].history_frame().shape[0] == EV.generations


def test_freeze_keeps_a_bit_for_bit_after_training_b(learnt, data):
    pn = learnt["pn"]
    fr = pn.frozen
    path_a = pn.best_path("A")
    # exactly A's distinct modules are frozen
    expected = np.zeros_like(fr)
    for layer, row in enumerate(path_a):
        expected[layer, row] = True
    assert (fr == expected).all()
    for (layer, i), before in learnt["frozen_before"].items():
        now = pn.net.layer_state(layer)[i].detach()
        rows = torch.from_numpy(np.flatnonzero(fr[layer]))
        assert torch.equal(now[rows], before[rows]), (layer, i)
    for k, v in pn.net.heads["A"].state_dict().items():
        assert torch.equal(v, learnt["head_a"][k])
    proba = pn.predict_proba("A", data["A_test"][0])
    assert np.array_equal(proba, learnt["proba_a"])
    assert np.array_equal(learnt["after_freeze_proba"], learnt["proba_a"])
    # frozen modules never carry optimiser state
    for layer in range(CFG.layers):
        rows = torch.from_numpy(np.flatnonzero(fr[layer]))
        assert (pn.opt.steps[layer][rows] == 0).all()
        assert all(torch.count_nonzero(t[rows]) == 0 for t in pn.opt.m[layer])


def test_b_learns_and_records_its_reuse(learnt, data):
    pn, res = learnt["pn"], learnt["res_b"]
    assert res.frozen_reused == pn.frozen_reused(pn.best_path("B"))
    assert all(0 <= h["frozen_reused"] <= pn.frozen.sum() for h in res.history)
    assert pn.evaluate("B", *data["B_test"])["accuracy"] > 0.6


def test_freeze_reinitialises_every_other_module(data):
    pn = PathNet(CFG, seed=1)
    pn.learn_task("A", *data["A"], 3, evolution=SMALL)
    before = [p.detach().clone() for p in pn.net.weight]
    pn.freeze("A")
    for layer, p in enumerate(pn.net.weight):
        for m in range(CFG.modules):
            same = torch.equal(p.detach()[m], before[layer][m])
            assert same == bool(pn.frozen[layer, m])
    assert all((s == 0).all() for s in pn.opt.steps)


def test_free_init_copy_restarts_free_modules_as_copies_of_frozen_ones(data):
    pn = PathNet(CFG_BN, seed=1)
    pn.learn_task("A", *data["A"], 3, evolution=SMALL)
    pn.freeze("A")
    for layer in range(CFG_BN.layers):
        frozen = np.flatnonzero(pn.frozen[layer])
        free = np.flatnonzero(~pn.frozen[layer])
        for j, m in enumerate(free):  # round robin over the layer's frozen modules
            src = frozen[j % len(frozen)]
            for t in pn.net.layer_state(layer):  # weights, affine and running statistics
                assert torch.equal(t[m], t[src]), (layer, m, src)
    # A's path through the trainable copies computes what A's frozen path computes
    path_a = pn.best_path("A")
    copy_path = path_a.copy()
    for layer in range(CFG_BN.layers):
        frozen = list(np.flatnonzero(pn.frozen[layer]))
        free = np.flatnonzero(~pn.frozen[layer])  # free[i] copies frozen[i]
        copy_path[layer] = [free[frozen.index(m)] for m in path_a[layer]]
    assert not pn.frozen[np.arange(CFG_BN.layers)[:, None], copy_path].any()
    x = data["A_test"][0][:8]
    with torch.no_grad():
        pn.net.eval()
        a = pn.net.forward_paths(x, path_a, "A")
        b = pn.net.forward_paths(x, copy_path, "A")
    torch.testing.assert_close(a, b)


def test_task_statistics_adapt_frozen_modules_for_b_only(learnt, data):
    """frozen_statistics="task": B normalises A's frozen modules with its own statistics,
    learnt on B's batches; A's statistics (checked bit for bit above) never move."""
    pn = learnt["pn"]
    stats = pn.net.task_stats
    if pn.config.frozen_statistics != "task":
        assert len(stats) == 0
        return
    assert list(stats) == ["B"]  # A was learnt before any freeze: it owns its statistics
    moved = 0
    for layer in range(CFG.layers):
        mine, mean, _ = stats["B"].layer(layer)
        assert torch.equal(mine, torch.from_numpy(pn.frozen[layer]))
        owner_mean = pn.net.layer_buffers(layer)[0]
        for r in np.flatnonzero(pn.frozen[layer]):
            moved += not torch.equal(mean[r], owner_mean[r])
    assert moved >= 1  # B's paths through A's frozen modules updated B's statistics only
    if not pn.frozen_reused(pn.best_path("B")):
        return
    # without its statistics B predicts otherwise: they are part of what it learnt
    own = pn.predict_proba("B", data["B_test"][0])
    saved = stats["B"]
    del stats["B"]
    try:
        assert not np.array_equal(pn.predict_proba("B", data["B_test"][0]), own)
    finally:
        stats["B"] = saved


def test_best_path_snapshot_restores_the_task_statistics(learnt, data):
    """What B's best path was when it was kept includes B's statistics of frozen modules:
    restoring the snapshot brings them back, as it does the trainable modules."""
    pn = learnt["pn"]
    if pn.config.frozen_statistics != "task":
        return
    geno = pn.best_path("B")
    before = pn.predict_proba("B", data["B_test"][0])
    snap = snapshot(pn, "B", geno)
    for layer in range(CFG.layers):
        _, mean, var = pn.net.task_stats["B"].layer(layer)
        mean.add_(1.0)
        var.mul_(2.0)
    assert not np.array_equal(pn.predict_proba("B", data["B_test"][0]), before)
    restore(pn, "B", geno, snap)
    assert np.array_equal(pn.predict_proba("B", data["B_test"][0]), before)


def test_task_model_equals_predict_proba(learnt, data):
    pn = learnt["pn"]
    x = data["B_test"][0][:20]
    for name in ("A", "B"):
        model = pn.task_model(name)
        assert isinstance(model, torch.nn.Module)
        with torch.no_grad():
            proba = torch.softmax(model(x), 1).numpy()
        np.testing.assert_allclose(proba, pn.predict_proba(name, x), rtol=1e-5, atol=1e-6)


def _weights(pn: PathNet) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in pn.net.state_dict().items()}


def _strip(hist):
    return [{k: v for k, v in h.items() if k != "wall_time"} for h in hist]


def test_same_seed_same_run_different_seed_differs(data):
    runs = []
    for seed in (5, 5, 6):
        pn = PathNet(CFG, seed=seed)
        res = pn.learn_task("A", *data["A"], 3, evolution=SMALL)
        runs.append((pn, res))
    (p1, r1), (p2, r2), (p3, r3) = runs
    assert _strip(r1.history) == _strip(r2.history)
    assert r1.best_genotype == r2.best_genotype
    assert _strip(r1.finish_history) == _strip(r2.finish_history)
    w1, w2, w3 = _weights(p1), _weights(p2), _weights(p3)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert any(not torch.equal(w1[k], w3[k]) for k in w1)


def test_train_fitness_is_deterministic(data):
    ev = dataclasses.replace(SMALL, fitness="train")
    results = []
    for _ in range(2):
        pn = PathNet(CFG, seed=3)
        results.append((pn.learn_task("A", *data["A"], 3, evolution=ev), _weights(pn)))
    (r1, w1), (r2, w2) = results
    assert _strip(r1.history) == _strip(r2.history)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_seeded_copies_start_from_the_source_network_through_trainable_copies(data):
    """seed_copy_fraction: a member starts as A's path through the copies of its modules
    (free_init="copy"): no frozen module, and the same function as A's path."""
    pn = PathNet(CFG_BN, seed=2)
    pn.learn_task("A", *data["A"], 3, evolution=SMALL)
    pn.freeze("A")
    path_a = pn.best_path("A")
    x = data["A_test"][0][:8]
    with torch.no_grad():
        pn.net.eval()
        a = pn.net.forward_paths(x, path_a, "A")
    ev = dataclasses.replace(SMALL, seed_copy_fraction=1.0, generations=0, finish_steps=0)
    res = pn.learn_task("B", *data["B"], 3, evolution=ev)
    seeded = np.array(res.best_genotype)
    assert res.frozen_reused == 0
    assert not pn.frozen[np.arange(CFG_BN.layers)[:, None], seeded].any()
    for layer in range(CFG_BN.layers):  # one copy per distinct module of A's path
        assert len(set(seeded[layer])) == len(set(path_a[layer]))
    with torch.no_grad():
        pn.net.eval()
        b = pn.net.forward_paths(x, seeded, "A")
    torch.testing.assert_close(a, b)

    # with fresh free modules (free_init="random") there are no copies: nothing is seeded
    def transfer(fraction):
        p = PathNet(dataclasses.replace(CFG_BN, free_init="random"), seed=3)
        p.learn_task("A", *data["A"], 3, evolution=SMALL)
        p.freeze("A")
        r = p.learn_task(
            "B", *data["B"], 3, evolution=dataclasses.replace(SMALL, seed_copy_fraction=fraction)
        )
        return r.best_genotype, _strip(r.history)

    assert transfer(1.0) == transfer(0.0)


def test_patience_stops_early(data):
    pn2 = PathNet(CFG, seed=0)
    ev2 = dataclasses.replace(SMALL, generations=50, patience=2, lr=1e-6, finish_steps=0)
    res2 = pn2.learn_task("A", *data["A"], 3, evolution=ev2)
    assert res2.stop_reason == "patience" and res2.generations < 50


def test_explicit_validation_set_and_val_fraction(data):
    pn = PathNet(CFG, seed=0)
    x, y = data["A"]
    res = pn.learn_task("A", x[:200], y[:200], 3, x_val=x[200:], y_val=y[200:], evolution=SMALL)
    assert res.n_train == 200 and res.n_val == 100
    res = pn.learn_task("B", x, y, 3, evolution=SMALL, val_fraction=0.5)
    assert res.n_train == res.n_val == 150
    with pytest.raises(ValueError, match="val_fraction"):
        pn.learn_task("C", x, y, 3, evolution=SMALL, val_fraction=0.0)


def test_illegal_state_transitions(data):
    pn = PathNet(CFG, seed=0)
    with pytest.raises(PathNetStateError, match="unknown task 'X'"):
        pn.freeze("X")
    with pytest.raises(PathNetStateError, match="unknown task"):
        pn.predict_proba("X", data["A_test"][0])
    pn.learn_task("A", *data["A"], 3, evolution=SMALL)
    assert pn.status("A") is TaskStatus.TRAINED
    with pytest.raises(PathNetStateError, match="already trained"):
        pn.learn_task("A", *data["A"], 3, evolution=SMALL)
    pn.learn_task("B", *data["B"], 3, evolution=SMALL)
    with pytest.raises(PathNetStateError, match="unfrozen task"):
        pn.freeze("A")  # would wipe B's modules
    pn.forget("B")
    pn.freeze("A")
    with pytest.raises(PathNetStateError, match="already frozen"):
        pn.freeze("A")
    with pytest.raises(PathNetStateError, match="already frozen"):
        pn.learn_task("A", *data["A"], 3, evolution=SMALL)
    with pytest.raises(PathNetStateError, match="frozen"):
        pn.forget("A")

    class Stop(Exception):
        pass

    def stop(rec):
        raise Stop

    with pytest.raises(Stop):
        pn.learn_task("C", *data["B"], 3, evolution=SMALL, progress=stop)
    assert pn.status("C") is TaskStatus.EVOLVING
    with pytest.raises(PathNetStateError, match="still evolving"):
        pn.freeze("C")
    with pytest.raises(PathNetStateError, match="still evolving"):
        pn.predict_proba("C", data["B_test"][0])


def test_bad_inputs_raise_clear_errors(data):
    pn = PathNet(CFG, seed=0)
    x, y = data["A"]
    with pytest.raises(ValueError, match="shape"):
        pn.learn_task("A", torch.rand(10, 1, 20, 20), y[:10], 3, evolution=SMALL)
    with pytest.raises(ValueError, match="class indices"):
        pn.learn_task("A", x, y + 5, 3, evolution=SMALL)
    with pytest.raises(ValueError, match="labels"):
        pn.learn_task("A", x, y, 3, evolution=SMALL, labels=["a"])


def test_stratified_split_is_deterministic_and_stratified():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    tr, va = stratified_split(y, 0.2, np.random.default_rng(0))
    tr2, va2 = stratified_split(y, 0.2, np.random.default_rng(0))
    assert np.array_equal(va, va2) and np.array_equal(tr, tr2)
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(100))
    assert np.bincount(y[va]).tolist() == [10, 6, 4]


def test_head_from_starts_the_new_head_from_a_learnt_task(data):
    pn = PathNet(CFG_BN, seed=0)
    pn.learn_task("A", *data["A"], 3, evolution=SMALL, labels=["h", "v", "d"])
    pn.freeze("A")
    # no training at all: B's head is exactly what it started from
    still = dataclasses.replace(SMALL, generations=0, finish_steps=0)
    pn.learn_task("B", *data["A"], 3, evolution=still, labels=["d", "x", "h"], head_from="A")
    a, b = pn.net.heads["A"].state_dict(), pn.net.heads["B"].state_dict()
    hidden, output = list(a)[:-2], list(a)[-2:]
    assert all(torch.equal(a[k], b[k]) for k in hidden)
    for k in output:  # B's "d" and "h" rows are A's; "x" (A has none) starts fresh
        assert torch.equal(b[k][0], a[k][2]) and torch.equal(b[k][2], a[k][0])
        assert not torch.equal(b[k][1], a[k][1])
    # without it the head starts fresh
    pn.learn_task("C", *data["A"], 3, evolution=still, labels=["d", "x", "h"])
    c = pn.net.heads["C"].state_dict()
    assert not any(torch.equal(a[k], c[k]) for k in hidden)
    # class names are what it copies by
    with pytest.raises(ValueError, match="head_from='A' needs labels"):
        pn.learn_task("D", *data["A"], 3, evolution=still, head_from="A")


def test_the_finish_keeps_the_evolved_weights_unless_it_beats_them(data):
    """A finish at a rate that wrecks the path never beats the evolved accuracy: after
    ``finish_patience`` evaluations it stops and the evolved weights come back."""
    ev = dataclasses.replace(EV, generations=4, finish_lr=5.0, finish_patience=2)
    pn = PathNet(CFG_BN, seed=0)
    res = pn.learn_task("A", *data["A"], 3, evolution=ev)
    vals = [h["val_accuracy"] for h in res.finish_history]
    assert max(vals) < res.evolution_val_accuracy  # the finish only did harm
    assert len(vals) == 2
    assert res.final_val_accuracy == res.evolution_val_accuracy and res.finish_gain == 0


def test_an_own_baseline_finish_ends_on_its_best_evaluation_even_below_the_evolved(data):
    """``finish_baseline: own``: the same wrecking finish keeps the best of its own
    evaluations, not the evolved weights, and refit reruns the finish to that step."""
    ev = dataclasses.replace(
        EV, generations=4, finish_lr=5.0, finish_patience=2, finish_baseline="own"
    )
    pn = PathNet(CFG_BN, seed=0)
    res = pn.learn_task("A", *data["A"], 3, evolution=ev, refit=True)
    hist = res.finish_history
    best = max(hist, key=lambda h: (h["val_accuracy"], -h["val_loss"]))
    assert best["val_accuracy"] < res.evolution_val_accuracy  # the evolved path scored higher
    assert res.final_val_accuracy == best["val_accuracy"] and res.finish_gain < 0
    assert res.refit_steps == best["step"] > 0


def test_transfer_finish_lr_is_the_finish_rate_of_a_task_learnt_beside_frozen_modules(data):
    """A first task finishes at ``finish_lr`` whatever ``transfer_finish_lr`` says; a task
    learnt while frozen modules exist finishes at ``transfer_finish_lr`` (None: at
    ``finish_lr``, as the first)."""

    def finishes(rate):
        ev = dataclasses.replace(SMALL, transfer_finish_lr=rate)
        pn = PathNet(CFG_BN, seed=0)
        a = pn.learn_task("A", *data["A"], 3, evolution=ev, engine=EVERY3)
        pn.freeze("A")
        b = pn.learn_task("B", *data["B"], 3, evolution=ev, engine=EVERY3)
        return [
            [(h["step"], h["val_accuracy"], h["val_loss"]) for h in r.finish_history]
            for r in (a, b)
        ]

    a_none, b_none = finishes(None)
    a_same, b_same = finishes(SMALL.effective_finish_lr)
    a_wild, b_wild = finishes(5.0)
    assert a_none and b_none  # both tasks ran a finish stage
    assert a_none == a_same == a_wild  # the first task: finish_lr, untouched
    assert b_same == b_none  # None: B finishes at finish_lr too
    assert [h[2] for h in b_wild] != [h[2] for h in b_none]  # 5.0: another finish
    assert EvolutionConfig().transfer_finish_lr == 1e-3
    assert get_recipe("paper").evolution_config().transfer_finish_lr is None  # the paper


def test_budget_samples_scales_the_step_budgets_to_the_data(data):
    """``budget_samples``: 100 training images of a budget sized for 400 train a quarter of
    the steps, exactly as if those budgets had been given; at 400 or more, nothing scales."""
    x, y = data["A"]
    xv, yv = data["A_test"]
    sized = dataclasses.replace(EV, budget_samples=400)
    quarter = dataclasses.replace(EV, steps_per_path=2, finish_steps=15)  # round(10/4), 60/4
    runs = {}
    for key, ev, n in (("sized", sized, 100), ("quarter", quarter, 100)):
        pn = PathNet(CFG, seed=0)
        res = pn.learn_task("A", x[:n], y[:n], 3, x_val=xv, y_val=yv, evolution=ev)
        runs[key] = (res, pn.predict_proba("A", xv))
    assert np.array_equal(runs["sized"][1], runs["quarter"][1])
    assert runs["sized"][0].finish_steps <= 15
    # 300 of 400 images: three quarters of the budgets
    assert sized.for_data(300) == dataclasses.replace(
        EV, steps_per_path=8, finish_steps=45, budget_samples=None
    )
    assert sized.for_data(400) == sized.for_data(10_000) == EV
    assert EV.for_data(3) is EV  # no budget_samples: fixed budgets


@given(
    n=st.integers(0, 5000),
    budget=st.integers(1, 5000),
    steps=st.integers(1, 1000),
    finish=st.integers(0, 5000),
)
@settings(max_examples=200, deadline=None)
def test_scaled_budgets_are_positive_capped_monotone_and_idempotent(n, budget, steps, finish):
    ev = EvolutionConfig(steps_per_path=steps, finish_steps=finish, budget_samples=budget)
    small, more = ev.for_data(n), ev.for_data(n + 1)
    assert 1 <= small.steps_per_path <= more.steps_per_path <= steps
    assert small.finish_steps <= more.finish_steps <= finish
    assert (small.finish_steps == 0) == (finish == 0)  # a finish stage stays one
    assert small.budget_samples is None and small.for_data(n) == small
