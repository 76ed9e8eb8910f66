"""Corpus -> cached face dataset.

For every clip: decode the sampled frames, locate the face in each (the configured
detector, through :class:`~pathfer.data.faces.track.TrackingDetector` unless
``track=False``; a frame with no detection borrows its neighbour's box), crop it to a
grey square. Clips are processed in batches on an executor (a local process pool by
default); each clip's result is written at once as a shard
``shards/<ordinal>.npz`` under a temporary name and renamed into place, so an interrupted
run resumes where it stopped. When every clip has a shard, they are merged into the
cache files, and ``COMPLETE`` is written last (see :mod:`pathfer.data.datasets.cache`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from pathfer import __version__
from pathfer.data.corpora.base import ERROR, IGNORED, CorpusScan, Problem
from pathfer.data.faces import (
    NONE,
    CropSettings,
    crop_face,
    get_detector,
    locate_faces,
    to_grey,
)
from pathfer.data.video import FrameSampling, VideoError, read_frames
from pathfer.runtime import Executor, InlineExecutor, LocalExecutor, get_executor

#: Bump when the preparation changes in a way that changes the crops: new cache folders.
PIPELINE_VERSION = 1

COMPLETE = "COMPLETE"
MANIFEST = "manifest.parquet"
CROPS = "crops.npy"
SETTINGS = "settings.json"
PROBLEMS = "problems.json"
SUMMARY = "summary.json"
SHARDS = "shards"

MANIFEST_COLUMNS = [
    "clip_id",
    "frame_index",
    "label",
    "subject",
    "corpus",
    "source",
    "x",
    "y",
    "w",
    "h",
    "face",
    "code",
]


class PrepareError(RuntimeError):
    """Preparation could not finish; the message says why and what to do."""


def default_cache_root() -> Path:
    """``$PATHFER_CACHE`` if set, else ``./pathfer_cache``."""
    return Path(os.environ.get("PATHFER_CACHE") or "pathfer_cache")


@dataclass
class PrepareReport:
    """What a preparation produced (or found already prepared)."""

    path: Path
    corpus: str
    n_clips: int  # clips in the dataset
    n_frames: int  # frames (crops) in the dataset
    frames_read: int  # frames decoded, including those of clips skipped for no face
    frames_detected: int  # frames where the detector itself found a face
    skipped: list[Problem] = field(default_factory=list)  # clips that could not be used
    ignored: list[Problem] = field(default_factory=list)  # files deliberately left out
    reused: bool = False
    n_resumed: int = 0  # clips whose shard an interrupted run had already written
    seconds: float = 0.0

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    @property
    def face_rate(self) -> float:
        """Share of decoded frames in which a face was detected."""
        return self.frames_detected / self.frames_read if self.frames_read else 0.0


# ---------------------------------------------------------------------------- cache key


def _settings(
    scan: CorpusScan, sampling: FrameSampling, crop: CropSettings, track: bool
) -> dict[str, Any]:
    clips = []
    for c in scan.clips:
        try:
            st = os.stat(c.path)
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:  # vanished or a broken link: reported as skipped when read
            size = mtime = -1
        clips.append([c.clip_id, c.label, c.subject, c.code, size, mtime])
    return {
        "corpus": scan.name,
        "root": str(Path(scan.root).resolve()),
        "clips": clips,
        "sampling": sampling.as_dict(),
        "crop": crop.as_dict(),
        "pipeline": {"version": PIPELINE_VERSION, "track": bool(track)},
    }


def cache_key(
    scan: CorpusScan,
    sampling: FrameSampling | None = None,
    crop: CropSettings | None = None,
    track: bool = True,
) -> str:
    """SHA-256 of the corpus (name, root, clip files with sizes and mtimes) and settings."""
    s = _settings(scan, sampling or FrameSampling(), crop or CropSettings(), track)
    return hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest()


def cache_path(
    scan: CorpusScan,
    cache_root: str | Path | None = None,
    sampling: FrameSampling | None = None,
    crop: CropSettings | None = None,
    track: bool = True,
) -> Path:
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    return root / f"{scan.name}-{cache_key(scan, sampling, crop, track)[:12]}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


# ------------------------------------------------------------------------------ workers


def _write_shard(path: Path, **arrays: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)


def _skip_shard(path: Path, message: str, frames_read: int = 0) -> dict:
    _write_shard(
        path,
        status=np.array("skipped"),
        message=np.array(message),
        frames_read=np.array(frames_read),
    )
    return {"status": "skipped", "frames_read": frames_read, "frames_detected": 0}


def _prepare_clip(
    path: Path, shard: Path, sampling: FrameSampling, crop: CropSettings, detector: Any
) -> dict:
    try:
        return _prepare_frames(path, shard, sampling, crop, detector)
    except VideoError as exc:
        return _skip_shard(shard, str(exc))
    except (cv2.error, OSError) as exc:
        return _skip_shard(shard, f"{path}: cannot be decoded ({exc}); re-copy or exclude it")
    except Exception as exc:  # one odd clip must not stop the corpus
        return _skip_shard(
            shard, f"{path}: unexpected {type(exc).__name__} ({exc}); please report it"
        )


def _prepare_frames(
    path: Path, shard: Path, sampling: FrameSampling, crop: CropSettings, detector: Any
) -> dict:
    frames = read_frames(path, sampling)
    greys = [to_grey(f) for _, f in frames]  # once per frame, for detection and crops
    if hasattr(detector, "reset"):
        detector.reset()
    located = locate_faces(greys, detector)
    detected = sum(1 for _, src in located if src == "detected")
    if all(src == NONE for _, src in located):
        return _skip_shard(
            shard,
            f"{path}: no face found in any of its {len(frames)} sampled frames; check that "
            "it shows a frontal face, or try another --detector",
            len(frames),
        )
    crops = np.stack([crop_face(g, box, crop) for g, (box, _) in zip(greys, located, strict=True)])
    _write_shard(
        shard,
        status=np.array("ok"),
        message=np.array(""),
        frames_read=np.array(len(frames)),
        frame_index=np.array([i for i, _ in frames], dtype=np.int32),
        boxes=np.array([box for box, _ in located], dtype=np.int32).reshape(-1, 4),
        face=np.array([src for _, src in located]),
        crops=crops.astype(np.uint8, copy=False),
    )
    return {"status": "ok", "frames_read": len(frames), "frames_detected": detected}


def _prepare_batch(job: dict) -> list[dict]:
    """One executor job: prepare a batch of clips, writing one shard per clip."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # parallelism comes from the processes; avoid oversubscription
    try:
        crop: CropSettings = job["crop"]
        detector: Any = get_detector(crop.detector)
        if job["track"]:
            from pathfer.data.faces.track import TrackingDetector

            detector = TrackingDetector(detector)
        out = []
        for ordinal, path in job["clips"]:
            shard = Path(job["shard_dir"]) / f"{ordinal:06d}.npz"
            out.append(_prepare_clip(Path(path), shard, job["sampling"], crop, detector))
        return out
    finally:
        cv2.setNumThreads(threads)


# ------------------------------------------------------------------------------- parent


def _valid_shards(shard_dir: Path, n: int) -> set[int]:
    done = set()
    for p in shard_dir.glob("*.npz"):
        try:
            ordinal = int(p.stem)
            with np.load(p) as z:
                str(z["status"])
        except Exception:  # half-written by a dead process (fsync-less) or foreign file
            p.unlink(missing_ok=True)
            continue
        if 0 <= ordinal < n:
            done.add(ordinal)
    # leftovers of a killed run (not of a live one)
    for p in [*shard_dir.glob(".*.tmp"), *shard_dir.parent.glob(".*.tmp")]:
        if not _alive(p):
            p.unlink(missing_ok=True)
    return done


def _alive(tmp: Path) -> bool:
    """Whether the process that names ``.<file>.<pid>.tmp`` still runs."""
    try:
        pid = int(tmp.name.rsplit(".", 2)[-2])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return pid != os.getpid()


def _make_executor(executor: Executor | str | None, workers: int | None) -> Executor:
    if executor is None:
        return LocalExecutor(workers)
    if isinstance(executor, str):
        return get_executor(executor, workers=workers)
    return executor


def _merge(scan: CorpusScan, folder: Path, crop: CropSettings) -> dict:
    shard_dir = folder / SHARDS
    cols: dict[str, list] = {c: [] for c in MANIFEST_COLUMNS}
    counts: list[int] = []
    skipped: list[Problem] = []
    frames_read = frames_detected = 0
    for i, clip in enumerate(scan.clips):
        with np.load(shard_dir / f"{i:06d}.npz") as z:
            frames_read += int(z["frames_read"])
            if str(z["status"]) != "ok":
                msg = str(z["message"]).removeprefix(f"{clip.path}: ")
                skipped.append(Problem(clip.clip_id, msg, "", ERROR))
                counts.append(0)
                continue
            idx, boxes, face = z["frame_index"], z["boxes"], z["face"]
        n = len(idx)
        counts.append(n)
        frames_detected += int(np.sum(face == "detected"))
        cols["clip_id"] += [clip.clip_id] * n
        cols["frame_index"] += idx.tolist()
        cols["label"] += [clip.label] * n
        cols["subject"] += [clip.subject] * n
        cols["corpus"] += [clip.corpus] * n
        cols["source"] += [str(clip.path)] * n
        for j, c in enumerate("xywh"):
            cols[c] += boxes[:, j].tolist()
        cols["face"] += face.tolist()
        cols["code"] += [clip.code] * n
    total = sum(counts)
    if total == 0:
        reasons = "; ".join(p.message() for p in skipped[:3])
        raise PrepareError(
            f"{scan.name}: no clip could be prepared ({len(skipped)} skipped: {reasons})"
        )
    manifest = pd.DataFrame(cols, columns=MANIFEST_COLUMNS)
    for c in ("frame_index", "x", "y", "w", "h"):
        manifest[c] = manifest[c].astype(np.int32)
    tmp_manifest = folder / f".{MANIFEST}.{os.getpid()}.tmp"
    manifest.to_parquet(tmp_manifest, index=False)
    os.replace(tmp_manifest, folder / MANIFEST)

    tmp_crops = folder / f".{CROPS}.{os.getpid()}.tmp"
    arr = np.lib.format.open_memmap(
        tmp_crops, mode="w+", dtype=np.uint8, shape=(total, crop.size, crop.size)
    )
    pos = 0
    for i, n in enumerate(counts):
        if n:
            with np.load(shard_dir / f"{i:06d}.npz") as z:
                arr[pos : pos + n] = z["crops"]
            pos += n
    arr.flush()
    del arr
    with open(tmp_crops, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp_crops, folder / CROPS)
    problems = [p.as_dict() for p in scan.problems + skipped]
    atomic_write_json(folder / PROBLEMS, problems)
    summary = {
        "corpus": scan.name,
        "n_clips": sum(1 for n in counts if n),
        "n_frames": total,
        "frames_read": frames_read,
        "frames_detected": frames_detected,
    }
    atomic_write_json(folder / SUMMARY, summary)
    return summary


def _report_from_cache(folder: Path, reused: bool, seconds: float, n_resumed: int = 0):
    summary = json.loads((folder / SUMMARY).read_text())
    problems = [Problem(**p) for p in json.loads((folder / PROBLEMS).read_text())]
    return PrepareReport(
        path=folder,
        corpus=summary["corpus"],
        n_clips=summary["n_clips"],
        n_frames=summary["n_frames"],
        frames_read=summary["frames_read"],
        frames_detected=summary["frames_detected"],
        skipped=[p for p in problems if p.kind == ERROR],
        ignored=[p for p in problems if p.kind == IGNORED],
        reused=reused,
        n_resumed=n_resumed,
        seconds=seconds,
    )


def is_complete(folder: str | Path) -> bool:
    return (Path(folder) / COMPLETE).is_file()


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
    ``(clips_done, clips_total)``.
    """
    t0 = time.perf_counter()
    sampling = sampling or FrameSampling()
    crop = crop or CropSettings()
    get_detector(crop.detector)  # fail early, in the caller, on an unknown detector
    if not scan.clips:
        raise PrepareError(f"{scan.name}: the corpus holds no usable clip")
    settings = _settings(scan, sampling, crop, track)
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    folder = root / f"{scan.name}-{key[:12]}"
    if is_complete(folder):
        return _report_from_cache(folder, True, time.perf_counter() - t0)

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
    done = _valid_shards(shard_dir, n)
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
    with _Progress(progress, n, len(done), scan.name) as bar:
        for outcome in ex.run(_prepare_batch, jobs):
            batch = by_key[outcome.key]
            if not outcome.ok:
                names = ", ".join(scan.clips[i].clip_id for i in batch[:3])
                failures.append(f"{names}: {str(outcome.error).splitlines()[0]}")
            bar.advance(len(batch))
    if failures:
        raise PrepareError(
            f"{scan.name}: {len(failures)} batch(es) of clips failed ({failures[0]}); "
            f"run the same command again to resume from {folder}"
        )
    _merge(scan, folder, crop)
    atomic_write_bytes(folder / COMPLETE, f"{key}\n".encode())
    shutil.rmtree(shard_dir, ignore_errors=True)
    return _report_from_cache(folder, False, time.perf_counter() - t0, n_resumed=len(done))


class _Progress:
    """A rich progress bar, a callback, or nothing."""

    def __init__(self, progress: Any, total: int, done: int, name: str) -> None:
        self.callback = progress if callable(progress) else None
        self.total, self.done = total, done
        self._bar = None
        if progress is True:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("preparing {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )
            self._task = self._bar.add_task(name, total=total, completed=done)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def advance(self, k: int) -> None:
        self.done += k
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
