"""PathNet over the pretrained FER2013 modules: the shipped mini-Xception's stages are the
frozen path of a task ``fer2013``; the target's paths evolve through them and through
trainable modules beside them (started as copies). Needs no source corpus: the source is
FER2013, learnt once by the shipped model."""

from __future__ import annotations

import time

import numpy as np
import torch

from pathfer.data import emotions
from pathfer.models.pathnet import EvolutionConfig
from pathfer.models.pathnet.pretrained import PRETRAINED_TASK, cap_evolution, from_mini_xception
from pathfer.models.pathnet.recipes import get_recipe
from pathfer.study.experiments.methods.base import (
    FER2013_CROP,
    FoldData,
    MethodOutput,
    register_method,
)
from pathfer.study.experiments.methods.pathnet import task_extra


@register_method("pathnet_fer", cost=8, crop=FER2013_CROP)
def pathnet_fer(d: FoldData) -> MethodOutput:
    """PathNet whose frozen modules are the FER2013 mini-Xception's stages (forgets 0)."""
    from pathfer.use.bundle import default_bundle_path, load_bundle

    t0 = time.perf_counter()
    bundle = load_bundle(default_bundle_path())
    fer_labels = [emotions.canonical(x) for x in bundle.labels]
    torch.manual_seed(d.seed)
    pn = from_mini_xception(bundle.model, fer_labels, seed=d.seed)
    t = d.target
    before = pn.predict_proba(PRETRAINED_TASK, t.test.x)
    recipe = get_recipe("fer2013")
    res = pn.learn_task(
        "target",
        t.fit.x,
        t.fit.y,
        len(t.labels),
        evolution=cap_evolution(recipe.evolution_config(), EvolutionConfig.from_dict(d.evolution)),
        engine=recipe.engine_settings(),
        x_val=t.val.x,
        y_val=t.val.y,
        labels=t.labels,
        head_from=PRETRAINED_TASK,
        refit=d.train.refit,
    )
    extra = {
        **task_extra(res),
        # the FER2013 task's predictions on the same images, before and after: unchanged
        "fer2013_unchanged": bool(
            np.array_equal(before, pn.predict_proba(PRETRAINED_TASK, t.test.x))
        ),
    }
    proba = pn.predict_proba("target", t.test.x)
    return MethodOutput(proba, time.perf_counter() - t0, extra, pn.task_model("target"))
