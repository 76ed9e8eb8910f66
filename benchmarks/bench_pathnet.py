"""Benchmark PathNet on CPU: path step vs plain CNN step, pair-batched tournaments,
generations per minute, folded layers vs every module on its own (training steps and
validation passes, and the evaluation chunk of every model), and PathNet over the FER2013
mini-Xception's stages vs fine-tuning the mini-Xception (one step each), and the
standard vs channels-last memory layout of a training step.

    .venv/bin/python benchmarks/bench_pathnet.py --threads 1

Prints tables (medians of interleaved repetitions); makes no assertions.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from pathfer.models.nn import EVAL_BATCH, PlainCNN
from pathfer.models.pathnet import EvolutionConfig, PathNet, PathNetConfig
from pathfer.models.pathnet.genotype import random_genotype
from pathfer.models.pathnet.optim import HeadOptimizer
from pathfer.models.pathnet.toy import toy_task
from pathfer.models.pathnet.training import evaluate_paths, train_paths

SIZES = {
    "small (8 ch) GN": PathNetConfig(channels=8),
    "(8,16,16,16) GN (old default)": PathNetConfig(channels=(8, 16, 16, 16), norm="group"),
    "default": PathNetConfig(),
    "(16,32,32,32) BN": PathNetConfig(channels=(16, 32, 32, 32), norm="batch"),
}
REFERENCE = (
    PathNetConfig(layers=4, modules=10, max_active=3),
    EvolutionConfig(population=20, steps_per_path=50),
)


def _median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


def _setup(cfg: PathNetConfig, n: int, seed: int = 0):
    pn = PathNet(cfg, seed=seed)
    pn.net.add_head("T", 7, pn.generator)
    pn.head_opts["T"] = HeadOptimizer(pn.net.heads["T"])
    x, y = toy_task(n, size=cfg.input_size, n_classes=7, seed=seed)
    return pn, x, y


def _cnn_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, lr=1e-3):
    """One Adam training step of ``model`` on a random batch of ``(x, y)``, as a function."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)

    def step():
        idx = torch.randint(len(x), (batch,), generator=gen)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _bench_size(name: str, cfg: PathNetConfig, reps: int, batch: int) -> dict:
    pn, x, y = _setup(cfg, 512)
    rng = np.random.default_rng(0)
    g1 = random_genotype(cfg.layers, cfg.modules, cfg.max_active, rng)[None]
    g2 = np.stack([g1[0], random_genotype(cfg.layers, cfg.modules, cfg.max_active, rng)])
    ev = EvolutionConfig(batch_size=batch)
    cnn = PlainCNN.from_pathnet_config(cfg, 7)
    cnn_step = _cnn_step(cnn, x, y, batch)

    def path_step():
        train_paths(pn, "T", g1, x, y, 1, ev, 1e-3)

    def pair_step():
        train_paths(pn, "T", g2, x, y, 1, ev, 1e-3)

    def two_steps():
        train_paths(pn, "T", g2[:1], x, y, 1, ev, 1e-3)
        train_paths(pn, "T", g2[1:], x, y, 1, ev, 1e-3)

    fns = {"cnn": cnn_step, "path": path_step, "pair": pair_step, "two": two_steps}
    for f in fns.values():  # warm-up
        f()
        f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):  # interleaved repetitions
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    med = {k: _median_ms(v) for k, v in times.items()}
    return {
        "size": name,
        "cnn_ms": med["cnn"],
        "path_ms": med["path"],
        "path/cnn": med["path"] / med["cnn"],
        "pair_ms": med["pair"],
        "2x_single_ms": med["two"],
        "pair/2x": med["pair"] / med["two"],
    }


def bench_path_vs_cnn(reps: int, batch: int) -> list[dict]:
    return [_bench_size(name, cfg, reps, batch) for name, cfg in SIZES.items()]


def bench_generations(n_train: int, gens: int, reps: int = 2) -> list[dict]:
    """Median seconds per generation (a pair-batched tournament) over ``reps`` runs of
    ``gens`` generations, after a warm-up run."""
    rows = []
    x, y = toy_task(n_train, size=48, n_classes=7, seed=1)
    settings = [
        ("default", PathNetConfig(), EvolutionConfig()),
        ("reference L4 M10 N3 P20 T50", *REFERENCE),
    ]
    for label, cfg, ev in settings:
        per_gen: list[float] = []
        warm = dataclasses.replace(ev, generations=1, finish_steps=0)
        PathNet(cfg, seed=0).learn_task("T", x, y, 7, evolution=warm)
        for rep in range(reps):
            e = dataclasses.replace(ev, generations=gens, finish_steps=0)
            res = PathNet(cfg, seed=rep).learn_task("T", x, y, 7, evolution=e)
            wall = [0.0] + [h["wall_time"] for h in res.history]
            per_gen += [b - a for a, b in zip(wall, wall[1:], strict=False)]
        med = statistics.median(per_gen)
        rows.append(
            {
                "config": label,
                "T": ev.steps_per_path,
                "s/generation": med,
                "generations/min": 60 / med,
            }
        )
    return rows


def bench_fer_step(reps: int, batch: int) -> list[dict]:
    """One training step at 64 px: the mini-Xception fine-tuned (all layers, Adam) vs one
    path of PathNet over its stages (2 modules per layer, one frozen) vs a tournament pair."""
    from pathfer.models.pathnet.pretrained import from_mini_xception
    from pathfer.use.bundle import default_bundle_path, load_bundle

    bundle = load_bundle(default_bundle_path())
    mx = bundle.model.train()
    pn = from_mini_xception(bundle.model, list(bundle.labels), seed=0)
    pn.net.add_head("T", 7, pn.generator)
    pn.head_opts["T"] = HeadOptimizer(pn.net.heads["T"])
    x, y = toy_task(256, size=64, n_classes=7, seed=0)
    ev = EvolutionConfig(batch_size=batch)
    g1 = np.array([[0, 1]] * 5)[None]
    g2 = np.stack([g1[0], np.array([[0, 2]] * 5)])
    mx_step = _cnn_step(mx, x, y, batch, lr=1e-4)
    fns = {
        "mini-Xception fine-tune": mx_step,
        "FER PathNet path (2 modules/layer)": lambda: train_paths(pn, "T", g1, x, y, 1, ev, 1e-4),
        "FER PathNet pair": lambda: train_paths(pn, "T", g2, x, y, 1, ev, 1e-4),
    }
    times: dict[str, list[float]] = {k: [] for k in fns}
    for f in fns.values():
        f()
    for _ in range(reps):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    ref = _median_ms(times["mini-Xception fine-tune"])
    return [
        {"step (64 px)": k, "ms": _median_ms(v), "x fine-tune": _median_ms(v) / ref}
        for k, v in times.items()
    ]


def _frozen_source(pn: PathNet, rows: int = 1) -> None:
    """Freeze modules ``0..rows-1`` of every layer as if a source task owned them."""
    owner = pn.frozen_owner
    owner[:, :rows] = "source"
    pn._set_frozen_owner(owner)


def bench_prefix(reps: int, batch: int, n_val: int = 270) -> list[dict]:
    """Frozen prefixes (``RowModules.frozen_prefixes``): before (every layer with autograd,
    nothing reused) vs today (frozen prefix without autograd, its validation output cached),
    for pairs whose first ``k`` layers are frozen: the default conv PathNet (48 px) and PathNet
    over the FER2013 stages (64 px)."""
    from pathfer.models.pathnet.prefix import PrefixCache
    from pathfer.models.pathnet.pretrained import from_mini_xception
    from pathfer.use.bundle import default_bundle_path, load_bundle

    conv, x, y = _setup(PathNetConfig(), 512)
    _frozen_source(conv)
    xv, yv = toy_task(n_val, size=48, n_classes=7, seed=3)
    bundle = load_bundle(default_bundle_path())
    fer = from_mini_xception(bundle.model, list(bundle.labels), seed=0)
    fer.net.add_head("T", 7, fer.generator)
    fer.head_opts["T"] = HeadOptimizer(fer.net.heads["T"])
    x64, y64 = toy_task(512, size=64, n_classes=7, seed=0)
    xv64, yv64 = toy_task(n_val, size=64, n_classes=7, seed=3)
    cases = []
    for k in (1, 2):
        g = np.array([[0]] * k + [[1 + i] for i in range(4 - k)])
        cases.append((f"conv, pair, {k} frozen", conv, np.stack([g, g + (g > 0)]), x, y, xv, yv))
        fg = np.array([[0, 0]] * k + [[0, 1]] * (5 - k))
        pair = np.stack([fg, fg + (fg > 0)])
        cases.append((f"FER2013, pair, {k} frozen", fer, pair, x64, y64, xv64, yv64))
    ev = EvolutionConfig(batch_size=batch)
    rows = []
    for name, pn, pair, xs, ys, xvs, yvs in cases:
        cache = PrefixCache()

        def train(on: bool, pn=pn, pair=pair, xs=xs, ys=ys):
            pn.net.frozen_prefixes = on
            train_paths(pn, "T", pair, xs, ys, 1, ev, 1e-4)

        def val(on: bool, pn=pn, pair=pair, xvs=xvs, yvs=yvs, cache=cache):
            pn.net.frozen_prefixes = on
            evaluate_paths(pn, "T", pair, xvs, yvs, EVAL_BATCH, cache if on else None)

        med = _interleaved(
            {
                "step before": lambda t=train: t(False),
                "step today": lambda t=train: t(True),
                "val before": lambda v=val: v(False),
                "val today": lambda v=val: v(True),
            },
            reps,
        )
        pn.net.frozen_prefixes = True
        for what in ("step", "val"):
            rows.append(
                {
                    "work": f"{name}: " + ("training step" if what == "step" else f"val ({n_val})"),
                    "before_ms": med[f"{what} before"],
                    "today_ms": med[f"{what} today"],
                    "speed-up": med[f"{what} before"] / med[f"{what} today"],
                }
            )
    return rows


def fold_cost(run: str) -> list[dict]:
    """Training time per fold (``train_time_s`` of a run folder's metrics.csv): PathNet
    methods against the baselines of their shape, per fold and seed, and the mean ratio."""
    import pandas as pd

    m = pd.read_csv(f"{run}/metrics.csv")
    t = m.pivot_table(index=["fold", "seed"], columns="method", values="train_time_s")
    rows = []
    for num, den in (
        ("pathnet_fer", "mini_xception_finetune"),
        ("pathnet_transfer", "finetune"),
        ("pathnet_transfer", "reference_finetune"),
    ):
        if num not in t or den not in t:
            continue
        for (fold, seed), r in t.iterrows():
            rows.append(
                {
                    "pair": f"{num} / {den}",
                    "fold": f"{fold} s{seed}",
                    "num_s": r[num],
                    "den_s": r[den],
                    "ratio": r[num] / r[den],
                }
            )
        ratio = (t[num] / t[den]).mean()
        rows.append(
            {
                "pair": f"{num} / {den}",
                "fold": "mean",
                "num_s": t[num].mean(),
                "den_s": t[den].mean(),
                "ratio": ratio,
            }
        )
    return rows


def _interleaved(fns: dict, reps: int) -> dict[str, float]:
    """Median ms of each function over ``reps`` interleaved repetitions (after a warm-up)."""
    for f in fns.values():
        f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: _median_ms(v) for k, v in times.items()}


def bench_fold(reps: int, batch: int, n_val: int = 270) -> list[dict]:
    """The default PathNet's tournament, folded (``SuperNet.fold_modules``, today) vs every
    module on its own (before): the pair's T training steps, one validation pass of both
    paths in chunks of 512 (before) and ``EVAL_BATCH`` (today), and both together. Then one
    validation pass of the plain CNN and the mini-Xception in chunks of 512 vs today's."""
    from pathfer.models.baselines.training import evaluate
    from pathfer.models.nn import EVAL_BATCH
    from pathfer.use.bundle import default_bundle_path, load_bundle

    cfg = PathNetConfig()
    pn, x, y = _setup(cfg, 512)
    xv, yv = toy_task(n_val, size=cfg.input_size, n_classes=7, seed=3)
    rng = np.random.default_rng(0)
    g2 = np.stack([random_genotype(cfg.layers, cfg.modules, cfg.max_active, rng) for _ in range(2)])
    ev = EvolutionConfig(batch_size=batch)
    T = ev.steps_per_path

    def run(fold: bool, train: bool, chunk: int | None):
        def f():
            pn.net.fold_modules = fold
            if train:
                train_paths(pn, "T", g2, x, y, T, ev, 1e-3)
            if chunk:
                evaluate_paths(pn, "T", g2, xv, yv, chunk)

        return f

    med = _interleaved(
        {
            "train before": run(False, True, None),
            "train today": run(True, True, None),
            "val before": run(False, False, 512),
            "val today": run(True, False, EVAL_BATCH),
            "tournament before": run(False, True, 512),
            "tournament today": run(True, True, EVAL_BATCH),
        },
        reps,
    )
    pn.net.fold_modules = True
    rows = [
        {
            "work": what,
            "before_ms": med[f"{key} before"],
            "today_ms": med[f"{key} today"],
            "speed-up": med[f"{key} before"] / med[f"{key} today"],
        }
        for key, what in [
            ("train", f"PathNet pair, {T} training steps"),
            ("val", f"PathNet pair, validation pass ({n_val} images)"),
            ("tournament", "PathNet tournament (both)"),
        ]
    ]
    cnn = PlainCNN.from_pathnet_config(cfg, 7).eval()
    mx = load_bundle(default_bundle_path()).model.eval()
    xv64, yv64 = toy_task(n_val, size=64, n_classes=7, seed=3)
    for name, model, xs, ys in [("PlainCNN", cnn, xv, yv), ("mini-Xception", mx, xv64, yv64)]:
        med = _interleaved(
            {
                "512": lambda m=model, a=xs, b=ys: evaluate(m, a, b, batch_size=512),
                "today": lambda m=model, a=xs, b=ys: evaluate(m, a, b, batch_size=EVAL_BATCH),
            },
            reps,
        )
        rows.append(
            {
                "work": f"{name}, validation pass ({n_val} images)",
                "before_ms": med["512"],
                "today_ms": med["today"],
                "speed-up": med["512"] / med["today"],
            }
        )
    return rows


def bench_layout(reps: int, batch: int) -> list[dict]:
    """Standard vs channels-last memory layout (``SuperNet.channels_last``, the
    ``channels_last`` attribute of the plain CNNs, today): one training step of the default
    PathNet's single path and pair of paths, of the plain CNN of the same shape and of the
    reference CNN, interleaved."""
    from pathfer.models.baselines.reference_cnn import ReferenceCNN
    from pathfer.models.pathnet.supernet import SuperNet

    cfg = PathNetConfig()
    pn, x, y = _setup(cfg, 512)
    rng = np.random.default_rng(0)
    pair = np.stack([random_genotype(cfg.layers, cfg.modules, cfg.max_active, rng) for _ in "ab"])
    ev = EvolutionConfig(batch_size=batch)
    makers = {
        "plain CNN": lambda: PlainCNN.from_pathnet_config(cfg, 7),
        "reference CNN": lambda: ReferenceCNN(7),
    }

    def path_step(genos: np.ndarray, last: bool):
        def step():
            SuperNet.channels_last = last
            train_paths(pn, "T", genos, x, y, 1, ev, 1e-3)

        return step

    def cnn_step(name: str, last: bool):
        model = makers[name]()  # converted once, as fit() does for a whole training run
        if last:
            model.to(memory_format=torch.channels_last)
        return _cnn_step(model, x, y, batch)

    rows = []
    try:
        for what, make in (
            ("PathNet, one path", lambda last: path_step(pair[:1], last)),
            ("PathNet, pair of paths", lambda last: path_step(pair, last)),
            ("plain CNN", lambda last: cnn_step("plain CNN", last)),
            ("reference CNN", lambda last: cnn_step("reference CNN", last)),
        ):
            med = _interleaved({"standard": make(False), "channels_last": make(True)}, reps)
            rows.append(
                {
                    "step": what,
                    "standard_ms": med["standard"],
                    "channels_last_ms": med["channels_last"],
                    "ratio": med["channels_last"] / med["standard"],
                }
            )
    finally:
        SuperNet.channels_last = True
    return rows


def _cell(v) -> str:
    if not isinstance(v, float):
        return str(v)
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _table(rows: list[dict]) -> str:
    keys = list(rows[0])
    cells = [[_cell(r[k]) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    line = lambda vals: "  ".join(v.rjust(w) for v, w in zip(vals, widths, strict=True))  # noqa: E731
    return "\n".join([line(keys), line(["-" * w for w in widths]), *map(line, cells)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=15, help="interleaved repetitions per step")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--n-train", type=int, default=600, help="48x48 samples for generations")
    ap.add_argument("--generations", type=int, default=4, help="per run")
    ap.add_argument("--skip-steps", action="store_true")
    ap.add_argument("--skip-generations", action="store_true")
    ap.add_argument("--skip-fer", action="store_true")
    ap.add_argument("--skip-fold", action="store_true")
    ap.add_argument("--skip-layout", action="store_true")
    ap.add_argument("--skip-prefix", action="store_true")
    ap.add_argument("--only-cost", action="store_true", help="only the FER step, prefix, run")
    ap.add_argument("--run", help="a run folder: training time per fold, PathNet vs baselines")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, 48x48, batch {args.batch}"
    )
    if args.only_cost:
        args.skip_steps = args.skip_generations = args.skip_fold = args.skip_layout = True
    if not args.skip_steps:
        print("\n== one training step (median ms): path vs PlainCNN, pair vs 2 single steps ==")
        print(_table(bench_path_vs_cnn(args.reps, args.batch)))
    if not args.skip_generations:
        print(f"\n== generations (tournaments) per minute, {args.n_train} samples (20% val) ==")
        print(_table(bench_generations(args.n_train, args.generations)))
    if not args.skip_fold:
        print("\n== folded layers and evaluation chunks: before vs today (median ms) ==")
        print(_table(bench_fold(max(3, args.reps // 3), args.batch)))
    if not args.skip_layout:
        print("\n== memory layout of a training step: standard vs channels-last (median ms) ==")
        print(_table(bench_layout(args.reps, args.batch)))
    if not args.skip_fer:
        print("\n== PathNet over the FER2013 stages vs fine-tuning the mini-Xception ==")
        print(_table(bench_fer_step(max(3, args.reps // 3), args.batch)))
    if not args.skip_prefix:
        print("\n== frozen prefixes: before (autograd, recomputed) vs today (median ms) ==")
        print(_table(bench_prefix(max(3, args.reps // 3), args.batch)))
    if args.run:
        print(f"\n== training time per fold, {args.run} ==")
        print(_table(fold_cost(args.run)))


if __name__ == "__main__":
    main()
