"""Corpus -> cached face dataset.

For every clip: decode the sampled frames, locate the face in each (the configured
detector, through :class:`~pathfer.data.faces.track.TrackingDetector` unless
``track=False``, the detector is ``none`` or the clip is a still image; a frame with no
detection borrows its neighbour's box), crop it to a grey square (rotated so the eyes are
level when the crop settings say ``align``, by the eye-line angle smoothed over the clip).
A clip that cannot be decoded, ends early or shows no face is skipped and reported.
Clips are processed in batches on an executor (a local process pool by default); each
clip's result is written at once as a shard ``shards/<ordinal>.npz`` under a temporary
name and renamed into place, so an interrupted run resumes where it stopped. When every
clip has a shard, they are merged into the cache files, and ``COMPLETE`` is written last
(see :mod:`pathfer.data.datasets.cache`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pathfer import __version__
from pathfer.data.corpora import scan_target
from pathfer.data.corpora.base import CorpusScan
from pathfer.data.corpora.sequences import decode_sequence
from pathfer.data.datasets.cache import (
    COMPLETE,
    SETTINGS,
    SHARDS,
    PrepareError,
    PrepareReport,
    cache_settings,
    default_cache_root,
    is_complete,
    merge_shards,
    read_report,
    skip_shard,
    valid_shards,
    write_shard,
)
from pathfer.data.faces import (
    NONE,
    CropSettings,
    clip_rolls,
    crop_face,
    get_detector,
    locate_faces,
    video_detector,
)
from pathfer.data.video import FrameSampling, VideoError, decode_frames, is_image
from pathfer.runtime import Executor, InlineExecutor, LocalExecutor, get_executor
from pathfer.runtime.files import atomic_write_bytes, atomic_write_json
from pathfer.runtime.progress import progress_bar


def _prepare_clip(
    path: Path,
    shard: Path,
    sampling: FrameSampling,
    crop: CropSettings,
    detector: Any,
    frames: Sequence[Path] = (),
) -> dict:
    try:
        return _prepare_frames(path, shard, sampling, crop, detector, frames)
    except VideoError as exc:
        return skip_shard(shard, str(exc))
    except (cv2.error, OSError) as exc:
        return skip_shard(shard, f"{path}: cannot be decoded ({exc}); re-copy or exclude it")
    except Exception as exc:  # one odd clip must not stop the corpus
        return skip_shard(
            shard, f"{path}: unexpected {type(exc).__name__} ({exc}); please report it"
        )


def _prepare_frames(
    path: Path,
    shard: Path,
    sampling: FrameSampling,
    crop: CropSettings,
    detector: Any,
    frames: Sequence[Path] = (),
) -> dict:
    """``frames``: the files of a folder-of-frames clip (``path`` its folder), decoded and
    tracked as a video's frames."""
    clip = decode_sequence(frames, sampling) if frames else decode_frames(path, sampling)
    frames = clip.frames
    images = [f for _, f in frames]
    if hasattr(detector, "reset"):
        detector.reset()
    if is_image(path):  # nothing to track in a still: search it whole, at full size
        detector = getattr(detector, "base", detector)
    located = locate_faces(images, detector)
    detected = sum(1 for _, src in located if src == "detected")
    if all(src == NONE for _, src in located):
        return skip_shard(
            shard,
            f"{path}: no face found "
            + ("in the image" if is_image(path) else f"in any of its {len(frames)} sampled frames")
            + "; check that it shows a face, try another --detector, or use --detector none "
            "if the files are already face crops",
            len(frames),
        )
    faces = [face for face, _ in located]
    if crop.align:  # measured again on the turned face, then smoothed over the clip
        base = getattr(detector, "base", detector)
        rolls = clip_rolls(faces, images, base)
    else:
        rolls = [None] * len(faces)
    crops = np.stack(
        [crop_face(im, f, crop, r) for im, f, r in zip(images, faces, rolls, strict=True)]
    )
    sources = [src for _, src in located]
    write_shard(
        shard,
        {
            "status": "ok",
            "message": clip.decoder_note,  # kept, with a warning, when not empty
            "frames_read": len(frames),
            "face": sources,
        },
        frames=np.array([(i, *face.box) for (i, _), face in zip(frames, faces, strict=True)]),
        crops=crops.astype(np.uint8, copy=False),
    )
    return {"status": "ok", "frames_read": len(frames), "frames_detected": detected}


def _prepare_batch(job: dict) -> list[dict]:
    """One executor job: prepare a batch of clips, writing one shard per clip."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # parallelism comes from the processes; avoid oversubscription
    try:
        crop: CropSettings = job["crop"]
        detector = video_detector(crop.detector, job["track"])
        out = []
        sequences = job.get("frames", {})
        for ordinal, path in job["clips"]:
            shard = Path(job["shard_dir"]) / f"{ordinal:06d}.npz"
            frames = [Path(f) for f in sequences.get(ordinal, ())]
            out.append(_prepare_clip(Path(path), shard, job["sampling"], crop, detector, frames))
        return out
    finally:
        cv2.setNumThreads(threads)


def _make_executor(executor: Executor | str | None, workers: int | None) -> Executor:
    if executor is None:
        return LocalExecutor(workers)
    if isinstance(executor, str):
        return get_executor(executor, workers=workers)
    return executor


def corpus_crop(scan: CorpusScan, crop: CropSettings) -> CropSettings:
    """``crop`` with the corpus' own detector when it names one (a spec's ``detector:``,
    e.g. ``none`` for folders of face crops): the corpus knows what its files are."""
    if scan.detector is None or scan.detector == crop.detector:
        return crop
    return dataclasses.replace(crop, detector=scan.detector)


#: where ``prepare`` jobs may run
EXECUTORS = ("local", "inline", "ray")


@dataclasses.dataclass(frozen=True)
class PreparePlan:
    """A corpus argument and its options resolved into the arguments of
    :func:`prepare_corpus` (with the frame sampling, progress and tracking)."""

    scan: CorpusScan
    #: the crop asked for, with the corpus' own detector when it names one
    crop: CropSettings
    cache_root: Path
    executor: Executor | str
    workers: int | None = None
    #: the corpus names a detector other than the one asked for, and it is used
    corpus_detector: bool = False


def plan_preparation(
    target: str,
    root: str | Path | None = None,
    *,
    crop: CropSettings,
    labels: Sequence[str] = (),
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    cache_root: str | Path | None = None,
) -> PreparePlan:
    """Scan ``target`` (a corpus name with its folder ``root``, or a YAML spec whose root
    ``root`` overrides), keep only ``labels`` (all when empty), and choose the executor
    (``ray`` connects to ``address``) and the cache root (:func:`default_cache_root` when
    None). Raises ``CorpusError`` or ``ValueError`` with a message for the user."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; use local, inline or ray")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be >= 1, not {workers}")
    scan = scan_target(target, root)
    if labels:
        scan = scan.restrict(list(labels))
    ex: Executor | str = executor
    if executor == "ray":
        try:
            ex = get_executor("ray", workers=workers, address=address)
        except ImportError as exc:
            raise ValueError(f"the ray executor is not available ({exc})") from None
    return PreparePlan(
        scan=scan,
        crop=corpus_crop(scan, crop),
        cache_root=Path(cache_root) if cache_root is not None else default_cache_root(),
        executor=ex,
        workers=workers,
        corpus_detector=scan.detector is not None and scan.detector != crop.detector,
    )


def prepare_corpus(
    scan: CorpusScan,
    cache_root: str | Path | None = None,
    sampling: FrameSampling | None = None,
    crop: CropSettings | None = None,
    executor: Executor | str | None = None,
    workers: int | None = None,
    progress: bool | Callable[[int, int], None] = True,
    track: bool = True,
    batch_size: int | None = None,
) -> PrepareReport:
    """Prepare ``scan`` into ``<cache_root>/<corpus>-<hash12>/`` (or reuse it).

    ``executor`` is an :class:`~pathfer.runtime.Executor`, a name (``local``,
    ``inline``, ``ray``) or ``None`` for a local process pool of ``workers`` processes.
    ``progress`` is ``True`` for a rich progress bar, ``False`` for none, or a callable
    ``(clips_done, clips_total)``. A corpus that names its own detector (``scan.detector``)
    is prepared with it (:func:`corpus_crop`).
    """
    t0 = time.perf_counter()
    sampling = sampling or FrameSampling()
    crop = corpus_crop(scan, crop or CropSettings())
    get_detector(crop.detector)  # fail early, in the caller, on an unknown detector
    if not scan.clips:
        raise PrepareError(f"{scan.name}: the corpus holds no usable clip")
    settings = cache_settings(scan, sampling, crop, track)
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    folder = root / f"{scan.name}-{key[:12]}"
    if is_complete(folder):
        return read_report(folder, True, time.perf_counter() - t0)

    shard_dir = folder / SHARDS
    shard_dir.mkdir(parents=True, exist_ok=True)
    meta = {k: v for k, v in settings.items() if k != "clips"}
    meta.update(
        key=key,
        n_clips=len(scan.clips),
        labels=scan.labels,
        subjects=scan.subjects,
        crop_size=crop.size,
        pathfer_version=__version__,
    )
    atomic_write_json(folder / SETTINGS, meta)

    n = len(scan.clips)
    done = valid_shards(shard_dir, n)
    todo = [i for i in range(n) if i not in done]
    ex = _make_executor(executor, workers)
    serial = isinstance(ex, InlineExecutor) or getattr(ex, "workers", 2) == 1
    if batch_size is None:
        par = getattr(ex, "workers", None) or os.cpu_count() or 1
        batch_size = 1 if serial else max(1, min(4, math.ceil(len(todo) / (par * 8))))
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    jobs = [
        (
            b[0],
            {
                # absolute: the job may run in another directory or on another node
                "clips": [(i, str(Path(scan.clips[i].path).absolute())) for i in b],
                "frames": {
                    i: [str(Path(f).absolute()) for f in scan.clips[i].frames]
                    for i in b
                    if scan.clips[i].frames
                },
                "shard_dir": str(shard_dir.absolute()),
                "sampling": sampling,
                "crop": crop,
                "track": track,
            },
        )
        for b in batches
    ]
    by_key = {b[0]: b for b in batches}
    failures: list[str] = []
    with progress_bar(n, progress, description=f"preparing {scan.name}", done=len(done)) as bar:
        for outcome in ex.run(_prepare_batch, jobs):
            batch = by_key[outcome.key]
            if not outcome.ok:
                names = ", ".join(scan.clips[i].clip_id for i in batch[:3])
                failures.append(f"{names}: {str(outcome.error).splitlines()[0]}")
            bar(len(batch))
    if failures:
        raise PrepareError(
            f"{scan.name}: {len(failures)} batch(es) of clips failed ({failures[0]}); "
            f"run the same command again to resume from {folder}"
        )
    merge_shards(scan, folder, crop)
    atomic_write_bytes(folder / COMPLETE, f"{key}\n".encode())
    shutil.rmtree(shard_dir, ignore_errors=True)
    return read_report(folder, False, time.perf_counter() - t0, n_resumed=len(done))
