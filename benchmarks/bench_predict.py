#!/usr/bin/env python
"""Speed of ``predict`` on 640x360 and 1280x720 video made from the GRID clips.

The GRID clips (360x288 MPEG-1) are scaled to 360 and 720 pixels high and padded at the
sides (border replicated, so no second face appears) to 640x360 and 1280x720, written as
H.264 ``.mp4`` in a temporary folder. For each size the script runs, in one process and in
alternating order (so drifts in machine load hit every variant alike):

- **decode only**: :func:`pathfer.data.video.iter_frames` over every clip;
- **predict, full-frame search** (``track=False``: the cascade on every whole frame, what
  predict did before it tracked faces) and **predict, tracked** (the default: near the
  previous face, a frame scaled to 240 px when lost), each with ``workers`` 1 and 2
  (``workers=2`` reads two files at once in worker processes; its time includes starting
  them).

It prints frames per second (median over repetitions) and the tracked/full speed-up.

Usage::

    python benchmarks/bench_predict.py [--clips 4] [--frames 75] [--reps 2] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2

from pathfer.data.video import VideoSink, iter_frames
from pathfer.use.predict import Recognizer

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = [ROOT.parent / "shared" / "data" / "grid", ROOT / "tests" / "media" / "grid"]


def make_clip(src: Path, dst: Path, width: int, height: int, frames: int) -> Path:
    """``src`` scaled to ``height`` and padded to ``width`` (replicated border), H.264."""
    with VideoSink(dst, 25.0) as sink:
        for i, _, f in iter_frames(src):
            if i >= frames:
                break
            scale = height / f.shape[0]
            f = cv2.resize(f, (round(f.shape[1] * scale), height), interpolation=cv2.INTER_CUBIC)
            pad = width - f.shape[1]
            f = cv2.copyMakeBorder(f, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_REPLICATE)
            sink.write(f)
    return dst


def decode_only(clips: list[Path]) -> tuple[float, int]:
    t = time.perf_counter()
    n = sum(1 for c in clips for _ in iter_frames(c))
    return time.perf_counter() - t, n


def predict_run(rec: Recognizer, clips: list[Path], workers: int) -> tuple[float, int, float]:
    t = time.perf_counter()
    df = rec.predict([str(c) for c in clips], workers=workers)
    return time.perf_counter() - t, len(df), float(df["face"].mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--grid", type=Path, default=None, help="folder of GRID .mpg clips")
    ap.add_argument("--clips", type=int, default=4, help="clips per size")
    ap.add_argument("--frames", type=int, default=75, help="frames per clip")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--sizes", default="640x360,1280x720")
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()

    folder = args.grid or next(d for d in CANDIDATES if list(d.glob("*.mpg")))
    sources = sorted(folder.glob("*.mpg"))[: args.clips]
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    recs = {"full": Recognizer.from_bundle(track=False), "tracked": Recognizer.from_bundle()}
    print(f"{len(sources)} GRID clips from {folder}, {args.frames} frames each, reps {args.reps}")
    print("size       variant         workers   fps    (faces found)")
    with tempfile.TemporaryDirectory(prefix="pathfer-bench-") as tmp:
        for w, h in sizes:
            clips = [
                make_clip(s, Path(tmp) / f"{s.stem}-{w}x{h}.mp4", w, h, args.frames)
                for s in sources
            ]
            for rec in recs.values():
                rec.predict(str(clips[0]), every=25)  # warm up (model, cascade, codec)
            variants = [("decode only", None, 1)] + [
                (name, rec, n) for name, rec in recs.items() for n in worker_counts
            ]
            times: dict[tuple[str, int], list[float]] = {(v, n): [] for v, _, n in variants}
            frames: dict[tuple[str, int], tuple[int, float]] = {}
            for rep in range(args.reps):
                order = variants if rep % 2 == 0 else variants[::-1]
                for name, rec, n in order:
                    if rec is None:
                        s, count = decode_only(clips)
                        rate = 1.0
                    else:
                        s, count, rate = predict_run(rec, clips, n)
                    times[(name, n)].append(s)
                    frames[(name, n)] = (count, rate)
            fps = {k: frames[k][0] / statistics.median(v) for k, v in times.items()}
            for (name, n), value in fps.items():
                label = "" if name == "decode only" else f"{n:>4}"
                faces = "" if name == "decode only" else f"({frames[(name, n)][1]:.0%})"
                print(f"{w}x{h:<6} {name:<15} {label:>4}   {value:7.1f}  {faces}")
            for n in worker_counts:
                ratio = fps[("tracked", n)] / fps[("full", n)]
                print(f"{w}x{h:<6} tracked / full-frame search, workers {n}: {ratio:.1f}x the fps")


if __name__ == "__main__":
    main()
