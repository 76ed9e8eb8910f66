"""Super-network forward, materialised task models and the per-module optimiser."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pathfer.models.pathnet import EvolutionConfig, PathNet, PathNetConfig
from pathfer.models.pathnet.optim import HeadOptimizer, ModuleOptimizer
from pathfer.models.pathnet.supernet import SuperNet
from pathfer.models.pathnet.training import train_paths


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _net(**kw) -> tuple[SuperNet, torch.Generator]:
    cfg = PathNetConfig(
        **{"layers": 3, "modules": 6, "max_active": 3, "channels": (4, 8, 8), "input_size": 16} | kw
    )
    g = torch.Generator().manual_seed(0)
    net = SuperNet(cfg, g)
    net.add_head("A", 4, g)
    return net.eval(), g  # prediction mode: BatchNorm running statistics, no dropout


GENOS = np.array(
    [
        [[0, 2, 5], [1, 3, 4], [5, 0, 1]],
        [[1, 1, 4], [2, 2, 2], [3, 0, 3]],  # repeats: behaves like its distinct modules
    ]
)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"combine": "mean"},
        {"norm": "none"},
        {"head": "gap"},
        {"pool": "avg", "norm_groups": 1},
        {"norm": "batch"},
        {"norm": "batch", "combine": "mean", "head_hidden": 8},
        {"head_hidden": 8, "head": "gap"},
        {"relu": "module"},
        {"relu": "module", "norm": "batch", "combine": "mean"},
        {"relu": "module", "norm": "none", "head": "gap"},
    ],
)
def test_task_model_matches_supernet_path(kw):
    net, g = _net(**kw)
    for layer in range(3):  # BatchNorm: statistics that are not the identity
        for t in net.layer_buffers(layer):
            t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    net.eval()
    x = torch.rand(5, 1, 16, 16)
    with torch.no_grad():
        for geno in GENOS:
            model = net.materialise(geno, "A")
            assert type(model).__name__ == "PlainCNN"
            ref = net.forward_paths(x, geno, "A")[0]
            torch.testing.assert_close(model(x), ref, rtol=1e-5, atol=1e-5)


def test_module_relu_sums_activations_not_pre_activations():
    """relu="module": a layer is sum_i relu(bn_i(conv_i(x))); relu="layer" is
    relu(sum_i bn_i(conv_i(x))). Same weights, so the two differ exactly by where the ReLU sits."""
    x = torch.rand(3, 1, 16, 16)
    geno = GENOS[0]
    out = {}
    for relu in ("module", "layer"):
        net, _ = _net(relu=relu, norm="none", layers=1, channels=4, input_size=16, pool="none")
        with torch.no_grad():
            h = (x - 0.5) / 0.5
            rows = torch.as_tensor(geno[0])
            parts = [
                torch.nn.functional.conv2d(h, net.weight[0][r], net.bias[0][r], padding=1)
                for r in rows
            ]
            want = sum(torch.relu(p) for p in parts) if relu == "module" else torch.relu(sum(parts))
            got = net.features(x.unsqueeze(0), torch.as_tensor(geno[None, :1]), None)
        torch.testing.assert_close(got[:, 0], want.flatten(1), rtol=1e-5, atol=1e-6)
        out[relu] = got
    assert not torch.allclose(out["module"], out["layer"])


def test_repeated_genes_equal_distinct_set():
    net, _ = _net()
    x = torch.rand(3, 1, 16, 16)
    with torch.no_grad():
        a = net.forward_paths(x, np.array([[1, 1, 4], [2, 2, 2], [3, 0, 3]]), "A")
        b = net.forward_paths(x, np.array([[4, 1, 4], [2, 2, 2], [0, 3, 0]]), "A")
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_pair_forward_equals_single_forwards():
    net, _ = _net()
    x = torch.rand(2, 4, 1, 16, 16)
    with torch.no_grad():
        pair = net.forward_paths(x, GENOS, "A")
        for p in range(2):
            single = net.forward_paths(x[p], GENOS[p], "A")[0]
            torch.testing.assert_close(pair[p], single, rtol=1e-5, atol=1e-5)


def test_training_mode_batchnorm_normalises_each_path_on_its_own_batch():
    net, _ = _net(head_hidden=0)  # no dropout: training mode is deterministic
    net.train()
    x = torch.rand(2, 4, 1, 16, 16)
    x[1] = x[1] * 3 + 1  # a batch with other statistics on the second path
    with torch.no_grad():
        pair = net.forward_paths(x, GENOS, "A")
        for p in range(2):
            single = net.forward_paths(x[p], GENOS[p], "A")[0]
            torch.testing.assert_close(pair[p], single, rtol=1e-5, atol=1e-5)


def test_pair_gradients_equal_sum_of_single_gradients():
    net, _ = _net()
    x = torch.rand(2, 4, 1, 16, 16)
    y = torch.randint(0, 4, (2, 4))

    def grads(fn):
        net.zero_grad(set_to_none=True)
        fn().backward()
        return [p.grad.clone() for p in net.parameters()]

    def pair():
        out = net.forward_paths(x, GENOS, "A")
        return sum(torch.nn.functional.cross_entropy(out[p], y[p]) for p in range(2))

    g_pair = grads(pair)
    g0 = grads(
        lambda: torch.nn.functional.cross_entropy(net.forward_paths(x[0], GENOS[0], "A")[0], y[0])
    )
    g1 = grads(
        lambda: torch.nn.functional.cross_entropy(net.forward_paths(x[1], GENOS[1], "A")[0], y[1])
    )
    for a, b, c in zip(g_pair, g0, g1, strict=True):
        torch.testing.assert_close(a, b + c, rtol=1e-4, atol=1e-5)


def test_module_optimizer_matches_torch_adam_on_active_rows():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5, 3, 2))
    ref = torch.nn.Parameter(p.detach()[[1, 3]].clone())
    opt = ModuleOptimizer([[p]])
    tref = torch.optim.Adam([ref], lr=0.01)
    rows = torch.tensor([1, 3])
    before = p.detach().clone()
    for _ in range(5):
        g = torch.randn(5, 3, 2)
        p.grad = g.clone()
        opt.step(0, rows, lr=0.01)
        ref.grad = g[[1, 3]].clone()
        tref.step()
    torch.testing.assert_close(p.detach()[rows], ref.detach(), rtol=1e-5, atol=1e-6)
    others = torch.tensor([0, 2, 4])
    assert torch.equal(p.detach()[others], before[others])
    assert opt.steps[0].tolist() == [0, 5, 0, 5, 0]
    assert torch.count_nonzero(opt.m[0][0][others]) == 0


def test_module_optimizer_per_module_step_counts_and_reset():
    p = torch.nn.Parameter(torch.zeros(4, 2))
    opt = ModuleOptimizer([[p]])
    for rows in ([0, 1], [1], [1, 2]):
        p.grad = torch.ones(4, 2)
        opt.step(0, torch.tensor(rows), lr=0.1)
    assert opt.steps[0].tolist() == [1, 3, 1, 0]
    assert (p.detach()[3] == 0).all()
    opt.reset_rows(0, torch.tensor([1]))
    assert opt.steps[0].tolist() == [1, 0, 1, 0]
    assert (opt.m[0][0][1] == 0).all() and (opt.v[0][0][1] == 0).all()


def test_head_optimizer_matches_torch_adam():
    torch.manual_seed(0)
    head = torch.nn.Linear(6, 3)
    ref = torch.nn.Linear(6, 3)
    ref.load_state_dict(head.state_dict())
    hopt = HeadOptimizer(head)
    tref = torch.optim.Adam(ref.parameters(), lr=0.02)
    for _ in range(4):
        x = torch.randn(8, 6)
        for m in (head, ref):
            m.zero_grad()
            m(x).pow(2).sum().backward()
        hopt.step_all(0.02)
        tref.step()
    torch.testing.assert_close(head.weight, ref.weight, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(head.bias, ref.bias, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("norm", ["group", "batch"])
def test_training_leaves_inactive_and_frozen_modules_untouched(norm):
    cfg = PathNetConfig(layers=3, modules=6, max_active=2, channels=4, input_size=16, norm=norm)
    pn = PathNet(cfg, seed=0)
    pn.net.add_head("T", 3, pn.generator)
    pn.head_opts["T"] = HeadOptimizer(pn.net.heads["T"])
    owner = pn.frozen_owner
    owner[1, 3] = "old"  # pretend module (1, 3) belongs to a frozen task
    pn._set_frozen_owner(owner)
    x = torch.rand(20, 1, 16, 16)
    y = torch.randint(0, 3, (20,))
    genos = np.array([[[0, 1], [3, 2], [4, 4]], [[1, 5], [3, 0], [4, 2]]])
    before = [[p.detach().clone() for p in pn.net.layer_state(lay)] for lay in range(3)]
    ev = EvolutionConfig(batch_size=4)
    train_paths(pn, "T", genos, x, y, 3, ev, 0.05)
    for layer in range(3):
        active = set(np.unique(genos[:, layer]).tolist()) - ({3} if layer == 1 else set())
        # BatchNorm statistics too: a frozen module's never move
        for p, b in zip(pn.net.layer_state(layer), before[layer], strict=True):
            for m in range(6):
                same = torch.equal(p.detach()[m], b[m])
                assert same == (m not in active), (layer, m)
        steps = pn.opt.steps[layer]
        assert set(torch.nonzero(steps).ravel().tolist()) == active
    # the frozen module carries no optimiser state
    assert pn.opt.steps[1][3] == 0
    assert all(torch.count_nonzero(t[3]) == 0 for t in (*pn.opt.m[1], *pn.opt.v[1]))


def test_default_config_on_48x48_crops():
    cfg = PathNetConfig()
    g = torch.Generator().manual_seed(0)
    net = SuperNet(cfg, g)
    net.add_head("A", 7, g)
    net.eval()  # BatchNorm statistics and dropout as in prediction
    assert (cfg.layers, cfg.modules, cfg.max_active) == (4, 10, 1)
    geno = np.array([[0], [3], [6], [9]])
    x = torch.rand(2, 1, 48, 48)
    with torch.no_grad():
        out = net.forward_paths(x, geno, "A")
        assert out.shape == (1, 2, 7)
        model = net.materialise(geno, "A")
        torch.testing.assert_close(model(x), out[0], rtol=1e-5, atol=1e-5)
    assert net.weight[0].shape == (10, 32, 1, 3, 3) and net.weight[3].shape == (10, 64, 64, 3, 3)
    assert net.running_mean3.shape == (10, 64) and net.heads["A"].hidden.out_features == 128


# -- folding: a layer of a path computed as one conv (SuperNet.folded_conv) --------------
def _stateful_net(**kw) -> SuperNet:
    """A BatchNorm super-network whose statistics and affine are not the identity, with
    frozen modules (0-2 of every layer) and task ``A`` keeping its own statistics of
    module 1."""
    net, g = _net(**{"norm": "batch"} | kw)
    cfg = net.config
    with torch.no_grad():
        for layer in range(cfg.layers):
            if cfg.norm == "batch":
                mean, var = net.layer_buffers(layer)
                mean.copy_(torch.randn(mean.shape, generator=g) * 0.3)
                var.copy_(torch.rand(var.shape, generator=g) + 0.5)
            for p in net.layer_params(layer)[1:]:
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
    frozen = np.zeros((cfg.layers, cfg.modules), dtype=bool)
    frozen[:, :3] = True
    net.frozen_rows = frozen
    net.add_task_statistics("A", frozen & (np.arange(cfg.modules) == 1))
    return net


def _features_grads_buffers(net: SuperNet, x: torch.Tensor, genos: np.ndarray, fold: bool):
    net = copy.deepcopy(net)
    net.fold_modules = fold
    feats = net.features(x, *net.path_tensors(genos), "A")
    (feats.double() ** 2).mean().backward()
    grads = {n: p.grad for n, p in net.named_parameters() if p.grad is not None}
    return feats.detach(), grads, dict(net.named_buffers())


def _assert_same_computation(got, reference) -> None:
    """Features, gradients and buffers (``_features_grads_buffers``) agree to float rounding."""
    (f, g, b), (ref_f, ref_g, ref_b) = got, reference
    torch.testing.assert_close(f, ref_f, rtol=1e-5, atol=1e-5)
    assert g.keys() == ref_g.keys()
    for name in g:
        torch.testing.assert_close(g[name], ref_g[name], rtol=1e-4, atol=1e-5, msg=name)
    for name in b:
        torch.testing.assert_close(b[name], ref_b[name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize(
    "kw",
    [{}, {"combine": "mean"}, {"norm": "none"}, {"in_channels": 3}, {"head": "gap"}],
)
@pytest.mark.parametrize("training", [False, True])
def test_folded_layers_compute_what_every_module_computes(kw, training, monkeypatch):
    """Features, gradients and BatchNorm running statistics (own and the task's copies) of
    the folded computation are those of the per-module one, frozen and repeated modules
    included, for two paths with their own batches."""
    net = _stateful_net(**kw).train(training)
    x = torch.rand(2, 8, net.config.in_channels, 16, 16, generator=torch.Generator().manual_seed(1))
    ref_f, ref_g, ref_b = _features_grads_buffers(net, x, GENOS, fold=False)
    folded = []
    real = SuperNet.folded_conv
    monkeypatch.setattr(
        SuperNet,
        "folded_conv",
        lambda self, h, layer, *a: folded.append(layer) or real(self, h, layer, *a),
    )
    f, g, b = _features_grads_buffers(net, x, GENOS, fold=True)
    # every layer in eval mode; in training the input layer (all layers without BatchNorm)
    assert folded == ([0, 1, 2] if not training or net.config.norm == "none" else [0])
    _assert_same_computation((f, g, b), (ref_f, ref_g, ref_b))
    if training and net.config.norm == "batch":  # layer 0 uses 0, 2, 5 and 1, 4
        before = dict(net.named_buffers())
        moved = ~torch.isclose(b["running_mean0"], before["running_mean0"]).all(1)
        assert moved.tolist() == [False, False, False, False, True, True]  # frozen: never
        own = ~torch.isclose(b["task_stats.A.mean0"], before["task_stats.A.mean0"]).all(1)
        assert own.tolist() == [False, True, False, False, False, False]  # A's copy of 1


@settings(max_examples=25, deadline=None)
@given(genos=hnp.arrays(np.int64, (2, 3, 3), elements=st.integers(0, 5)))
def test_folded_eval_equals_per_module_eval_for_any_paths(genos):
    net = _stateful_net().eval()
    x = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = copy.deepcopy(net)
        ref.fold_modules = False
        torch.testing.assert_close(
            net.forward_paths(x, genos, "A"), ref.forward_paths(x, genos, "A"), rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize("kw", [{"norm": "group"}, {"relu": "module"}])
def test_layers_that_are_not_linear_up_to_the_relu_never_fold(kw):
    net, _ = _net(**kw)
    assert not any(net.eval()._folds(layer) for layer in range(3))
    assert not any(net.train()._folds(layer) for layer in range(3))


@pytest.mark.parametrize("max_active", [1, 3])
@pytest.mark.parametrize("training", [False, True])
def test_channels_last_layout_is_how_not_what(max_active, training, monkeypatch):
    """The conv layers run in channels-last layout (faster on CPU), and features, gradients
    and running statistics are those of the standard layout up to float rounding, for a
    pair of paths with frozen modules and a task's own statistics."""
    net = _stateful_net(max_active=max_active).train(training)
    genos = GENOS[:, :, :max_active]
    x = torch.rand(2, 8, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    layouts = []
    conv2d = torch.nn.functional.conv2d

    def recording(h, *a, **kw):
        if h.shape[1] > 1:  # a one-channel input has both layouts at once
            layouts.append(h.is_contiguous(memory_format=torch.channels_last))
        return conv2d(h, *a, **kw)

    monkeypatch.setattr(torch.nn.functional, "conv2d", recording)
    results = {}
    for last in (False, True):
        layouts.clear()
        monkeypatch.setattr(SuperNet, "channels_last", last)
        results[last] = _features_grads_buffers(net, x, genos, fold=True)
        assert layouts and set(layouts) == {last}
    (ref_f, ref_g, ref_b), (f, g, b) = results[False], results[True]
    _assert_same_computation((f, g, b), (ref_f, ref_g, ref_b))
