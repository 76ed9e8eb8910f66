#!/usr/bin/env python
"""One model that keeps learning (issue 34): its size against separate models, and its speed
in ``predict`` against a single-task bundle.

    PATHFER_THREADS=1 nice -n 10 python benchmarks/bench_multitask.py DEVFACES --out DIR

``DEVFACES`` holds ``CK+48/`` (see ``benchmarks/bench_real.py``; never copied: a YAML
corpus spec pointing at it is written under ``DIR``). The script

(a) learns two tasks onto ``builtin`` (the shipped FER2013 mini-Xception, task
    ``fer2013``) with ``pathfer learn``'s code: ``ck`` and ``ck2`` (CK+48, seeds 0 and 1;
    recipe ``--recipe``, default ``fer2013``), and prints the size of the 3-task model file
    against 3 separate models of the same shape: each task's path as its own bundle
    (``save_bundle`` of ``task_model``), as a ratio (goal <= 0.6);
(b) times ``predict`` on a GRID clip with ``Recognizer.from_model(MODEL, task=...)``
    against ``Recognizer.from_bundle`` of the same task (``fer2013``: the shipped bundle;
    ``ck``: its bundle from (a)), alternating, median of ``--reps`` (goal: within 10 %).

Learning CPU time against fine-tuning the mini-Xception, and the bytes a user keeps
against separate fine-tuned networks, are measured side by side by the chain study
(``kind: chain``, docs/continual.md): ``pathfer experiment run
configs/chain_fer_ck48_photos.yaml``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import yaml

from pathfer.data.emotions import canonical
from pathfer.models.architectures import architecture_name
from pathfer.study.learn import learn_data
from pathfer.use.bundle import default_bundle_path, save_bundle
from pathfer.use.learn import learn_onto
from pathfer.use.model_file import load_model
from pathfer.use.predict import Recognizer

ROOT = Path(__file__).resolve().parents[1]
GRID = ROOT / "tests" / "media" / "grid"


def ck_spec(devfaces: Path, out: Path) -> Path:
    spec = {
        "name": "ck48",
        "root": str((devfaces / "CK+48").resolve()),
        "glob": "*/*.png",
        "label": {"from": "parent"},
        "regex": r"(?P<subject>S\d+)_\d+_\d+\.png$",
        "labels": {"happy": "happiness"},
        "detector": "none",
    }
    path = out / "ck48.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def learn_chain(spec: Path, out: Path, recipe: str) -> tuple[Path, dict[str, float]]:
    """builtin -> ck -> ck2; the model files and the learning times."""
    times, onto = {}, "builtin"
    for seed, name in ((0, "ck"), (1, "ck2")):
        model = load_model(onto, seed=seed)
        data, _ = learn_data([str(spec)], model, cache=str(out / "cache"), seed=seed, log=print)
        dst = out / f"model_{name}.safetensors"
        t0 = time.process_time()
        learn_onto(model, name, data, dst, recipe=recipe, work_key=f"{spec} {seed}")
        times[name] = time.process_time() - t0
        print(f"learnt {name}: {times[name]:.0f} s CPU -> {dst}")
        onto = dst
    return Path(onto), times


def sizes(model_path: Path, out: Path) -> dict[str, object]:
    """The K-task file against one bundle per task (the task's path, same shape)."""
    m = load_model(model_path)
    separate = {}
    for name in m.names:
        net = m.task_model(name)
        dst = out / f"separate_{name}.safetensors"
        save_bundle(
            net,
            dst,
            architecture=architecture_name(net),
            arch_kwargs=net.arch_kwargs(),
            labels=[canonical(x) for x in m.labels(name)],
            crop=m.crop(name),
        )
        separate[name] = dst.stat().st_size
    total = model_path.stat().st_size
    return {
        "tasks": m.names,
        "model_bytes": total,
        "separate_bytes": separate,
        "ratio": total / sum(separate.values()),
        "trained": {n: m.modules_of(n)[0] for n in m.names},
        "reused": {n: m.modules_of(n)[1] for n in m.names},
    }


def fps(rec: Recognizer, clip: Path) -> float:
    t0 = time.perf_counter()
    rows = rec.predict(str(clip))
    return len(rows) / (time.perf_counter() - t0)


def speed(model_path: Path, out: Path, reps: int) -> dict[str, dict[str, float]]:
    clip = sorted(GRID.glob("*.mpg"))[0]
    pairs = {
        "fer2013": (
            Recognizer.from_model(model_path, task="fer2013"),
            Recognizer.from_bundle(default_bundle_path()),
        ),
        "ck": (
            Recognizer.from_model(model_path, task="ck"),
            Recognizer.from_bundle(out / "separate_ck.safetensors"),
        ),
    }
    result = {}
    for task, (multi, single) in pairs.items():
        fps(multi, clip), fps(single, clip)  # warm-up
        a, b = [], []
        for _ in range(reps):
            a.append(fps(multi, clip))
            b.append(fps(single, clip))
        result[task] = {
            "model_fps": statistics.median(a),
            "bundle_fps": statistics.median(b),
            "ratio": statistics.median(a) / statistics.median(b),
        }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("devfaces", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--recipe", default="fer2013")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model_path, times = learn_chain(ck_spec(args.devfaces, args.out), args.out, args.recipe)
    report = {"recipe": args.recipe, "learn_cpu_s": times, "size": sizes(model_path, args.out)}
    report["speed"] = speed(model_path, args.out, args.reps)
    s = report["size"]
    print(
        f"(a) size: {s['model_bytes']} B for {len(s['tasks'])} tasks vs "
        f"{sum(s['separate_bytes'].values())} B separate: ratio {s['ratio']:.2f} (goal <= 0.6)"
    )
    for task, r in report["speed"].items():
        print(
            f"(b) predict --task {task}: {r['model_fps']:.1f} fps vs bundle "
            f"{r['bundle_fps']:.1f} fps: {r['ratio']:.2f}x (goal >= 0.9)"
        )
    (args.out / "bench_multitask.json").write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
