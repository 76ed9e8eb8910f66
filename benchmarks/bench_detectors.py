"""Face rate and CPU time per frame of each face detector, whole frames and tracked.

    python benchmarks/bench_detectors.py [--photos DIR_OR_GLOB ...] [--limit 500] [--seed 0]

On every frame of the GRID clips (``../shared/data/grid`` beside the checkout, else
``tests/media/grid``; 360x288), and on photos if given (a seeded sample of ``--limit``
images), it reports per registered detector that is installed: the share of frames (or
photos) with at least one face, and CPU ms per call (``time.process_time``, one OpenCV
thread) on the whole frame and, for video, with :class:`~pathfer.data.faces.TrackingDetector`
(its registered window and full-search sizes). ``none`` (the whole image) is left out.
"""

from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

import cv2
import numpy as np

from pathfer.data.faces import DETECTORS, get_detector, video_detector
from pathfer.data.video import iter_frames

ROOT = Path(__file__).resolve().parent.parent


def grid_clips() -> list[Path]:
    for d in (ROOT.parent / "shared" / "data" / "grid", ROOT / "tests" / "media" / "grid"):
        clips = sorted(d.glob("*.mpg"))
        if clips:
            return clips
    raise SystemExit("no GRID clips found (tests/media/grid/*.mpg)")


def photos(patterns: list[str], limit: int, seed: int) -> list[Path]:
    files: list[Path] = []
    for pat in patterns:
        p = Path(pat)
        found = sorted(p.rglob("*")) if p.is_dir() else sorted(Path(f) for f in glob.glob(pat))
        files += [f for f in found if f.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp"}]
    idx = np.random.default_rng(seed).permutation(len(files))[:limit]
    return [files[i] for i in sorted(idx)]


def timed_rate(detector, images, reset=None) -> tuple[float, float]:
    """(face rate, CPU ms per image) over ``images`` (lists of frames: one clip each)."""
    found = n = 0
    t0 = time.process_time()
    for clip in images:
        if reset is not None:
            reset()
        for image in clip:
            found += bool(detector.detect(image))
            n += 1
    return found / n, 1000 * (time.process_time() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", nargs="*", default=[], help="folders or globs of photos")
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cv2.setNumThreads(1)

    clips = [[f for _, _, f in iter_frames(c)] for c in grid_clips()]
    sets = {"GRID": clips}
    if args.photos:
        images = [cv2.imread(str(p)) for p in photos(args.photos, args.limit, args.seed)]
        sets["photos"] = [[im] for im in images if im is not None]
    print(", ".join(f"{k}: {sum(map(len, v))} images" for k, v in sets.items()))
    print(f"{'detector':<10}{'set':<8}{'face rate':>10}{'ms whole':>10}{'ms tracked':>12}")
    for name in DETECTORS.list():
        if name == "none":
            continue
        try:
            det = get_detector(name)
        except ValueError as exc:  # not installed here
            print(f"{name:<10}skipped: {exc}")
            continue
        det.detect(clips[0][0])  # warm up
        for set_name, images in sets.items():
            rate, ms = timed_rate(det, images)
            tracked = ""
            if set_name == "GRID" and DETECTORS.meta(name).get("trackable", True):
                tracker = video_detector(name)
                t_rate, t_ms = timed_rate(tracker, images, tracker.reset)
                tracked = f"{t_ms:>12.2f}" + (f" (rate {t_rate:.3f})" if t_rate != rate else "")
            print(f"{name:<10}{set_name:<8}{rate:>10.3f}{ms:>10.2f}{tracked}")


if __name__ == "__main__":
    main()
