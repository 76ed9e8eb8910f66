"""Preparation speed against bare decoding of the same frames, per face detector.

    python benchmarks/bench_prepare.py [--repeat 4] [--frames 16] [--trials 3] [--no-track]
        [--detectors haar yunet] [--align] [--hd] [--workers 2]

The GRID clips (``../shared/data/grid`` beside the checkout, else ``tests/media/grid``) are
linked ``--repeat`` times into a SAVEE-style layout. In this one process, one worker
(``executor="inline"``), it times side by side, in rotation, ``--trials`` times each:

- *decode*: ``video.read_frames`` of the sampled frames of every clip, nothing else;
- *prepare DETECTOR*: ``prepare_corpus`` into an empty cache (decode, face location with
  tracking, crops, shards, merge into the cache files), for each detector installed
  (``--align`` adds the aligned variant of detectors with landmarks, ``--no-track`` a
  full-frame search in every frame).

Each figure is CPU time (``time.process_time``: a busy, shared machine does not distort
it), the best of the trials, as ms per frame, frames per second and the ratio to decode
speed (the issue's target: >= 0.5x with the default detector). ``--hd`` first re-encodes
the clips at 1280x720 (MPEG-4, padded to 16:9), the size of RAVDESS, where decoding costs
more. ``--workers N`` also times decode and the default preparation on a local pool of N
processes (wall-clock frames per second: the pool's CPU is not this process').
``--stages`` splits the preparation CPU of the default detector (or the first of
``--detectors``; aligned with ``--align``) into its stages (decode, face location, crops,
shards, merge).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2

from pathfer.data.corpora import get_corpus
from pathfer.data.datasets import prepare_corpus
from pathfer.data.faces import DETECTORS, CropSettings
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


def cpu_decode(paths: list[str], sampling: FrameSampling) -> tuple[float, int]:
    """(CPU seconds, frames) of decoding in this process, one OpenCV thread."""
    t0 = time.process_time()
    frames = _decode_batch((paths, sampling))
    return time.process_time() - t0, frames


def cpu_prepare(scan, sampling: FrameSampling, crop: CropSettings, track: bool):
    cache = Path(tempfile.mkdtemp(prefix="pathfer-bench-cache-"))
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # as in a pool worker
    try:
        t0 = time.process_time()
        report = prepare_corpus(
            scan, cache, sampling, crop, executor="inline", progress=False, track=track
        )
        return time.process_time() - t0, report.n_frames
    finally:
        cv2.setNumThreads(threads)
        shutil.rmtree(cache, ignore_errors=True)


def stages(scan, sampling: FrameSampling, crop: CropSettings, trials: int) -> None:
    """CPU ms per frame of each stage of ``prepare_corpus`` (its functions, wrapped)."""
    import pathfer.data.datasets.pipeline as pipeline

    spent: collections.Counter = collections.Counter()
    names = ("decode_frames", "locate_faces", "clip_rolls", "crop_face", "write_shard")
    saved = {n: getattr(pipeline, n) for n in (*names, "merge_shards")}

    def timed_fn(name, fn):
        def run(*a, **k):
            t0 = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.process_time() - t0

        return run

    for n, fn in saved.items():
        setattr(pipeline, n, timed_fn(n, fn))
    try:
        frames = 0
        for _ in range(trials):
            sec, frames = cpu_prepare(scan, sampling, crop, True)
            spent["total"] += sec
    finally:
        for n, fn in saved.items():
            setattr(pipeline, n, fn)
    print(f"stages of prepare {crop.detector}{' aligned' if crop.align else ''}, CPU ms/frame:")
    for name, sec in spent.most_common():
        print(f"  {name:<16}{1000 * sec / trials / frames:>7.3f}")


def wall_pool(fn) -> tuple[float, int]:
    t0 = time.perf_counter()
    frames = fn()
    return time.perf_counter() - t0, frames


def variants(args) -> list[tuple[str, CropSettings, bool]]:
    names = args.detectors or [n for n in ("haar", "yunet") if _installed(n)]
    out = []
    for name in names:
        out.append((f"prepare {name}", CropSettings(detector=name), True))
        if args.align and DETECTORS.meta(name).get("landmarks"):
            out.append((f"prepare {name} aligned", CropSettings(detector=name, align=True), True))
        if args.no_track:
            out.append((f"prepare {name} no-track", CropSettings(detector=name), False))
    return out


def _installed(name: str) -> bool:
    try:
        DETECTORS.get(name)()
    except (ValueError, ImportError):
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=4, help="copies of each GRID clip")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--sampling", default="uniform", choices=["uniform", "every", "all"])
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--detectors", nargs="+", default=None, help="default: haar, yunet")
    ap.add_argument("--align", action="store_true", help="also time aligned crops")
    ap.add_argument("--no-track", action="store_true", help="also time without tracking")
    ap.add_argument("--hd", action="store_true", help="re-encode the clips at 1280x720 first")
    ap.add_argument("--workers", type=int, default=1, help="also time a pool of N (wall)")
    ap.add_argument("--stages", action="store_true", help="split preparation into stages")
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
            f"x {args.repeat}), sampling {sampling}, one worker, CPU time, best of "
            f"{args.trials}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
        )
        todo = variants(args)
        runs: dict[str, list[tuple[float, int]]] = {"decode": []}
        for name, _, _ in todo:
            runs[name] = []
        cpu_prepare(scan, sampling, todo[0][1], True)  # warm up: imports, first calls
        for _ in range(args.trials):  # in rotation, so slow phases of the machine hit all
            runs["decode"].append(cpu_decode(paths, sampling))
            for name, crop, track in todo:
                runs[name].append(cpu_prepare(scan, sampling, crop, track))
        best = {k: min(v) for k, v in runs.items()}
        dec_ms = 1000 * best["decode"][0] / best["decode"][1]
        print(f"{'what':<28}{'frames':>7}{'ms/frame':>10}{'cpu fps':>9}{'vs decode':>11}")
        for name, (sec, frames) in best.items():
            ms = 1000 * sec / frames
            print(f"{name:<28}{frames:>7}{ms:>10.2f}{1000 / ms:>9.1f}{dec_ms / ms:>10.2f}x")
        if args.stages:
            first = args.detectors[0] if args.detectors else None  # None: the default
            stages(scan, sampling, CropSettings(detector=first, align=args.align), args.trials)
        if args.workers > 1:
            batch = max(1, len(paths) // (args.workers * 4))
            jobs = [(i, (paths[i : i + batch], sampling)) for i in range(0, len(paths), batch)]
            pool = LocalExecutor(args.workers)
            sec, frames = wall_pool(lambda: sum(o.value for o in pool.run(_decode_batch, jobs)))
            print(f"decode, {args.workers} workers: {frames / sec:.1f} fps (wall)")
            crop = CropSettings()
            cache = Path(tempfile.mkdtemp(prefix="pathfer-bench-cache-"))
            try:
                sec, frames = wall_pool(
                    lambda: (
                        prepare_corpus(
                            scan, cache, sampling, crop, workers=args.workers, progress=False
                        ).n_frames
                    )
                )
            finally:
                shutil.rmtree(cache, ignore_errors=True)
            print(f"prepare {crop.detector}, {args.workers} workers: {frames / sec:.1f} fps (wall)")
        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
