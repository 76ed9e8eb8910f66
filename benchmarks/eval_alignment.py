"""Does eye alignment help? Zero-shot accuracy of the shipped FER2013 mini-Xception on a
labelled corpus of photos (or clips), prepared with and without alignment, per detector.

    python benchmarks/eval_alignment.py my_photos.yaml [--per-label 300] [--seed 0]

The corpus is any ``pathfer prepare`` target (a YAML spec, e.g. with ``labels_file``),
restricted to the bundle's seven FER2013 classes; at most ``--per-label`` items per class
are drawn with ``--seed`` (the rare classes keep all theirs). For each detector and
alignment setting the items are prepared with the bundle's own crop size, margin and
equalisation, classified (largest face, one frame per still image; the clip's frames
averaged for a video) and scored: accuracy and the mean of per-class recalls (the set is
unbalanced). Items whose face was not found count as wrong. ``--tilted DEG`` repeats the
scores on the items whose face (YuNet, first frame) is rolled by at least DEG degrees,
where alignment should matter most. Nothing is written but the cache (``--cache``, a
temporary folder by default).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from pathfer.data.corpora import scan_target
from pathfer.data.datasets import FaceDataset, prepare_corpus
from pathfer.data.faces import (
    DETECTORS,
    CropSettings,
    face_roll,
    get_detector,
    largest,
    yunet_available,
)
from pathfer.data.video import FrameSampling, read_frames
from pathfer.study.report.metrics import uar
from pathfer.use.bundle import default_bundle_path
from pathfer.use.predict import Recognizer


def sample(scan, labels: list[str], per_label: int, seed: int):
    rng = np.random.default_rng(seed)
    keep = []
    for label in labels:
        clips = [c for c in scan.clips if c.label == label]
        idx = rng.permutation(len(clips))[:per_label]
        keep += [clips[i] for i in sorted(idx)]
    return replace(scan, clips=sorted(keep, key=lambda c: c.clip_id), problems=[])


def tilted(scan, degrees: float):
    """The items whose largest face (YuNet, first sampled frame) rolls >= ``degrees``."""
    det = get_detector("yunet")
    keep = []
    for clip in scan.clips:
        roll = face_roll(largest(det.detect(read_frames(clip.path, FrameSampling(n=1))[0][1])))
        if roll is not None and abs(roll) >= degrees:
            keep.append(clip)
    return replace(scan, clips=keep)


def evaluate(scan, rec: Recognizer, crop: CropSettings, cache: Path, frames: int) -> dict:
    report = prepare_corpus(
        scan, cache, FrameSampling(n=frames), crop, executor="inline", progress=False
    )
    ds = FaceDataset.load(report.path)
    probs = rec.classify(np.array(ds.crops))  # a writable copy of the memory map
    by_clip: dict[str, list[np.ndarray]] = {}
    for cid, p in zip(ds.clip_ids, probs, strict=True):
        by_clip.setdefault(cid, []).append(p)
    index = {lab: i for i, lab in enumerate(rec.labels)}
    truth, pred = [], []
    for clip in scan.clips:
        truth.append(index[clip.label])
        got = by_clip.get(clip.clip_id)
        no_face = len(rec.labels)  # an extra class: always wrong
        pred.append(int(np.mean(got, axis=0).argmax()) if got else no_face)
    truth_a, pred_a = np.array(truth), np.array(pred)
    return {
        "items": len(truth),
        "face": float(np.mean(pred_a < len(rec.labels))),
        "accuracy": float(np.mean(truth_a == pred_a)),
        "mean_recall": uar(truth_a, pred_a, len(rec.labels) + 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", help="a YAML corpus spec (or corpus name with --root)")
    ap.add_argument("--root", default=None)
    ap.add_argument("--per-label", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frames", type=int, default=4, help="frames per video clip")
    ap.add_argument("--detectors", nargs="+", default=None, help="default: yunet (if any), haar")
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--tilted", type=float, default=None, help="also score faces rolled >= DEG")
    args = ap.parse_args()

    rec = Recognizer.from_bundle(default_bundle_path())
    scan = scan_target(args.target, args.root)
    labels = [x for x in rec.labels if x in scan.labels]
    scan = sample(scan.restrict(labels), labels, args.per_label, args.seed)
    counts = {lab: sum(c.label == lab for c in scan.clips) for lab in labels}
    print(f"{scan.name}: {len(scan.clips)} items {counts}, bundle crop {rec.crop}")
    detectors = args.detectors or (["yunet"] if yunet_available() else []) + ["haar"]
    cache = args.cache or Path(tempfile.mkdtemp(prefix="pathfer-align-"))
    subsets = [("all", scan)]
    if args.tilted is not None:
        subsets.append((f"roll>={args.tilted:g}", tilted(scan, args.tilted)))
    try:
        head = f"{'items':<12}{'detector':<10}{'align':<7}{'n':>6}{'face':>7}"
        print(f"{head}{'accuracy':>10}{'mean recall':>13}")
        for subset, part in subsets:
            for name in detectors:
                landmarks = DETECTORS.meta(name).get("landmarks", False)
                for align in (False, True) if landmarks else (False,):
                    crop = CropSettings(
                        size=rec.crop.size,
                        margin=rec.crop.margin,
                        equalize=rec.crop.equalize,
                        detector=name,
                        align=align,
                    )
                    r = evaluate(part, rec, crop, cache, args.frames)
                    print(
                        f"{subset:<12}{name:<10}{str(align):<7}{r['items']:>6}{r['face']:>7.3f}"
                        f"{r['accuracy']:>10.3f}{r['mean_recall']:>13.3f}",
                        flush=True,
                    )
    finally:
        if args.cache is None:
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
