"""Face rate and CPU time per frame of each face detector, whole frames and tracked.

    python benchmarks/bench_detectors.py [--photos DIR_OR_GLOB ...] [--limit 500] [--seed 0]

On every frame of the GRID clips (``../shared/data/grid`` beside the checkout, else
``tests/media/grid``; 360x288), and on photos if given (a seeded sample of ``--limit``
images), it reports per registered detector that is installed: the share of frames (or
photos) with at least one face, and CPU ms per call (``time.process_time``, one OpenCV
thread) on the whole frame and, for video, with :class:`~pathfer.data.faces.TrackingDetector`
(its registered window and full-search sizes). ``none`` (the whole image) is left out.
Then the CPU cost of one call on a face window scaled to 32, 48, 64, 96 and 128 px. Last,
for detectors with landmarks, how well the eye line's angle follows a turn: two frames of
each GRID clip turned by -20, -10, 10 and 20 degrees about the face, the angle read once
(``face_roll``) and measured again on the turned-back window (``refine_roll``), against
the upright frame's angle minus the turn.
"""

from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

import cv2
import numpy as np

from pathfer.data.faces import (
    DETECTORS,
    face_roll,
    get_detector,
    largest,
    refine_roll,
    video_detector,
)
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


def timed_rate(detector, images, reset=None) -> tuple[float, float, list]:
    """(face rate, CPU ms per image, largest face per image) over ``images`` (lists of
    frames: one clip each)."""
    found = []
    t0 = time.process_time()
    for clip in images:
        if reset is not None:
            reset()
        for image in clip:
            found.append(largest(detector.detect(image)))
    ms = 1000 * (time.process_time() - t0) / len(found)
    return sum(f is not None for f in found) / len(found), ms, found


def agreement(a: list, b: list) -> str:
    """Mean IoU of two detectors' boxes on the same images (and landmark distance)."""
    ious, marks = [], []
    for fa, fb in zip(a, b, strict=True):
        if fa is None or fb is None:
            continue
        (ax, ay, aw, ah), (bx, by, bw, bh) = fa.box, fb.box
        ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
        iy = max(0, min(ay + ah, by + bh) - max(ay, by))
        ious.append(ix * iy / (aw * ah + bw * bh - ix * iy))
        if fa.landmarks is not None and fb.landmarks is not None:
            iod = float(np.linalg.norm(fa.landmarks[1] - fa.landmarks[0]))
            marks.append(float(np.abs(fa.landmarks - fb.landmarks).max()) / iod)
    text = f"IoU {np.mean(ious):.2f}"
    return text + (f", landmarks {np.mean(marks):.2f} IOD" if marks else "")


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
    print("(tracked: CPU ms per frame, face rate, agreement with whole-frame detection)")
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
            rate, ms, whole = timed_rate(det, images)
            tracked = ""
            if set_name == "GRID" and DETECTORS.meta(name).get("trackable", True):
                tracker = video_detector(name)
                t_rate, t_ms, faces = timed_rate(tracker, images, tracker.reset)
                tracked = f"{t_ms:>12.2f}  rate {t_rate:.3f}, vs whole: {agreement(whole, faces)}"
            print(f"{name:<10}{set_name:<8}{rate:>10.3f}{ms:>10.2f}{tracked}")
    print("ms per call on a face window of N px:")
    frame = clips[0][0]
    face = max(get_detector("haar").detect(frame), key=lambda f: f.area)
    x, y, w, h = face.box
    side = int(1.8 * max(w, h))
    x0, y0 = max(0, x + w // 2 - side // 2), max(0, y + h // 2 - side // 2)
    window = frame[y0 : y0 + side, x0 : x0 + side]
    for name in DETECTORS.list():
        if name == "none":
            continue
        try:
            det = get_detector(name)
        except ValueError:
            continue
        costs = []
        for n in (32, 48, 64, 96, 128):
            patch = cv2.resize(window, (n, n), interpolation=cv2.INTER_AREA)
            t0 = time.process_time()
            for _ in range(200):
                det.detect(patch)
            costs.append(f"{n}: {5 * (time.process_time() - t0):.2f}")
        print(f"  {name:<8}" + "  ".join(costs))
    for name in DETECTORS.where(lambda m: m.get("landmarks", False)):
        try:
            det = get_detector(name)
        except ValueError:
            continue
        first, again = [], []
        for clip in clips:
            for frame in (clip[len(clip) // 4], clip[3 * len(clip) // 4]):
                upright = largest(det.detect(frame))
                level = refine_roll(frame, upright, det, side=160)
                x, y, w, h = upright.box
                for turn in (-20.0, -10.0, 10.0, 20.0):
                    m = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), turn, 1.0)
                    turned = cv2.warpAffine(
                        frame, m, frame.shape[1::-1], borderMode=cv2.BORDER_REPLICATE
                    )
                    face = largest(det.detect(turned))
                    first.append(abs(face_roll(face) - (level - turn)))
                    again.append(abs(refine_roll(turned, face, det) - (level - turn)))
        print(
            f"{name}: eye-line angle error on turned GRID frames ({len(first)}): read once "
            f"mean {np.mean(first):.1f} deg (p90 {np.percentile(first, 90):.1f}), measured "
            f"again {np.mean(again):.1f} deg (p90 {np.percentile(again, 90):.1f})"
        )


if __name__ == "__main__":
    main()
