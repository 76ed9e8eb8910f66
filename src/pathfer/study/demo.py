"""The built-in demo: synthetic corpora -> prepared datasets -> both experiments -> report.

Everything runs on generated data (no download), small enough for 2 CPU cores in a few
minutes, and goes through exactly the code paths a real study uses:

1. knowledge accumulation *within* a corpus: the synthetic eNTERFACE corpus cut into two
   disjoint subject groups (task A, then task B);
2. transfer *between* corpora: synthetic SAVEE -> synthetic eNTERFACE on their six shared
   emotions.

The default runs PathNet with and without transfer and the baselines it is compared with
(the plain CNN from scratch and fine-tuned from the source, the FER2013 mini-Xception
zero-shot and fine-tuned), all on the same folds; ``--full`` (:data:`FULL`) adds the rest
of the registry (feature extraction, the reference CNN from scratch and fine-tuned,
PathNet over the FER2013 modules); ``--quick`` (:data:`QUICK`) is a smoke test of
every method at the smallest scale.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathfer.data import synthetic
from pathfer.study.experiments.config import config_from_dict
from pathfer.study.experiments.provenance import JobsFailedError
from pathfer.study.report import ReportPaths, merge_reports
from pathfer.study.run import run_and_report

#: the default demo's methods: PathNet with and without transfer and the baselines it is
#: compared with (a CNN from scratch, the same CNN fine-tuned from the source, the FER2013
#: mini-Xception as it is and fine-tuned); --full adds the rest (pathnet_fer, the dearest,
#: reference_cnn / reference_finetune, feature_extraction). Costs: docs/experiments.md#the-demo
DEMO_METHODS = (
    "pathnet_transfer",
    "pathnet_target",
    "cnn_scratch",
    "finetune",
    "mini_xception_zeroshot",
    "mini_xception_finetune",
)


@dataclass(frozen=True)
class DemoScale:
    """Corpus sizes and budgets of the demo (measured in docs/experiments.md#the-demo).
    More subjects rather than more methods: the budgets fix the training cost, and test
    subjects are what keep the table's differences above the noise another CPU brings."""

    #: the methods run (None: every registered method)
    methods: tuple[str, ...] | None = DEMO_METHODS
    savee_clips: int = 3  # per emotion and speaker
    enterface_subjects: int = 16
    enterface_sentences: int = 2
    frames_generated: int = 12
    frames_sampled: int = 4
    folds: int = 2
    seeds: tuple[int, ...] = (0,)
    workers: int = 2
    #: the PathNet recipe: a short evolution and finish stage (the defaults are sized for
    #: real corpora)
    recipe: str = "demo"
    train_max_steps: int = 400
    #: one rate, the default's (a grid of two trained every network twice: the demo ran
    #: 9-11 min on 2 cores, against 7 with one)
    train_lrs: tuple[float, ...] = (1e-3,)


#: ``pathfer demo --full``: every registered method at the default scale
FULL = DemoScale(methods=None)

QUICK = DemoScale(
    methods=None,
    savee_clips=2,
    enterface_subjects=8,
    enterface_sentences=1,
    frames_generated=8,
    frames_sampled=3,
    folds=2,
    recipe="quick",
    train_max_steps=40,
    train_lrs=(3e-3,),
)


def make_corpora(
    out: Path, scale: DemoScale, log: Callable[[str], None] = print
) -> tuple[Path, Path]:
    """The demo's synthetic corpora under ``out/corpora``; a corpus made at another scale
    (an earlier ``--quick`` run in the same folder) is made again."""
    savee_root = out / "corpora" / "savee"
    ent_root = out / "corpora" / "enterface"
    savee = {"clips_per_emotion": scale.savee_clips, "frames": scale.frames_generated, "seed": 1}
    enterface = {
        "subjects": scale.enterface_subjects,
        "sentences": scale.enterface_sentences,
        "frames": scale.frames_generated,
        "seed": 2,
    }
    for name, root, make, kwargs in (
        ("SAVEE", savee_root, synthetic.make_savee, savee),
        ("eNTERFACE'05", ent_root, synthetic.make_enterface, enterface),
    ):
        done, wanted = root / ".complete", json.dumps(kwargs, sort_keys=True)
        if done.is_file() and done.read_text() == wanted:
            continue
        if root.exists():
            shutil.rmtree(root)
        log(f"generating synthetic {name} in {root}")
        make(root, **kwargs)
        done.write_text(wanted)
    return savee_root, ent_root


def demo_configs(out: Path, scale: DemoScale) -> list[dict[str, Any]]:
    savee_root, ent_root = out / "corpora" / "savee", out / "corpora" / "enterface"
    common: dict[str, Any] = {
        "cache": str(out / "cache"),
        "seeds": list(scale.seeds),
        "workers": scale.workers,
        "preparation": {"frames": scale.frames_sampled},
        "split": {"kind": "group_kfold", "k": scale.folds},
        # no refit, so the demo keeps its measured minutes and table (with refit a CNN trains
        # about twice); experiments on corpora refit by default (docs/tuning.md)
        "train": {"max_steps": scale.train_max_steps, "lrs": list(scale.train_lrs), "refit": False},
        "recipe": scale.recipe,
    }
    if scale.methods is not None:
        common["methods"] = list(scale.methods)
    return [
        {
            **common,
            "name": "demo_within_enterface",
            "kind": "within",
            "target": {"corpus": "enterface", "path": str(ent_root)},
        },
        {
            **common,
            "name": "demo_savee_to_enterface",
            "kind": "transfer",
            "sources": [{"corpus": "savee", "path": str(savee_root)}],
            "target": {"corpus": "enterface", "path": str(ent_root)},
        },
    ]


def run_demo(
    out: str | Path = "demo_output",
    scale: DemoScale | None = None,
    log: Callable[[str], None] = print,
) -> ReportPaths:
    out = Path(out)
    flag = {QUICK: " --quick", FULL: " --full"}.get(scale, "") if scale is not None else ""
    scale = scale or DemoScale()
    command = f"pathfer demo --out {out}{flag}"
    make_corpora(out, scale, log)
    runs, failed = [], []
    for raw in demo_configs(out, scale):
        cfg = config_from_dict(raw)
        log(f"== {cfg.name} ==")
        try:
            run_dir = run_and_report(cfg, out / "runs" / cfg.name, command=command, log=log)
        except JobsFailedError as exc:  # the other experiment and the report still run
            run_dir = exc.run_dir
            failed += [{**f, "job": f"{cfg.name}: {f['job']}"} for f in exc.failed]
        runs.append(run_dir)
    paths = merge_reports(runs, out / "report")
    log(f"demo report: {paths.report_html}\n             {paths.report_md}")
    if failed:
        raise JobsFailedError(out, failed)
    return paths
