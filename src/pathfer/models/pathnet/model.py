# Over 400 lines: the PathNet class is the public API of the engine; the algorithm is in its parts.
"""``PathNet``: learn tasks one after another, freezing each one's best path.

The class holds the API; the engine's stages live beside it: :mod:`.data` (a task's checked
data), :mod:`.evolve` (tournaments), :mod:`.strategies` (how free modules start, how a
population is seeded, how the winner is finished, how a head starts), :mod:`.training` (the
training primitives) and :mod:`.checkpoint` (the file format).

Each task is a small state machine (unknown -> evolving -> trained -> frozen), kept in
:mod:`~pathfer.models.pathnet.tasks` with its transition checks; an illegal step raises
:class:`~pathfer.models.pathnet.tasks.PathNetStateError`.

Randomness: one ``seed`` makes a :class:`numpy.random.Generator` (tournament picks,
mutations, initial populations) and a :class:`torch.Generator` (weight initialisation,
mini-batch sampling, augmentation). Nothing reads the global RNGs, and both generator
states are saved in checkpoints, so a resumed run replays an uninterrupted one exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..nn import EVAL_BATCH, predict_proba
from .checkpoint import read_checkpoint, write_checkpoint
from .config import EngineSettings, EvolutionConfig, PathNetConfig
from .data import TaskData, as_images, as_labels, check_n_classes, prepare_data, stratified_split
from .evolve import evolve
from .genotype import active_modules, validate_genotype
from .optim import HeadOptimizer, ModuleOptimizer
from .strategies.finish import finish
from .strategies.free_init import copy_origins, restart_free_modules
from .strategies.heads import start_head_from
from .strategies.refit import chosen_steps, refit_start
from .strategies.refit import refit as refit_task
from .strategies.seeding import initial_population
from .strategies.train_layers import frozen_only_layers
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
from .training import PathModule, evaluate_paths

Progress = Callable[[dict[str, Any]], None]


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

    def adopt_frozen(self, owner: np.ndarray) -> None:
        """Take ``owner`` (``(L, M)``: the task that froze each module, ``""`` for free
        ones) as the state a freeze leaves, for modules whose weights were loaded from
        elsewhere (a model file, a pretrained network): they never train again, and the
        free modules restart as after a freeze (:func:`restart_free_modules`)."""
        owner = np.asarray(owner, dtype=object)
        expected = (self.config.layers, self.config.modules)
        if owner.shape != expected:
            raise ValueError(f"owner has shape {owner.shape}, not {expected}")
        self._set_frozen_owner(owner)
        restart_free_modules(self)

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
        return copy_origins(self.config, self.frozen)

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

    def _last_frozen_task(self) -> str | None:
        frozen = [t.name for t in self.tasks.values() if t.status is TaskStatus.FROZEN]
        return frozen[-1] if frozen else None

    # -- learning a task --------------------------------------------------------------------
    def learn_task(
        self,
        name: str,
        x_train: Any,
        y_train: Any,
        n_classes: int | None = None,
        *,
        x_val: Any = None,
        y_val: Any = None,
        labels: Sequence[str] | None = None,
        evolution: EvolutionConfig | None = None,
        engine: EngineSettings | None = None,
        head_from: str | None = None,
        progress: Progress | None = None,
        checkpoint_path: str | Path | None = None,
        checkpoint_every: int = 0,
        val_fraction: float = 0.2,
        refit: bool = False,
    ) -> TaskResult:
        """Evolve paths for task ``name`` on ``(x_train, y_train)``, then finish the winner.

        ``x``: float ``(B, C, S, S)`` in [0, 1] (uint8 is scaled by 1/255); ``y``: int class
        indices in ``[0, n_classes)``. Without ``x_val``/``y_val`` a stratified
        ``val_fraction`` of the training data is held out (deterministic in the seed and task
        name). ``engine``: a recipe's :class:`EngineSettings`. ``head_from``: a learnt task
        the new head starts from. ``progress(record)``: after every generation and finish
        evaluation (``record["stage"]``: ``"evolve"`` or ``"finish"``).
        ``checkpoint_path``: the PathNet is saved there every ``checkpoint_every``
        generations, after evolution and at the end; calling ``learn_task`` again on an
        ``evolving`` task with the same data resumes it to exactly the uninterrupted result.
        ``refit``: the finish is rerun on training + validation data for the steps the
        validation finish chose (:mod:`.strategies.refit`).
        """
        task = self.tasks.get(name)
        if evolution is not None:  # step budgets for this many images (budget_samples)
            evolution = evolution.for_data(len(x_train))
        n_classes, ev, engine = self._settings(name, task, n_classes, evolution, engine)
        if labels is not None and len(labels) != n_classes:
            raise ValueError(f"labels has {len(labels)} names for n_classes={n_classes}")
        val = None if x_val is None else (x_val, y_val)
        train = (x_train, y_train)
        data = prepare_data(self.config, self.seed, name, n_classes, train, val, val_fraction)
        if task is None:
            task = self._start_task(name, n_classes, labels, ev, engine, data, head_from)
        elif task.run.fingerprint != data.fingerprint:
            raise ValueError(f"task {name!r} is resuming with different data than it started with")
        save = partial(self._checkpoint, checkpoint_path)
        run = task.run
        if run.stage == "evolve":
            evolve(self, task, data, progress, save, checkpoint_every)
            run.stage = "finish"
            save()
        start = refit_start(self, name, run.best.genotype) if refit else None
        history = finish(self, task, data, progress, run.best.genotype, run.evolution_val)
        result = self._complete(task, data, history)
        if start is not None:
            self._refit(task, run, data, result, start)
        save()
        return result

    def _checkpoint(self, path: str | Path | None) -> None:
        if path is not None:
            self.save(path)

    def _refit(self, task: Task, run: Run, data: Any, result: TaskResult, start: Any) -> None:
        """Rerun the finish from the evolved weights on training + validation data for the
        steps the validation finish chose (:mod:`.strategies.refit`)."""
        steps = chosen_steps(result.finish_history, run.evolution_val, run.evolution)
        result.n_refit = refit_task(self, task.name, run, data, task.genotype, start, steps)
        result.refit_steps = steps

    def _settings(
        self,
        name: str,
        task: Task | None,
        n_classes: int | None,
        evolution: EvolutionConfig | None,
        engine: EngineSettings | None,
    ) -> tuple[int, EvolutionConfig, EngineSettings]:
        """The task's class count and settings; a resumed task keeps those it started with."""
        if task is None:
            return (
                check_n_classes(n_classes),
                evolution or EvolutionConfig(),
                engine or EngineSettings(),
            )
        task.require_learnable()
        n_classes = task.n_classes if n_classes is None else n_classes
        if n_classes != task.n_classes:
            raise ValueError(
                f"task {name!r} was started with n_classes={task.n_classes}, got {n_classes}"
            )
        for given, saved, what in (
            (evolution, task.run.evolution, "EvolutionConfig"),
            (engine, task.run.engine, "EngineSettings"),
        ):
            if given is not None and given != saved:
                raise ValueError(
                    f"task {name!r} is resuming with a different {what} than it started with"
                )
        return check_n_classes(n_classes), task.run.evolution, task.run.engine

    def _start_task(
        self,
        name: str,
        n_classes: int,
        labels: Sequence[str] | None,
        ev: EvolutionConfig,
        engine: EngineSettings,
        data: TaskData,
        head_from: str | None,
    ) -> Task:
        """A new evolving task: its head (fresh, or from ``head_from``) and population."""
        frozen_only_layers(self, ev)  # refuse a train_layers it cannot follow, first
        task = Task(name, n_classes, list(labels) if labels else None, TaskStatus.EVOLVING)
        self.net.add_head(name, n_classes, self.generator)
        cfg = self.config
        if cfg.frozen_statistics == "task" and cfg.backbone == "conv" and self.frozen.any():
            self.net.add_task_statistics(name, self.frozen)
        if head_from is not None:
            start_head_from(self, name, task.labels, head_from)
        self.head_opts[name] = HeadOptimizer(self.net.heads[name])
        task.run = Run(ev, engine, data.fingerprint, initial_population(self, ev))
        self.tasks[name] = task
        return task

    def _complete(self, task: Task, data: TaskData, history: list[dict[str, Any]]) -> TaskResult:
        """Record the finished task's result; the task becomes trained."""
        run, name = task.run, task.name
        geno = run.best.genotype
        final_acc, _ = evaluate_paths(
            self, name, geno, data.xv, data.yv, run.engine.eval_batch_size, data.val_cache
        )
        chance = float(torch.bincount(data.yv, minlength=task.n_classes).max()) / len(data.yv)
        evo_acc = run.evolution_val[0]
        task.result = TaskResult(
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
            finish_steps=history[-1]["step"] if history else 0,
            frozen_reused=self.frozen_reused(geno),
            n_train=len(data.x),
            n_val=len(data.xv),
            wall_time=run.wall,
            history=list(run.history),
            finish_history=history,
        )
        task.genotype = geno.copy()
        task.status = TaskStatus.TRAINED
        task.run = None
        return task.result

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
        restart_free_modules(self)
        self.head_opts[name].reset()
        t.status = TaskStatus.FROZEN

    def forget(self, name: str) -> None:
        """Drop a task that is not frozen (its head and run); its modules are left as they are."""
        self._task(name).require_forgettable()
        del self.tasks[name]
        del self.net.heads[name]
        del self.head_opts[name]
        self.net.drop_task_statistics(name)

    def predict_proba(self, name: str, x: Any, batch_size: int = EVAL_BATCH) -> np.ndarray:
        """Class probabilities ``(B, n_classes)`` (float32 numpy) of the task's best path."""
        t = self._usable(name)
        x = as_images(x, "x", self.config)
        if len(x) == 0:
            return np.zeros((0, t.n_classes), dtype=np.float32)
        return predict_proba(PathModule(self.net, t.genotype, name), x, batch_size)

    def predict(self, name: str, x: Any) -> np.ndarray:
        return self.predict_proba(name, x).argmax(1)

    def evaluate(self, name: str, x: Any, y: Any) -> dict[str, float]:
        """``{"accuracy", "loss", "n"}`` of the task's best path on ``(x, y)``."""
        t = self._usable(name)
        x = as_images(x, "x", self.config)
        y = as_labels(y, "y", len(x), t.n_classes)
        acc, loss = evaluate_paths(self, name, t.genotype, x, y, 512)
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
        config = PathNetConfig.from_dict(state["config"])
        pn = cls(config, seed=state["seed"])
        pn._set_frozen_owner(np.array(state["frozen_owner"], dtype=object))
        for entry in state["tasks"]:
            name = entry["name"]
            pn.net.add_head(name, entry["n_classes"], None)
            pn.head_opts[name] = HeadOptimizer(pn.net.heads[name])
            pn.head_opts[name].load_state_tensors(f"headopt.{name}", tensors)
            prefix = f"snap.{name}."
            snap = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            task = task_from_json(entry, snap)
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


__all__ = ["PathNet", "PathNetStateError", "TaskResult", "TaskStatus", "stratified_split"]
