"""Source models, trained once per seed and loaded by every fold of a transfer study."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from pathfer.models.nn import PlainCNN
from pathfer.models.pathnet import EvolutionConfig, PathNet
from pathfer.runtime.files import atomic_write_json
from pathfer.study.experiments.methods.base import (
    TaskData,
    accuracy_of,
    cnn_kwargs,
    pathnet_config,
    source_path,
    tuned_fit,
)


def train_sources(
    family: str,
    sources: list[TaskData],
    seed: int,
    pathnet: dict[str, Any],
    evolution: dict[str, Any],
    budget: Any,
    source_dir: Path,
) -> dict[str, Any]:
    """Train the source model of ``family`` (``pathnet`` or ``cnn``) on the sources in order."""
    torch.manual_seed(seed)
    out = source_path(source_dir, family, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    size = int(sources[0].fit.x.shape[-1])
    pn_cfg = pathnet_config(pathnet, size)
    t0 = time.perf_counter()
    info: dict[str, Any] = {"family": family, "seed": seed, "tasks": []}
    if family == "pathnet":
        pn = PathNet(pn_cfg, seed=seed)
        evo = EvolutionConfig.from_dict(evolution)
        for src in sources:
            res = pn.learn_task(
                src.name,
                src.fit.x,
                src.fit.y,
                len(src.labels),
                evolution=evo,
                x_val=src.val.x,
                y_val=src.val.y,
                labels=src.labels,
            )
            pn.freeze(src.name)
            info["tasks"].append(
                {
                    "name": src.name,
                    "labels": src.labels,
                    "test_acc": pn.evaluate(src.name, src.test.x, src.test.y)["accuracy"],
                    "generations": res.generations,
                    "val_acc": res.final_val_accuracy,
                }
            )
        pn.save(out.with_suffix(".safetensors"))
    elif family == "cnn":
        state = None
        for src in sources:

            def make(state=state, src=src) -> nn.Module:
                m = PlainCNN(len(src.labels), **cnn_kwargs(pn_cfg))
                if state is not None:  # fine-tune through a sequence of sources
                    body = {k: v for k, v in state.items() if not k.startswith("head.")}
                    m.load_state_dict(body, strict=False)
                return m

            model, fit_info = tuned_fit(make, src, budget, seed)
            state = model.state_dict()
            info["tasks"].append(
                {
                    "name": src.name,
                    "labels": src.labels,
                    "test_acc": accuracy_of(model, src.test),
                    "lr": fit_info["lr"],
                    "val_acc": fit_info["val_acc"],
                }
            )
        assert state is not None
        save_file(
            {k: v.contiguous() for k, v in state.items()}, str(out.with_suffix(".safetensors"))
        )
    else:
        raise ValueError(f"unknown source family {family!r}")
    info["train_time_s"] = time.perf_counter() - t0
    atomic_write_json(out.with_suffix(".json"), info, indent=1, sort_keys=False)
    return info
