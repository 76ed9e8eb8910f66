"""``PathNet``: learn tasks one after another, freezing each one's best path.

Each task is a small state machine (unknown -> evolving -> trained -> frozen), kept in
:mod:`~pathfer.models.pathnet.tasks` with its transition checks; an illegal step raises
:class:`~pathfer.models.pathnet.tasks.PathNetStateError`.

Randomness: one ``seed`` makes a :class:`numpy.random.Generator` (tournament picks,
mutations, initial populations) and a :class:`torch.Generator` (weight initialisation,
mini-batch sampling, augmentation). Nothing reads the global RNGs, and both generator
states are saved in checkpoints, so a resumed run replays an uninterrupted one exactly.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..nn import EVAL_BATCH, augment_batch
from .checkpoint import read_checkpoint, write_checkpoint
from .config import LEGACY_VALUES, EvolutionConfig, PathNetConfig, check_compatible
from .evolution import GenerationRecord, seed_fresh, seed_population, stop_reason, tournament
from .genotype import Population, active_modules, validate_genotype
from .optim import HeadOptimizer, ModuleOptimizer
from .supernet import SuperNet
from .tasks import (
    PathNetStateError,
    Run,
    Task,
    TaskResult,
    TaskStatus,
    task_from_json,
    task_to_json,
)


def stratified_split(
    y: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified (train_idx, val_idx): ``round(fraction * n_c)`` of every class
    ``c`` (at least one, never all, for classes with two or more samples) go to validation."""
    y = np.asarray(y)
    val = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        if len(idx) < 2:
            continue
        k = int(np.clip(round(fraction * len(idx)), 1, len(idx) - 1))
        val.append(idx[:k])
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, dtype=np.int64)
    train_mask = np.ones(len(y), dtype=bool)
    train_mask[val_idx] = False
    return np.flatnonzero(train_mask), val_idx


def _fingerprint(*arrays: torch.Tensor) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = a.contiguous()
        h.update(str((tuple(a.shape), str(a.dtype))).encode())
        h.update(a.numpy().tobytes())
    return h.hexdigest()


def _as_images(x: Any, name: str, config: PathNetConfig) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    x = x.to(torch.float32)
    S, C = config.input_size, config.in_channels
    if x.dim() == 3 and C == 1:
        x = x.unsqueeze(1)
    if config.backbone == "mini_xception" and x.dim() == 4 and x.shape[2] == x.shape[3]:
        S = x.shape[-1]  # any square crop: the mini-Xception resizes to its input size
    if x.dim() != 4 or tuple(x.shape[1:]) != (C, S, S):
        raise ValueError(f"{name} must have shape (B, {C}, {S}, {S}), got {tuple(x.shape)}")
    return x.contiguous()


def _as_labels(y: Any, name: str, n: int, n_classes: int) -> torch.Tensor:
    y = torch.as_tensor(y).to(torch.long).reshape(-1)
    if len(y) != n:
        raise ValueError(f"{name} has {len(y)} labels for {n} images")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"{name} must hold class indices in [0, {n_classes - 1}]")
    return y


class PathNet:
    """A PathNet super-network plus its tasks. See the module docstring for the life cycle."""

    def __init__(self, config: PathNetConfig | None = None, seed: int = 0) -> None:
        self.config = config or PathNetConfig()
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.generator = torch.Generator().manual_seed(self.seed)
        if self.config.backbone == "mini_xception":
            from .stages import StageSuperNet

            self.net: SuperNet | StageSuperNet = StageSuperNet(self.config, self.generator)
        else:
            self.net = SuperNet(self.config, self.generator)
        self.opt = ModuleOptimizer([self.net.layer_params(i) for i in range(self.config.layers)])
        self.head_opts: dict[str, HeadOptimizer] = {}
        self.tasks: dict[str, Task] = {}
        self._frozen_owner = np.full((self.config.layers, self.config.modules), "", dtype=object)

    @property
    def frozen_owner(self) -> np.ndarray:
        """``(L, M)`` owner task of each frozen module (``""`` = trainable); a copy."""
        return self._frozen_owner.copy()

    def _set_frozen_owner(self, owner: np.ndarray) -> None:
        self._frozen_owner = np.asarray(owner, dtype=object)
        self.net.frozen_rows = self.frozen  # BatchNorm keeps frozen modules in eval mode

    # -- introspection --------------------------------------------------------------------
    @property
    def frozen(self) -> np.ndarray:
        """``(L, M)`` bool mask of frozen modules."""
        return self._frozen_owner != ""

    @property
    def copy_origins(self) -> np.ndarray:
        """``(L, M)`` int: for each free module, the frozen module of its layer it restarted
        as at the last freeze (``free_init="copy"``, round robin; trained since by later
        tasks), else -1."""
        out = np.full((self.config.layers, self.config.modules), -1)
        if self.config.free_init == "copy":
            for layer, fr in enumerate(self.frozen):
                free, frozen_rows = np.flatnonzero(~fr), np.flatnonzero(fr)
                if len(frozen_rows):
                    out[layer, free] = frozen_rows[np.arange(len(free)) % len(frozen_rows)]
        return out

    def status(self, name: str) -> TaskStatus:
        return self._task(name).status

    def best_path(self, name: str) -> np.ndarray:
        """The task's best genotype ``(L, N)`` (for an evolving task: the best so far)."""
        t = self._task(name)
        if t.genotype is not None:
            return t.genotype.copy()
        if t.run is not None and t.run.best.genotype is not None:
            return t.run.best.genotype.copy()
        raise PathNetStateError(f"task {name!r} has no path yet")

    def result(self, name: str) -> TaskResult:
        t = self._task(name)
        if t.result is None:
            raise PathNetStateError(f"task {name!r} is {t.status.value}: no result yet")
        return t.result

    def labels(self, name: str) -> list[str] | None:
        return self._task(name).labels

    def _task(self, name: str) -> Task:
        if name not in self.tasks:
            known = ", ".join(map(repr, self.tasks)) or "none"
            raise PathNetStateError(f"unknown task {name!r} (known tasks: {known})")
        return self.tasks[name]

    def _usable(self, name: str) -> Task:
        t = self._task(name)
        t.require_usable()
        return t

    def frozen_reused(self, genotype: np.ndarray) -> int:
        """How many of the path's distinct modules are frozen (reused from earlier tasks)."""
        fr = self.frozen
        return int(
            sum(fr[layer, rows].sum() for layer, rows in enumerate(active_modules(genotype)))
        )

    def _source_path(self) -> np.ndarray | None:
        name = self._last_frozen_task()
        return None if name is None else self.tasks[name].genotype

    def _source_path_through_copies(self) -> np.ndarray | None:
        """The most recently frozen task's path with each frozen module replaced by one of
        its copies (``free_init="copy"``; a free module copies one module, so distinct
        modules get distinct copies): the source network, trainable. A module with no copy
        stays frozen. ``None`` when there is no frozen task or the free modules are not
        copies."""
        source = self._source_path()
        if source is None or self.config.free_init != "copy":
            return None
        origins = self.copy_origins
        path = source.copy()
        for layer, genes in enumerate(source):
            for module in set(genes.tolist()):
                copies = np.flatnonzero(origins[layer] == module)
                if len(copies):
                    path[layer][genes == module] = copies[0]
        return path

    def _last_frozen_task(self) -> str | None:
        frozen = [t.name for t in self.tasks.values() if t.status is TaskStatus.FROZEN]
        return frozen[-1] if frozen else None

    # -- training primitives ----------------------------------------------------------------
    def _trainable_rows(self, genotypes: np.ndarray) -> list[torch.Tensor]:
        fr = self.frozen
        rows = []
        for layer in range(self.config.layers):
            r = np.unique(genotypes[:, layer, :])
            r = r[~fr[layer, r]]
            rows.append(torch.from_numpy(r))
        return rows

    def _module_lr(self, lr: float, ev: EvolutionConfig) -> float:
        return lr * ev.transfer_lr_scale if self.frozen.any() else lr

    def _finish_lr(self, ev: EvolutionConfig) -> float:
        """The finish stage's rate: ``transfer_finish_lr`` while frozen modules exist."""
        if ev.transfer_finish_lr is not None and self.frozen.any():
            return ev.transfer_finish_lr
        return ev.effective_finish_lr

    def _train(
        self,
        task: str,
        genotypes: np.ndarray,
        x: torch.Tensor,
        y: torch.Tensor,
        steps: int,
        ev: EvolutionConfig,
        lr: float,
        head_lr: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Train ``P`` paths together for ``steps`` mini-batches (each path its own batch).

        Returns per-path mean training accuracy and loss over the steps."""
        genotypes = np.asarray(genotypes, dtype=np.int64)
        P, B = genotypes.shape[0], ev.batch_size
        rows = self._trainable_rows(genotypes)
        head = self.net.heads[task]
        hopt = self.head_opts[task]
        params = [p for layer in range(self.config.layers) for p in self.net.layer_params(layer)]
        correct = torch.zeros(P, dtype=torch.float64)
        loss_sum = torch.zeros(P, dtype=torch.float64)
        mlr = self._module_lr(lr, ev)
        self.net.train()
        for _ in range(steps):
            idx = torch.randint(len(x), (P, B), generator=self.generator)
            xb, yb = x[idx], y[idx]
            if ev.augment:
                xb = augment_batch(
                    xb.flatten(0, 1), self.generator, max_shift=ev.augment_shift
                ).view_as(xb)
            logits = self.net.forward_paths(xb, genotypes, task)  # (P, B, K)
            per = F.cross_entropy(logits.reshape(P * B, -1), yb.reshape(-1), reduction="none").view(
                P, B
            )
            loss = per.mean(1).sum()  # each path's gradient is its own batch mean
            for p in (*params, *head.parameters()):
                p.grad = None
            loss.backward()
            for layer in range(self.config.layers):
                self.opt.step(layer, rows[layer], mlr, ev.weight_decay, ev.optimizer)
            hopt.step_all(head_lr, ev.weight_decay, ev.optimizer)
            with torch.no_grad():
                correct += (logits.argmax(2) == yb).double().mean(1)
                loss_sum += per.detach().double().mean(1)
        for p in (*params, *head.parameters()):
            p.grad = None
        self.net.eval()
        return (correct / steps).numpy(), (loss_sum / steps).numpy()

    @torch.no_grad()
    def _evaluate(
        self, task: str, genotypes: np.ndarray, x: torch.Tensor, y: torch.Tensor, chunk: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Accuracy and mean loss ``(P,)`` of ``P`` paths on the same data."""
        genotypes = np.asarray(genotypes, dtype=np.int64)
        if genotypes.ndim == 2:
            genotypes = genotypes[None]
        P = genotypes.shape[0]
        correct = torch.zeros(P, dtype=torch.float64)
        loss = torch.zeros(P, dtype=torch.float64)
        self.net.eval()
        for s in range(0, len(x), chunk):
            logits = self.net.forward_paths(x[s : s + chunk], genotypes, task)
            yb = y[s : s + chunk]
            correct += (logits.argmax(2) == yb).sum(1)
            loss += (
                F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), yb.repeat(P), reduction="none"
                )
                .view(P, -1)
                .sum(1)
                .double()
            )
        n = max(len(x), 1)
        return (correct / n).numpy(), (loss / n).numpy()

    def _snapshot(self, task: str, genotype: np.ndarray) -> dict[str, torch.Tensor]:
        snap: dict[str, torch.Tensor] = {}
        for layer, rows in enumerate(active_modules(genotype)):
            r = torch.from_numpy(rows)
            for i, p in enumerate(self.net.layer_state(layer)):
                snap[f"{layer}.{i}"] = p.detach()[r].clone()
        for k, v in self.net.heads[task].state_dict().items():
            snap[f"head.{k}"] = v.detach().clone()
        if task in self.net.task_stats:  # its own statistics of frozen modules
            for layer, rows in enumerate(active_modules(genotype)):
                _, mean, var = self.net.task_stats[task].layer(layer)
                snap[f"task.{layer}.mean"] = mean[torch.from_numpy(rows)].clone()
                snap[f"task.{layer}.var"] = var[torch.from_numpy(rows)].clone()
        return snap

    @torch.no_grad()
    def _restore(self, task: str, genotype: np.ndarray, snap: dict[str, torch.Tensor]) -> None:
        fr = self.frozen
        for layer, rows in enumerate(active_modules(genotype)):
            keep = ~fr[layer, rows]
            r = torch.from_numpy(rows[keep])
            for i, p in enumerate(self.net.layer_state(layer)):
                p[r] = snap[f"{layer}.{i}"][torch.from_numpy(keep)]
        self.net.heads[task].load_state_dict(
            {k[5:]: v for k, v in snap.items() if k.startswith("head.")}
        )
        if task in self.net.task_stats:
            for layer, rows in enumerate(active_modules(genotype)):
                _, mean, var = self.net.task_stats[task].layer(layer)
                mean[torch.from_numpy(rows)] = snap[f"task.{layer}.mean"]
                var[torch.from_numpy(rows)] = snap[f"task.{layer}.var"]

    # -- public API -------------------------------------------------------------------------
    def learn_task(
        self,
        name: str,
        x_train: Any = None,
        y_train: Any = None,
        n_classes: int | None = None,
        *,
        evolution: EvolutionConfig | None = None,
        x_val: Any = None,
        y_val: Any = None,
        labels: Sequence[str] | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
        train: tuple[Any, Any] | None = None,
        val: tuple[Any, Any] | None = None,
        checkpoint_path: str | Path | None = None,
        checkpoint_every: int = 0,
        head_from: str | None = None,
    ) -> TaskResult:
        """Evolve paths for task ``name`` on ``(x_train, y_train)``, then finish the winner.

        ``x``: float ``(B, C, S, S)`` in [0, 1] (uint8 is scaled by 1/255); ``y``: int class
        indices in ``[0, n_classes)``. ``train=(x, y)`` / ``val=(x, y)`` are accepted as
        alternatives to the separate arguments. Without a validation set, a stratified
        ``evolution.val_fraction`` of the training data is held out (deterministic in the
        seed and task name). ``progress(record)`` is called after every generation
        (``record["stage"] == "evolve"``) and every finish evaluation (``"finish"``).

        With ``checkpoint_path`` the whole PathNet is saved there every ``checkpoint_every``
        generations, when evolution ends and when the task is learnt. If the task is
        ``evolving`` (an interrupted run, e.g. after :meth:`load`), calling ``learn_task``
        again with the same data resumes it and reaches exactly the uninterrupted result.

        ``head_from``: a learnt task whose head the new head starts from: layers of equal
        shape are copied, and the class rows of the labels both tasks share (both need
        ``labels``); the other rows keep their fresh initialisation.
        """
        if train is not None:
            x_train, y_train = train
        if val is not None:
            x_val, y_val = val
        if x_train is None or y_train is None:
            raise ValueError("learn_task needs training data: x_train and y_train (or train=)")
        existing = self.tasks.get(name)
        if existing is not None:
            existing.require_learnable()
            n_classes = existing.n_classes if n_classes is None else n_classes
            if n_classes != existing.n_classes:
                raise ValueError(
                    f"task {name!r} was started with n_classes={existing.n_classes}, "
                    f"got {n_classes}"
                )
            saved = existing.run.evolution
            if evolution is not None and evolution != saved:
                raise ValueError(
                    f"task {name!r} is resuming with a different EvolutionConfig than it "
                    "started with"
                )
            evolution = saved
        if n_classes is None:
            raise ValueError("n_classes is required")
        if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral):
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        n_classes = int(n_classes)
        if n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        ev = evolution or EvolutionConfig()
        check_compatible(self.config, ev)
        if labels is not None and len(labels) != n_classes:
            raise ValueError(f"labels has {len(labels)} names for n_classes={n_classes}")

        x = _as_images(x_train, "x_train", self.config)
        y = _as_labels(y_train, "y_train", len(x), n_classes)
        if x_val is None:
            split_rng = np.random.default_rng([self.seed, zlib.crc32(name.encode())])
            tr_idx, va_idx = stratified_split(y.numpy(), ev.val_fraction, split_rng)
            tr_idx, va_idx = torch.from_numpy(tr_idx), torch.from_numpy(va_idx)
            x, y, xv, yv = x[tr_idx], y[tr_idx], x[va_idx], y[va_idx]
        else:
            xv = _as_images(x_val, "x_val", self.config)
            yv = _as_labels(y_val, "y_val", len(xv), n_classes)
        if len(x) == 0:
            raise ValueError("no training samples left")
        if len(xv) == 0:
            raise ValueError("the validation part is empty: pass x_val/y_val or more data")
        fp = _fingerprint(x, y, xv, yv)

        if existing is None:
            task = Task(name, n_classes, list(labels) if labels else None, TaskStatus.EVOLVING)
            self.net.add_head(name, n_classes, self.generator)
            cfg = self.config
            if cfg.frozen_statistics == "task" and cfg.backbone == "conv" and self.frozen.any():
                self.net.add_task_statistics(name, self.frozen)
            if head_from is None and ev.head_from_frozen:
                head_from = self._last_frozen_task()
                if head_from is not None and (
                    labels is None or self.tasks[head_from].labels is None
                ):
                    raise ValueError(
                        f"evolution.head_from_frozen copies the head of task {head_from!r} by "
                        "class name: pass labels= to learn_task for both tasks"
                    )
            if head_from is not None:
                self._head_from(name, task.labels, head_from)
            self.head_opts[name] = HeadOptimizer(self.net.heads[name])
            pop = Population.random(
                ev.population, cfg.layers, cfg.modules, cfg.max_active, self.rng
            )
            pinned = seed_population(
                pop, self._source_path(), ev, copies=self._source_path_through_copies()
            )
            if ev.compare_fresh and self.frozen.any():
                seed_fresh(pop, self.frozen, self.rng)
            task.run = Run(ev, fp, pop, pinned)
            self.tasks[name] = task
        else:
            task = existing
            if task.run.fingerprint != fp:
                raise ValueError(
                    f"task {name!r} is resuming with different data than it started with"
                )
        run = task.run

        def save() -> None:
            if checkpoint_path is not None:
                self.save(checkpoint_path)

        if run.stage == "evolve":
            self._evolve(task, x, y, xv, yv, progress, save, checkpoint_every)
            run.stage = "finish"
            save()
        geno = run.best.genotype
        reused = self.frozen_reused(geno)
        if ev.finish_frozen == "copy":
            geno = self._copy_frozen(geno)
        finish_history, key = self._finish(task, x, y, xv, yv, progress, geno, run.evolution_val)
        evo_acc = run.evolution_val[0]
        fresh_check = None
        if ev.compare_fresh and run.fresh.genotype is not None and self.frozen_reused(geno):
            geno, finish_history, evo_acc, fresh_check = self._compare_fresh(
                task, x, y, xv, yv, progress, geno, key, finish_history
            )
            reused = self.frozen_reused(geno)
        final_acc, _ = self._evaluate(name, geno, xv, yv, ev.eval_batch_size)
        counts = torch.bincount(yv, minlength=n_classes)
        chance = float(counts.max()) / len(yv)
        result = TaskResult(
            name=name,
            best_genotype=geno.tolist(),
            generations=run.generation,
            stop_reason=run.stop or "budget",
            evolution_fitness=run.best.fitness,
            evolution_val_accuracy=evo_acc,
            final_val_accuracy=float(final_acc[0]),
            finish_gain=float(final_acc[0]) - evo_acc,
            evolution_gain=evo_acc - chance,
            chance_accuracy=chance,
            finish_steps=finish_history[-1]["step"] if finish_history else 0,
            frozen_reused=reused,
            n_train=len(x),
            n_val=len(xv),
            wall_time=run.wall,
            history=list(run.history),
            finish_history=finish_history,
            fresh_check=fresh_check,
        )
        task.genotype = geno.copy()
        task.result = result
        task.status = TaskStatus.TRAINED
        task.run = None
        save()
        return result

    @torch.no_grad()
    def _head_from(self, name: str, labels: list[str] | None, donor: str) -> None:
        d = self._usable(donor)
        if labels is None or d.labels is None:
            raise ValueError(f"head_from={donor!r} needs labels for both tasks")
        pairs = [(i, d.labels.index(lab)) for i, lab in enumerate(labels) if lab in d.labels]
        mine, theirs = self.net.heads[name].state_dict(), self.net.heads[donor].state_dict()
        output = list(mine)[-2:]  # every head ends in its class layer (weight, bias)
        new = {}
        for k, v in mine.items():
            w = theirs.get(k)
            if w is None or w.shape[1:] != v.shape[1:]:
                continue
            if k in output:
                new[k] = v.clone()
                for i, j in pairs:
                    new[k][i] = w[j]
            elif w.shape == v.shape:
                new[k] = w.clone()
        self.net.heads[name].load_state_dict({**mine, **new})

    def _evolve(self, task: Task, x, y, xv, yv, progress, save, every: int) -> None:
        run, ev, name = task.run, task.run.evolution, task.name
        M = self.config.modules
        head_lr = ev.effective_head_lr

        def score(pair: np.ndarray) -> list[tuple[float, float]]:
            if ev.pair_batched:
                tr_acc, tr_loss = self._train(
                    name, pair, x, y, ev.steps_per_path, ev, ev.lr, head_lr
                )
            else:
                accs, losses = [], []
                for p in range(2):
                    a, lo = self._train(
                        name, pair[p : p + 1], x, y, ev.steps_per_path, ev, ev.lr, head_lr
                    )
                    accs.append(a[0])
                    losses.append(lo[0])
                tr_acc, tr_loss = np.array(accs), np.array(losses)
            if ev.fitness == "train":
                return [(float(tr_acc[p]), -float(tr_loss[p])) for p in range(2)]
            if ev.pair_batched:
                acc, loss = self._evaluate(name, pair, xv, yv, ev.eval_batch_size)
            else:
                res = [self._evaluate(name, pair[p], xv, yv, ev.eval_batch_size) for p in range(2)]
                acc = np.array([r[0][0] for r in res])
                loss = np.array([r[1][0] for r in res])
            return [(float(acc[p]), -float(loss[p])) for p in range(2)]

        while True:
            reason = stop_reason(ev, run.generation, run.best, run.since_best)
            if reason is not None:
                run.stop = reason
                break
            t0 = time.perf_counter()
            out = tournament(run.population, self.rng, score, M, pinned=run.pinned)
            run.generation += 1
            previous = run.best.fitness
            if run.best.offer(out["winner_key"], out["winner_genotype"], run.generation):
                run.snapshot = self._snapshot(name, run.best.genotype)
            if ev.compare_fresh and self.frozen.any():  # the best path without frozen modules
                for side in ("winner", "loser"):
                    g = out[f"{side}_genotype"]
                    if not self.frozen_reused(g) and run.fresh.offer(
                        out[f"{side}_key"], g, run.generation
                    ):
                        run.fresh_snapshot = self._snapshot(name, g)
            # patience counts generations without a higher fitness (a better loss on equal
            # accuracy replaces the kept path but does not reset it)
            if math.isnan(previous) or run.best.fitness > previous:
                run.since_best = 0
            else:
                run.since_best += 1
            run.wall += time.perf_counter() - t0
            rec = GenerationRecord(
                generation=run.generation,
                best_fitness=run.best.fitness,
                mean_fitness=run.population.mean_fitness(),
                diversity=run.population.diversity(),
                frozen_reused=self.frozen_reused(run.best.genotype),
                winner_fitness=out["winner_key"][0],
                loser_fitness=out["loser_key"][0],
                wall_time=run.wall,
            ).as_dict()
            run.history.append(rec)
            if every and run.generation % every == 0:
                save()
            if progress is not None:
                progress({"stage": "evolve", "task": name, **rec})

        if run.best.genotype is None:  # zero-generation budget: take the first member as is
            g = run.population.genotypes[0]
            acc, loss = self._evaluate(name, g, xv, yv, ev.eval_batch_size)
            run.best.offer((float(acc[0]), -float(loss[0])), g, 0)
            run.snapshot = self._snapshot(name, g)
        self._restore(name, run.best.genotype, run.snapshot)
        acc, loss = self._evaluate(name, run.best.genotype, xv, yv, ev.eval_batch_size)
        run.evolution_val = (float(acc[0]), float(loss[0]))

    def _copy_frozen(self, genotype: np.ndarray) -> np.ndarray:
        """``finish_frozen="copy"``: every frozen module on the path is copied (weights,
        affine and running statistics) into a free module of its layer that the path does
        not use, lowest index first, with fresh optimiser state. Returns the path through
        the copies, which computes the same function in eval mode."""
        geno = genotype.copy()
        fr = self.frozen
        for layer, rows in enumerate(active_modules(genotype)):
            spare = [m for m in np.flatnonzero(~fr[layer]) if m not in rows]
            src = [m for m in rows if fr[layer, m]][: len(spare)]
            if not src:
                continue
            dst = torch.tensor(spare[: len(src)])
            self.net.copy_modules(layer, dst, torch.tensor(src))
            self.opt.reset_rows(layer, dst)
            for s, d in zip(src, dst.tolist(), strict=True):
                geno[layer][genotype[layer] == s] = d
        return geno

    def _finish(
        self, task: Task, x, y, xv, yv, progress, genotype: np.ndarray, start: tuple[float, float]
    ) -> tuple[list[dict[str, Any]], tuple[float, float]]:
        """Train ``genotype`` alone with early stopping on the validation part, starting
        from validation ``start = (accuracy, loss)``; the best weights seen are restored
        (the start's among them unless ``finish_baseline="own"``). Returns the history and
        the best ``(accuracy, -loss)`` key."""
        run, ev, name = task.run, task.run.evolution, task.name
        geno = genotype[None]
        history: list[dict[str, Any]] = []
        best_key = (start[0], -start[1])
        if ev.finish_steps == 0:
            return history, best_key
        if ev.finish_baseline == "own":  # the first checkpoint sets the bar
            best_key = (-math.inf, -math.inf)
        snap = self._snapshot(name, genotype)
        done, bad = 0, 0
        t0 = time.perf_counter()
        fresh = run.fresh.genotype is not None and genotype is run.fresh.genotype
        lr = self._finish_lr(ev)
        while done < ev.finish_steps:
            n = min(ev.finish_eval_every, ev.finish_steps - done)
            self._train(name, geno, x, y, n, ev, lr, lr * ev.effective_head_lr / ev.lr)
            done += n
            acc, loss = self._evaluate(name, geno, xv, yv, ev.eval_batch_size)
            rec = {
                "step": done,
                "val_accuracy": float(acc[0]),
                "val_loss": float(loss[0]),
                "wall_time": time.perf_counter() - t0,
            }
            if fresh:
                rec["path"] = "fresh"
            history.append(rec)
            if progress is not None:
                progress({"stage": "finish", "task": name, **rec})
            key = (float(acc[0]), -float(loss[0]))
            if key > best_key:
                best_key, bad = key, 0
                snap = self._snapshot(name, genotype)
            else:
                bad += 1
                if bad >= ev.finish_patience:
                    break
        self._restore(name, genotype, snap)
        return history, best_key

    def _compare_fresh(self, task: Task, x, y, xv, yv, progress, reuse, reuse_key, reuse_history):
        """The safeguard: finish the best path without frozen modules too; keep the better
        on validation. ``reuse`` is the finished best path (through its copies with
        ``finish_frozen="copy"``). Returns (genotype, finish history, start accuracy, record)."""
        run, ev, name = task.run, task.run.evolution, task.name
        fresh = run.fresh.genotype
        reuse_snap = self._snapshot(name, reuse)
        self._restore(name, fresh, run.fresh_snapshot)
        acc, loss = self._evaluate(name, fresh, xv, yv, ev.eval_batch_size)
        history, fresh_key = self._finish(
            task, x, y, xv, yv, progress, fresh, (float(acc[0]), float(loss[0]))
        )
        record = {
            "reuse_val_accuracy": reuse_key[0],
            "fresh_val_accuracy": fresh_key[0],
            "fresh_path": fresh.tolist(),
            "kept": "fresh" if fresh_key > reuse_key else "reuse",
        }
        if record["kept"] == "fresh":
            return fresh, history, float(acc[0]), record
        self._restore(name, reuse, reuse_snap)
        return reuse, reuse_history, run.evolution_val[0], record

    def freeze(self, name: str) -> None:
        """Freeze the task's best path: its modules never change again, every other
        (non-frozen) module is re-initialised (``PathNetConfig.free_init``: fresh weights,
        or copies of the frozen modules of its layer) and loses its optimiser state."""
        t = self._task(name)
        t.require_freezable(
            [
                o.name
                for o in self.tasks.values()
                if o.name != name and o.status is not TaskStatus.FROZEN
            ]
        )
        owner = self.frozen_owner
        for layer, rows in enumerate(active_modules(t.genotype)):
            newly = rows[~self.frozen[layer, rows]]
            owner[layer, newly] = name
        self._set_frozen_owner(owner)
        self._restart_free_modules()
        self.head_opts[name].reset()
        t.status = TaskStatus.FROZEN

    def _restart_free_modules(self) -> None:
        """Every module that is not frozen restarts (``config.free_init``): fresh weights,
        or a copy of a frozen module of its layer (round robin); optimiser state cleared."""
        origins = self.copy_origins
        for layer, fr in enumerate(self.frozen):
            free = np.flatnonzero(~fr)
            self.net.reset_modules(layer, torch.from_numpy(free), self.generator)
            copies = free[origins[layer, free] >= 0]
            if len(copies):
                self.net.copy_modules(
                    layer, torch.from_numpy(copies), torch.from_numpy(origins[layer, copies])
                )
            self.opt.reset_rows(layer, torch.arange(self.config.modules))

    def forget(self, name: str) -> None:
        """Drop a task that is not frozen (its head and run); its modules are left as they are."""
        self._task(name).require_forgettable()
        del self.tasks[name]
        del self.net.heads[name]
        del self.head_opts[name]
        self.net.drop_task_statistics(name)

    @torch.no_grad()
    def predict_proba(self, name: str, x: Any, batch_size: int = EVAL_BATCH) -> np.ndarray:
        """Class probabilities ``(B, n_classes)`` (float32 numpy) of the task's best path."""
        t = self._usable(name)
        x = _as_images(x, "x", self.config)
        out = []
        self.net.eval()
        for s in range(0, len(x), batch_size):
            logits = self.net.forward_paths(x[s : s + batch_size], t.genotype, name)[0]
            out.append(torch.softmax(logits, 1))
        if not out:
            return np.zeros((0, t.n_classes), dtype=np.float32)
        return torch.cat(out).numpy()

    def predict(self, name: str, x: Any) -> np.ndarray:
        return self.predict_proba(name, x).argmax(1)

    def evaluate(self, name: str, x: Any, y: Any) -> dict[str, float]:
        """``{"accuracy", "loss", "n"}`` of the task's best path on ``(x, y)``."""
        t = self._usable(name)
        x = _as_images(x, "x", self.config)
        y = _as_labels(y, "y", len(x), t.n_classes)
        acc, loss = self._evaluate(name, t.genotype, x, y, 512)
        return {"accuracy": float(acc[0]), "loss": float(loss[0]), "n": len(x)}

    def task_model(self, name: str) -> nn.Module:
        """The task's path as a plain :class:`~pathfer.models.nn.PlainCNN` (copies of its
        modules and head; eval mode) giving the same logits as the super-network path."""
        t = self._usable(name)
        return self.net.materialise(t.genotype, name)

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Save everything (weights, optimiser and RNG states, tasks, runs) to a folder
        (see :mod:`~pathfer.models.pathnet.checkpoint`); loading never unpickles."""
        tensors: dict[str, torch.Tensor] = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        tensors.update(self.opt.state_tensors("opt"))
        for name, hopt in self.head_opts.items():
            tensors.update(hopt.state_tensors(f"headopt.{name}"))
        for t in self.tasks.values():
            if t.run is not None:
                tensors.update({f"snap.{t.name}.{k}": v for k, v in t.run.snapshot.items()})
                tensors.update(
                    {f"freshsnap.{t.name}.{k}": v for k, v in t.run.fresh_snapshot.items()}
                )
        tensors["rng.torch"] = self.generator.get_state()
        state = {
            "config": self.config.as_dict(),
            "seed": self.seed,
            "frozen_owner": self.frozen_owner.tolist(),
            "tasks": [task_to_json(t) for t in self.tasks.values()],
            "rng_numpy": self.rng.bit_generator.state,
        }
        return write_checkpoint(path, tensors, state)

    @classmethod
    def load(cls, path: str | Path) -> PathNet:
        """Rebuild a PathNet saved by :meth:`save` (exact state, RNGs included)."""
        tensors, state = read_checkpoint(path)
        config = PathNetConfig.from_dict({**LEGACY_VALUES, **state["config"]})
        pn = cls(config, seed=state["seed"])
        pn._set_frozen_owner(np.array(state["frozen_owner"], dtype=object))
        for entry in state["tasks"]:
            name = entry["name"]
            pn.net.add_head(name, entry["n_classes"], None)
            pn.head_opts[name] = HeadOptimizer(pn.net.heads[name])
            pn.head_opts[name].load_state_tensors(f"headopt.{name}", tensors)
            prefix = f"snap.{name}."
            snap = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            prefix = f"freshsnap.{name}."
            fresh = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            task = task_from_json(entry, snap, fresh)
            if task.genotype is not None:
                validate_genotype(task.genotype, config.layers, config.modules, config.max_active)
            pn.tasks[name] = task
        for key in list(tensors):  # tasks with their own statistics of frozen modules
            if key.startswith("net.task_stats.") and key.endswith(".rows0"):
                task = key[len("net.task_stats.") : -len(".rows0")]
                mask = [tensors[f"net.task_stats.{task}.rows{i}"] for i in range(config.layers)]
                pn.net.add_task_statistics(task, torch.stack(mask).numpy())
        pn.net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        pn.opt.load_state_tensors("opt", tensors)
        pn.generator.set_state(tensors["rng.torch"])
        pn.rng.bit_generator.state = state["rng_numpy"]
        return pn
