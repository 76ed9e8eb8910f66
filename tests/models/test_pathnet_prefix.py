"""Frozen prefixes run without autograd and are cached on a fixed set: same numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pathfer.models.pathnet import PathNet, PathNetConfig
from pathfer.models.pathnet.prefix import PrefixCache, frozen_prefix
from pathfer.models.pathnet.supernet import SuperNet
from pathfer.models.pathnet.training import evaluate_paths


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _net(frozen_layers: int, **kw) -> SuperNet:
    """Modules 0 and 1 of the first ``frozen_layers`` layers frozen (trained a little first,
    so their statistics are not the fresh ones)."""
    cfg = PathNetConfig(layers=3, modules=4, max_active=2, channels=(4, 6, 6), input_size=16, **kw)
    g = torch.Generator().manual_seed(0)
    net = SuperNet(cfg, g)
    net.add_head("A", 3, g)
    net.train()
    with torch.no_grad():
        warm = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(2))
        net.forward_paths(warm, np.zeros((3, 2), np.int64), "A")
    fr = np.zeros((3, 4), bool)
    fr[:frozen_layers, :2] = True
    net.frozen_rows = fr
    return net


@given(
    st.lists(st.integers(0, 3), min_size=12, max_size=12),
    st.integers(0, 3),
)
@settings(max_examples=25, deadline=None)
def test_frozen_prefix_counts_leading_all_frozen_layers(genes, k):
    frozen = np.zeros((3, 4), bool)
    frozen[:k, :2] = True
    idx = np.array(genes).reshape(2, 3, 2)
    expect = 0
    while expect < 3 and (idx[:, expect, :] < 2).all() and expect < k:
        expect += 1
    assert frozen_prefix(frozen, idx) == expect


@pytest.mark.parametrize("stats", ["owner", "task"])
def test_prefix_without_autograd_keeps_values_and_trainable_gradients(stats):
    pair = np.array([[[0, 1], [1, 1], [2, 3]], [[1, 0], [0, 0], [3, 3]]])
    x = torch.rand(2, 5, 1, 16, 16)
    y = torch.randint(0, 3, (2, 5))
    out = {}
    for on in (False, True):
        net = _net(2, frozen_statistics=stats)
        if stats == "task":
            net.add_task_statistics("A", net.frozen_rows)
        net.frozen_prefixes = on
        assert net.frozen_prefix(net.path_tensors(pair)[0]) == (2 if on else 0)
        gen = torch.Generator().manual_seed(1)
        net.generator = gen  # the same dropout masks for both
        logits = net.forward_paths(x, pair, "A")
        torch.nn.functional.cross_entropy(logits.reshape(10, 3), y.reshape(-1)).backward()
        trainable = [
            net.weight[2].grad.clone(),
            *(p.grad.clone() for p in net.heads["A"].parameters()),
        ]
        out[on] = (logits.detach(), trainable, net.weight[0].grad, net.state_dict())
    assert torch.equal(out[False][0], out[True][0])
    for a, b in zip(out[False][1], out[True][1], strict=True):
        assert torch.equal(a, b)
    assert out[True][2] is None and out[False][2] is not None  # frozen layer 0: no gradient
    for k, v in out[False][3].items():  # running statistics took the same steps
        assert torch.equal(v, out[True][3][k]), k


def test_validation_prefix_is_cached_and_gives_the_same_scores():
    pn = PathNet(PathNetConfig(layers=3, modules=4, channels=(4, 6, 6), input_size=16), seed=0)
    pn.net.add_head("A", 3, pn.generator)
    owner = pn.frozen_owner
    owner[:2, 0] = "src"
    pn._set_frozen_owner(owner)
    x, y = torch.rand(40, 1, 16, 16), torch.randint(0, 3, (40,))
    pair = np.array([[[0], [0], [1]], [[0], [0], [2]]])
    plain = evaluate_paths(pn, "A", pair, x, y, 16)
    cache = PrefixCache()
    first = evaluate_paths(pn, "A", pair, x, y, 16, cache)
    assert cache.misses == 3 and cache.hits == 0 and len(cache.store) == 3  # 3 chunks
    again = evaluate_paths(pn, "A", pair, x, y, 16, cache)
    assert cache.hits == 3
    for a, b in ((plain, first), (plain, again)):
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_cache_is_not_used_in_training_mode_or_past_its_limit():
    net = _net(2)
    cache = PrefixCache()
    x = torch.rand(4, 1, 16, 16)
    net.forward_paths(x, np.zeros((3, 2), np.int64), "A", (cache, 0))  # training mode
    assert not cache.store and cache.misses == 0
    small = PrefixCache(limit_bytes=16)
    net.eval().forward_paths(x, np.zeros((3, 2), np.int64), "A", (small, 0))
    assert not small.store and small.bytes == 0
