"""PlainCNN (one path's architecture), the shared training loop and augmentation."""

from __future__ import annotations

import pytest
import torch

from pathfer.models.baselines.reference_cnn import ReferenceCNN
from pathfer.models.baselines.training import evaluate, fit
from pathfer.models.nn import PlainCNN, augment_batch, set_job_numerics
from pathfer.models.pathnet import PathNetConfig
from pathfer.models.pathnet.toy import toy_task


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


CFG = PathNetConfig(layers=3, modules=5, max_active=2, channels=8, input_size=16)


def test_plain_cnn_variants_shapes_and_capacity():
    path = PlainCNN.from_pathnet_config(CFG, 4)
    wide = PlainCNN.from_pathnet_config(CFG, 4, variant="wide")
    x = torch.rand(3, 1, 16, 16)
    assert path(x).shape == (3, 4) and wide(x).shape == (3, 4)
    # both have N * c_out filters per layer; the path variant sums the N blocks, so its next
    # layer (and head) sees c_out channels where the wide one sees N * c_out
    for a, b in zip(path.layers, wide.layers, strict=True):
        assert a.conv.out_channels == b.conv.out_channels == 2 * 8
    assert path.layers[1].conv.in_channels == 8 and wide.layers[1].conv.in_channels == 16
    assert path.head.in_features == 8 * 2 * 2 and wide.head.in_features == 16 * 2 * 2
    with pytest.raises(ValueError, match="variant"):
        PlainCNN.from_pathnet_config(CFG, 4, variant="deep")


def test_branches_are_normalised_separately():
    m = PlainCNN(2, channels=[4], branches=2, input_size=8, head="gap")
    assert m.layers[0].norm.num_groups == 2 * 2  # groups never straddle two branches


def test_fit_learns_restores_best_and_is_deterministic():
    x, y = toy_task(240, n_classes=3, seed=0)
    xv, yv = toy_task(90, n_classes=3, seed=1)
    results = []
    for _ in range(2):
        torch.manual_seed(0)  # model init only; fit itself uses its own seeded generator
        model = PlainCNN.from_pathnet_config(CFG, 3)
        res = fit(model, x, y, xv, yv, lr=1e-2, batch_size=16, max_epochs=6, patience=3, seed=0)
        results.append((model, res))
    (m1, r1), (m2, r2) = results
    assert r1.best_val_acc > 0.7, r1.history
    assert evaluate(m1, xv, yv)["acc"] == pytest.approx(r1.best_val_acc)
    assert [h["val_loss"] for h in r1.history] == [h["val_loss"] for h in r2.history]
    assert all(
        torch.equal(a, b)
        for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True)
    )
    assert {"epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc"} <= set(r1.history[0])
    assert not m1.training


def test_feature_extraction_trains_only_given_params():
    x, y = toy_task(64, n_classes=3, seed=0)
    model = PlainCNN.from_pathnet_config(CFG, 3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, x, y, x[:16], y[:16], params=model.head_parameters(), max_epochs=2, seed=0)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]) == (not k.startswith("head.")), k
    assert all(p.requires_grad for p in model.parameters())  # flags restored


def test_augmented_fit_is_deterministic():
    x, y = toy_task(48, n_classes=3, seed=0)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = PlainCNN.from_pathnet_config(CFG, 3)
        runs.append(fit(model, x, y, x, y, max_epochs=2, batch_size=16, seed=3, augment=True))
    assert runs[0].history[-1]["train_loss"] == runs[1].history[-1]["train_loss"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: PlainCNN.from_pathnet_config(CFG, 3),
        lambda: ReferenceCNN(3, channels=(8, 8, 8), input_size=16),
    ],
)
def test_fit_trains_in_channels_last_and_hands_back_the_standard_layout(make, monkeypatch):
    """The plain CNNs train in channels-last layout (faster on CPU): the same training up
    to float rounding, and the trained weights come back in the standard layout (what
    safetensors and every later caller expect)."""
    x, y = toy_task(64, n_classes=3, seed=0)
    runs = {}
    for last in (False, True):
        monkeypatch.setattr(type(make()), "channels_last", last)
        torch.manual_seed(0)
        model = make()
        seen = []
        convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        conv = convs[1]  # the first one's single input channel fits both layouts
        conv.register_forward_pre_hook(
            lambda m, inp, seen=seen: seen.append(
                m.weight.is_contiguous(memory_format=torch.channels_last)
            )
        )
        res = fit(model, x, y, x[:32], y[:32], max_epochs=2, batch_size=16, seed=0, augment=True)
        assert set(seen) == {last}
        assert all(t.is_contiguous() for t in model.state_dict().values())
        runs[last] = (res, model)
    (ref, ref_model), (res, model) = runs[False], runs[True]
    assert [h["train_loss"] for h in res.history] == pytest.approx(
        [h["train_loss"] for h in ref.history], rel=1e-4
    )
    assert [h["val_acc"] for h in res.history] == [h["val_acc"] for h in ref.history]
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, ref_model.state_dict()[name], rtol=1e-3, atol=1e-4)


def test_max_steps_bounds_training():
    x, y = toy_task(64, n_classes=3, seed=0)
    res = fit(
        PlainCNN.from_pathnet_config(CFG, 3),
        x,
        y,
        max_epochs=10,
        max_steps=5,
        batch_size=16,
        seed=0,
    )
    assert res.steps == 5 and res.history[-1]["step"] == 5


def test_augment_batch_flips_and_shifts_within_bounds():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 12, 12)
    assert torch.equal(augment_batch(x, g, flip=False, max_shift=0), x)
    flipped = augment_batch(x, g, flip=True, max_shift=0)
    for a, b in zip(x, flipped, strict=True):
        assert torch.equal(a, b) or torch.equal(a.flip(2), b)
    n_flipped = sum(not torch.equal(a, b) for a, b in zip(x, flipped, strict=True))
    assert 15 < n_flipped < 49
    shifted = augment_batch(x, g, flip=False, max_shift=2)
    assert shifted.shape == x.shape
    for a, b in zip(x, shifted, strict=True):
        # the central 8x8 of the shifted image is a window of the original
        core = b[0, 2:10, 2:10]
        assert any(
            torch.equal(core, a[0, 2 + dy : 10 + dy, 2 + dx : 10 + dx])
            for dy in range(-2, 3)
            for dx in range(-2, 3)
        )
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(augment_batch(x, g1), augment_batch(x, g2))


def test_job_numerics_set_threads_and_flush_subnormals():
    """A job computes on subnormal floats as 0 (x86 handles them in microcode, tens of
    times slower) and with the thread count it is given; nothing else changes."""
    tiny = torch.finfo(torch.float32).tiny
    sub = torch.full((8,), tiny / 4)  # a subnormal, stored as is
    assert (sub * 1.0 != 0).all()  # the default: subnormals compute as themselves
    try:
        set_job_numerics(2)
        assert torch.get_num_threads() == 2
        assert (sub * 1.0 == 0).all()
        normal = torch.full((8,), tiny * 4)
        assert torch.equal(normal * 1.0, normal)  # normal numbers are untouched
    finally:
        torch.set_flush_denormal(False)
