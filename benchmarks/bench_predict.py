#!/usr/bin/env python
"""End-to-end speed of ``pathfer predict`` on the GRID clips, split by stage.

For each repetition the script runs, in alternating order (interleaved, so drifts in
machine load hit both alike):

- **decode only**: :func:`pathfer.data.video.iter_frames` over every clip, nothing else;
- **predict**: :meth:`Recognizer.predict_video` over every clip, with the time spent
  pulling frames (decode), in the face detector (detect) and in the classifier
  (classify: batching, the model call and softmax) measured inside the same run; the
  rest (grey conversion, cropping, building the DataFrame) is "other".

It prints per-frame milliseconds (median over repetitions), frames per second, and the
classifier's time relative to decode + detect (the goal is under 20%).

Usage::

    python benchmarks/bench_predict.py [--clips DIR] [--reps 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from pathfer.data.video import iter_frames
from pathfer.use.predict import Recognizer

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = [ROOT.parent / "shared" / "data" / "grid", ROOT / "tests" / "media" / "grid"]


class Timer:
    def __init__(self) -> None:
        self.s = 0.0

    def wrap(self, fn):
        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.s += time.perf_counter() - t

        return timed


def decode_only(clips: list[Path], every: int) -> tuple[float, int]:
    t = time.perf_counter()
    n = 0
    for clip in clips:
        for _ in iter_frames(clip, every=every):
            n += 1
    return time.perf_counter() - t, n


def predict_run(rec: Recognizer, clips: list[Path], every: int, batch: int) -> dict[str, float]:
    import pathfer.use.predict as pred

    dec, det, cls = Timer(), Timer(), Timer()
    real_iter, real_detect, real_classify = pred.iter_frames, rec.detector.detect, rec.classify

    def timed_iter(*a, **k):
        it = real_iter(*a, **k)
        while True:
            t = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                dec.s += time.perf_counter() - t
                return
            dec.s += time.perf_counter() - t
            yield item

    pred.iter_frames = timed_iter
    rec.detector.detect = det.wrap(real_detect)
    rec.classify = cls.wrap(real_classify)
    try:
        t = time.perf_counter()
        n = 0
        for clip in clips:
            n += len(rec.predict_video(clip, every=every, batch_size=batch))
        total = time.perf_counter() - t
    finally:
        pred.iter_frames = real_iter
        rec.detector.detect = real_detect
        del rec.classify  # back to the bound method
    return {"total": total, "decode": dec.s, "detect": det.s, "classify": cls.s, "frames": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clips", type=Path, default=None, help="folder of .mpg clips")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument(
        "--threads", type=int, default=1, help="classifier torch threads (0: torch's default)"
    )
    ap.add_argument("--model", type=Path, default=None, help="bundle (default: built-in)")
    args = ap.parse_args()

    folder = args.clips or next(d for d in CANDIDATES if list(d.glob("*.mpg")))
    clips = sorted(folder.glob("*.mpg"))
    rec = Recognizer.from_bundle(args.model, threads=args.threads or None)
    predict_run(rec, clips[:1], 10, args.batch_size)  # warm up (model, cascade, codecs)

    dec_only, runs = [], []
    for rep in range(args.reps):
        order = ("decode", "predict") if rep % 2 == 0 else ("predict", "decode")
        for what in order:
            if what == "decode":
                dec_only.append(decode_only(clips, args.every))
            else:
                runs.append(predict_run(rec, clips, args.every, args.batch_size))

    n = runs[0]["frames"]
    med = {
        k: statistics.median(r[k] for r in runs) for k in ("total", "decode", "detect", "classify")
    }
    med["other"] = statistics.median(
        r["total"] - r["decode"] - r["detect"] - r["classify"] for r in runs
    )
    d_only = statistics.median(t for t, _ in dec_only)
    ms = {k: 1000 * v / n for k, v in med.items()}
    print(f"clips: {len(clips)} from {folder} ({n} frames analysed, every={args.every})")
    print(
        f"classifier threads: {rec.threads or torch.get_num_threads()}, "
        f"batch size {args.batch_size}, "
        f"model {rec.meta.get('architecture')} on {rec.crop.size}px crops, reps {args.reps}"
    )
    print(f"decode only      : {1000 * d_only / n:7.2f} ms/frame  {n / d_only:8.1f} fps")
    print(f"predict (total)  : {ms['total']:7.2f} ms/frame  {n / med['total']:8.1f} fps")
    for k in ("decode", "detect", "classify", "other"):
        print(f"  {k:<15}: {ms[k]:7.2f} ms/frame  {100 * med[k] / med['total']:5.1f}%")
    ratio = med["classify"] / (med["decode"] + med["detect"])
    verdict = "OK" if ratio < 0.2 else "over the 20% goal"
    print(f"classifier time / (decode + detect) = {100 * ratio:.1f}%  ({verdict})")
    print(f"predict vs decode-only: {med['total'] / d_only:.1f}x the time")


if __name__ == "__main__":
    main()
