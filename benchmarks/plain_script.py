"""The plain-script yardstick: three plain PyTorch references on a run folder's folds.

    PYTHONPATH=src python benchmarks/plain_script.py RUN_FOLDER [--config C] [--max-folds N]

Each reference trains on ALL of a fold's training subjects (no validation subjects, no
early stopping) for a fixed number of epochs with Adam, flips and 2 px shifts, at the crop
the matching pathfer method uses, and is scored on the fold's test subjects:

* ``plain_cnn``: a small CNN (reference_cnn's architecture) from scratch, Adam 1e-3;
* ``plain_source_finetune``: the same CNN trained on the source corpus first (all of it),
  then every layer fine-tuned on the target with a new last layer, Adam 1e-3;
* ``plain_mini_xception``: the shipped FER2013 mini-Xception, every layer fine-tuned,
  Adam 3e-4 (its classifier rows for the target's labels kept).

pathfer is used only to read the run folder's config, the prepared corpora and the folds
(so the folds are the same) and to load the shipped FER2013 weights; the training below is
this file's own. It prints test accuracy per fold beside the run's reference_cnn,
reference_finetune and mini_xception_finetune, and the mean. When the run's split cuts
choice subjects (``choice_fraction``), the scripts train without them, as pathfer's
methods do, and their accuracy on those subjects is printed beside the run's too.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from pathfer.data import emotions
from pathfer.study.experiments import methods as M
from pathfer.study.experiments.config import load_config
from pathfer.study.experiments.plan import choice_cut, make_plan
from pathfer.use.bundle import default_bundle_path, load_bundle


def small_cnn(n_classes: int, size: int) -> nn.Module:
    """4 x (conv 3x3 + BatchNorm + ReLU + max-pool), 32-32-64-64, FC 128, dropout 0.5."""
    layers, c_in = [], 1
    for c in (32, 32, 64, 64):
        layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)]
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        c_in, size = c, size // 2
    layers += [nn.Flatten(), nn.Linear(c_in * size * size, 128), nn.ReLU(), nn.Dropout(0.5)]
    return nn.Sequential(*layers, nn.Linear(128, n_classes))


class Scaled(nn.Module):
    """[0, 1] images -> [-1, 1] before the network."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)


def augment(x: torch.Tensor, gen: torch.Generator, shift: int = 2) -> torch.Tensor:
    """Random horizontal flips and shifts of up to ``shift`` pixels (zero padded)."""
    flip = torch.rand(len(x), generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    pad = F.pad(x, (shift,) * 4)
    dx, dy = torch.randint(0, 2 * shift + 1, (2,), generator=gen).tolist()
    return pad[:, :, dy : dy + x.shape[2], dx : dx + x.shape[3]]


def train(model: nn.Module, x, y, epochs: int, lr: float, seed: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(32):
            loss = F.cross_entropy(model(augment(x[idx], gen)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x, y) -> float:
    model.eval()
    pred = torch.cat([model(b).argmax(1) for b in x.split(256)])
    return float((pred == y).float().mean())


def mini_xception(labels: list[str]) -> nn.Module:
    """The shipped FER2013 mini-Xception; its head keeps the rows of the target's labels
    (a fresh row for a label FER2013 lacks)."""
    bundle = load_bundle(default_bundle_path())
    model, fer = bundle.model, [emotions.canonical(x) for x in bundle.labels]
    old = model.classifier.conv
    new = nn.Conv2d(old.in_channels, len(labels), old.kernel_size, padding=old.padding)
    with torch.no_grad():
        for i, lab in enumerate(labels):
            if lab in fer:
                new.weight[i] = old.weight[fer.index(lab)]
                new.bias[i] = old.bias[fer.index(lab)]
    model.classifier.conv = new
    return model


def fold_parts(view, fold, choice_fraction: float, seed: int):
    """The fold's training, test and choice tensors (choice None without a choice cut),
    with the choice subjects pathfer's methods never train on cut as they are."""
    ds = view.load()
    train, choice = choice_cut(ds, fold.train_idx, choice_fraction, seed)
    return (
        ds.tensors(train),
        ds.tensors(fold.test_idx),
        None if choice is None else ds.tensors(choice),
    )


def scores(model: nn.Module, test, choice) -> dict[str, float]:
    out = {"test": accuracy(model, *test)}
    if choice is not None:
        out["choice"] = accuracy(model, *choice)
    return out


def fold_scores(
    plan, fold, epochs: int, seed: int, source_cache: dict, choice_fraction: float
) -> dict[str, dict[str, float]]:
    out = {}
    labels, K = plan.labels, len(plan.labels)
    for name, method in [("plain_cnn", "reference_cnn"), ("plain_source_finetune", None)]:
        view = plan.target_for(method or "reference_finetune")
        (x, y), test, choice = fold_parts(view, fold, choice_fraction, seed)
        size = x.shape[-1]
        torch.manual_seed(seed)
        model = Scaled(small_cnn(K, size))
        if method is None:  # the source CNN, trained once per seed on all source frames
            if seed not in source_cache:
                fam = M.needs_source("reference_finetune")
                src = [v.load().tensors(None) for v in plan.sources_for(fam)]
                xs, ys = torch.cat([s[0] for s in src]), torch.cat([s[1] for s in src])
                source_cache[seed] = train(model, xs, ys, epochs, 1e-3, seed).state_dict()
            model.load_state_dict(source_cache[seed])
            model.net[-1].reset_parameters()
        out[name] = scores(train(model, x, y, epochs, 1e-3, seed), test, choice)
    view = plan.target_for("mini_xception_finetune")
    (x, y), test, choice = fold_parts(view, fold, choice_fraction, seed)
    torch.manual_seed(seed)
    model = train(mini_xception(labels), x, y, epochs, 3e-4, seed)
    out["plain_mini_xception"] = scores(model, test, choice)
    return out


PAIRS = {
    "plain_cnn": "reference_cnn",
    "plain_source_finetune": "reference_finetune",
    "plain_mini_xception": "mini_xception_finetune",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a pathfer run folder (its config.yaml and metrics.csv)")
    ap.add_argument("--config", help="the experiment config (default: RUN/config.yaml)")
    ap.add_argument("--max-folds", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config or f"{args.run}/config.yaml")
    plan = make_plan(cfg, log=lambda s: None)
    try:
        run = pd.read_csv(f"{args.run}/metrics.csv")
        run = run[run.seed == args.seed].set_index(["method", "fold"])
    except FileNotFoundError:
        run = pd.DataFrame(columns=["frame_acc", "choice_acc"])
    columns = {"test": "frame_acc", "choice": "choice_acc"}
    rows, cache = [], {}
    for fold in plan.folds[: args.max_folds]:
        t0 = time.perf_counter()
        per_script = fold_scores(
            plan, fold, args.epochs, args.seed, cache, cfg.split.choice_fraction
        )
        for name, accs in per_script.items():
            for part, acc in accs.items():
                key = (PAIRS[name], fold.name)
                ours = run[columns[part]].get(key) if columns[part] in run else None
                rows.append(
                    {"fold": fold.name, "part": part, "script": name, "plain": acc, "pathfer": ours}
                )
        print(f"{fold.name}: {time.perf_counter() - t0:.0f} s", flush=True)
    t = pd.DataFrame(rows)
    t["pathfer method"] = t.script.map(PAIRS)
    t["pathfer"] = t.pathfer.astype(float)
    t["gap"] = t.pathfer - t.plain
    keys = ["part", "script", "pathfer method"]
    mean = t.groupby(keys, as_index=False)[["plain", "pathfer", "gap"]].mean()
    print(pd.concat([t, mean.assign(fold="mean")]).to_string(index=False))


if __name__ == "__main__":
    main()
