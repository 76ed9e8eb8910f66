"""Preparation speed against bare decoding of the same frames, with 1 and 2 workers.

    python benchmarks/bench_prepare.py [--repeat 4] [--frames 16] [--sampling uniform]

The GRID clips (``../shared/data/grid`` beside the checkout, else ``tests/media/grid``) are linked
``--repeat`` times into a SAVEE-style layout. For 1 and 2 worker processes it times

- *decode*: ``video.read_frames`` of the sampled frames of every clip, nothing else,
  spread over the same process pool in the same batches;
- *prepare*: ``prepare_corpus`` into an empty cache (decode, face location, crops, shards,
  merge into the cache files);

and prints frames per second of wall time and of CPU time (this process and its workers:
a figure that shared, busy cores do not distort), prepare/decode ratios and the 2-worker
speed-up. Each figure is the best of ``--trials`` runs. ``--no-track`` also times
preparation with a full-frame search in every frame. ``--hd`` first re-encodes the clips
at 1280x720 (MPEG-4, padded to 16:9), the resolution of RAVDESS, where decoding costs more.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2

from pathfer.data.corpora import get_corpus
from pathfer.data.datasets import prepare_corpus
from pathfer.data.video import FrameSampling, read_frames
from pathfer.runtime import LocalExecutor

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def grid_clips() -> list[Path]:
    for d in (ROOT.parent / "shared" / "data" / "grid", ROOT / "tests" / "media" / "grid"):
        clips = sorted(d.glob("*.mpg"))
        if clips:
            return clips
    raise SystemExit("no GRID clips found (tests/media/grid/*.mpg)")


def hd_clips(clips: list[Path], folder: Path) -> list[Path]:
    """The clips padded to 16:9 and re-encoded at 1280x720 (MPEG-4), RAVDESS's format."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for clip in clips:
        dst = folder / f"{clip.stem}.mp4"
        cap = cv2.VideoCapture(str(clip))
        writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (1280, 720))
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            pad = (frame.shape[0] * 16 // 9 - frame.shape[1]) // 2
            frame = cv2.copyMakeBorder(frame, 0, 0, pad, pad, cv2.BORDER_REPLICATE)
            writer.write(cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR))
        cap.release()
        writer.release()
        out.append(dst)
    return out


def build_corpus(root: Path, clips: list[Path], repeat: int) -> Path:
    speakers = ("DC", "JE", "JK", "KL")
    codes = ("a", "d", "f", "h", "n", "sa", "su")
    i = 0
    for _ in range(repeat):
        for clip in clips:
            d = root / "AudioVisualClip" / speakers[i % 4]
            d.mkdir(parents=True, exist_ok=True)
            os.symlink(clip, d / f"{codes[i % 7]}{i + 1}{clip.suffix}")
            i += 1
    return root


def _decode_batch(job: tuple[list[str], FrameSampling]) -> int:
    paths, sampling = job
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return sum(len(read_frames(p, sampling)) for p in paths)
    finally:
        cv2.setNumThreads(threads)


def _cpu() -> float:
    t = os.times()  # this process + reaped children (the pool's workers)
    return t.user + t.system + t.children_user + t.children_system


def timed(fn) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, frames) of ``fn() -> frames``."""
    w0, c0 = time.perf_counter(), _cpu()
    frames = fn()
    return time.perf_counter() - w0, _cpu() - c0, frames


def time_decode(paths: list[str], sampling: FrameSampling, workers: int):
    batch = 1 if workers == 1 else max(1, min(8, math.ceil(len(paths) / (workers * 4))))
    jobs = [(i, (paths[i : i + batch], sampling)) for i in range(0, len(paths), batch)]
    return timed(lambda: sum(o.value for o in LocalExecutor(workers).run(_decode_batch, jobs)))


def time_prepare(scan, sampling: FrameSampling, workers: int, track: bool):
    cache = Path(tempfile.mkdtemp(prefix="pathfer-bench-cache-"))
    try:
        return timed(
            lambda: (
                prepare_corpus(
                    scan, cache, sampling, workers=workers, progress=False, track=track
                ).n_frames
            )
        )
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def best(fn, trials: int) -> tuple[float, float, int]:
    runs = [fn() for _ in range(trials)]
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[0][2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=4, help="copies of each GRID clip")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--sampling", default="uniform", choices=["uniform", "every", "all"])
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--no-track", action="store_true", help="also time without tracking")
    ap.add_argument("--hd", action="store_true", help="re-encode the clips at 1280x720 first")
    args = ap.parse_args()

    sampling = FrameSampling(args.sampling, n=args.frames, k=args.every)
    clips = grid_clips()
    tmp = Path(tempfile.mkdtemp(prefix="pathfer-bench-"))
    try:
        if args.hd:
            clips = hd_clips(clips, tmp / "hd")
        scan = get_corpus("savee").scan(build_corpus(tmp / "corpus", clips, args.repeat))
        paths = [str(c.path) for c in scan.clips]
        print(
            f"{len(paths)} clips ({len(clips)} GRID clips{' at 1280x720' if args.hd else ''} "
            f"x {args.repeat}), sampling "
            f"{sampling}, {os.cpu_count()} CPUs"
        )
        rows = {}
        variants = [("prepare", True)] + ([("prepare-notrack", False)] if args.no_track else [])
        for workers in (1, 2):
            rows[("decode", workers)] = best(
                lambda w=workers: time_decode(paths, sampling, w), args.trials
            )
            for name, track in variants:
                rows[(name, workers)] = best(
                    lambda w=workers, t=track: time_prepare(scan, sampling, w, t), args.trials
                )
        head = f"{'what':<16}{'workers':>8}{'wall s':>8}{'cpu s':>8}{'frames':>8}"
        print(f"{head}{'fps':>9}{'cpu fps':>9}")
        fps, cpu_fps = {}, {}
        for (name, workers), (sec, cpu, frames) in rows.items():
            fps[(name, workers)] = frames / sec
            cpu_fps[(name, workers)] = frames / cpu
            print(
                f"{name:<16}{workers:>8}{sec:>8.2f}{cpu:>8.2f}{frames:>8}"
                f"{frames / sec:>9.1f}{frames / cpu:>9.1f}"
            )
        for name, _ in variants:
            for w in (1, 2):
                ratio = fps[(name, w)] / fps[("decode", w)]
                cpu_ratio = cpu_fps[(name, w)] / cpu_fps[("decode", w)]
                print(
                    f"{name}/decode, {w} worker(s): {ratio:.2f} (wall fps), "
                    f"{cpu_ratio:.2f} (cpu fps)"
                )
        for name in ["decode"] + [n for n, _ in variants]:
            print(f"{name} speed-up 2 vs 1 workers (wall): {fps[(name, 2)] / fps[(name, 1)]:.2f}x")
        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
