"""The prepared-dataset cache: where a corpus' crops live, its key, and its files.

A cache folder ``<root>/<corpus>-<hash12>/`` holds ``manifest.parquet`` (one row per crop),
``crops.npy`` (``(N, S, S)`` uint8), ``settings.json``, ``problems.json``, ``summary.json``
and, written last, ``COMPLETE``. The hash covers the corpus files (names, sizes, mtimes) and
every setting that changes the crops, so new settings make a new folder beside the old one.
While a preparation runs, each clip's result is a shard ``shards/<ordinal>.npz``, written
atomically, so an interrupted run resumes where it stopped; :func:`merge_shards` turns the
shards into the cache files.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pathfer.data.corpora.base import ERROR, IGNORED, WARNING, CorpusScan, Problem
from pathfer.data.faces import (
    CropSettings,
)
from pathfer.data.video import FrameSampling
from pathfer.runtime.files import (
    atomic_path,
    atomic_write_json,
    stale_temporaries,
)

#: Bump when the preparation changes in a way that changes the crops: new cache folders.
PIPELINE_VERSION = 2  # 2: truncated clips skipped, detector none/yunet, align


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
    warnings: list[Problem] = field(default_factory=list)  # clips used, with a caveat
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


def _frames_signature(frames: tuple[Path, ...]) -> list:
    sig = []
    for f in frames:
        try:
            st = os.stat(f)
            sig.append([Path(f).name, st.st_size, st.st_mtime_ns])
        except OSError:
            sig.append([Path(f).name, -1, -1])
    return sig


def cache_settings(
    scan: CorpusScan, sampling: FrameSampling, crop: CropSettings, track: bool
) -> dict[str, Any]:
    clips = []
    for c in scan.clips:
        try:
            st = os.stat(c.path)
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:  # vanished or a broken link: reported as skipped when read
            size = mtime = -1
        entry = [c.clip_id, c.label, c.subject, c.code, size, mtime]
        if c.frames:  # a folder of frames: its files, sizes and times
            entry.append(_frames_signature(c.frames))
        clips.append(entry)
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
    s = cache_settings(scan, sampling or FrameSampling(), crop or CropSettings(), track)
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


def write_shard(
    path: Path,
    meta: dict[str, Any],
    frames: np.ndarray | None = None,
    crops: np.ndarray | None = None,
) -> None:
    """One clip's result: ``meta`` (status, message, frames_read, per-frame face source) as
    JSON, ``frames`` int32 ``(n, 5)`` (frame index, x, y, w, h) and ``crops`` uint8
    ``(n, S, S)``; three members keep writing and merging cheap."""
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
    if frames is not None and crops is not None:
        arrays.update(frames=frames.astype(np.int32, copy=False), crops=crops)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def read_shard_meta(z: Any) -> dict[str, Any]:
    return json.loads(str(z["meta"]))


def skip_shard(path: Path, message: str, frames_read: int = 0) -> dict:
    write_shard(path, {"status": "skipped", "message": message, "frames_read": frames_read})
    return {"status": "skipped", "frames_read": frames_read, "frames_detected": 0}


def valid_shards(shard_dir: Path, n: int) -> set[int]:
    done = set()
    for p in shard_dir.glob("*.npz"):
        try:
            ordinal = int(p.stem)
            with np.load(p) as z:
                read_shard_meta(z)["status"]
        except Exception:  # half-written by a dead process (fsync-less) or foreign file
            p.unlink(missing_ok=True)
            continue
        if 0 <= ordinal < n:
            done.add(ordinal)
    # leftovers of a killed run (not of a live one)
    for p in [*stale_temporaries(shard_dir), *stale_temporaries(shard_dir.parent)]:
        p.unlink(missing_ok=True)
    return done


def merge_shards(scan: CorpusScan, folder: Path, crop: CropSettings) -> dict:
    shard_dir = folder / SHARDS
    cols: dict[str, list] = {c: [] for c in MANIFEST_COLUMNS}
    counts: list[int] = []
    skipped: list[Problem] = []
    noted: list[Problem] = []  # clips used, with a warning
    frames_read = frames_detected = 0
    for i, clip in enumerate(scan.clips):
        with np.load(shard_dir / f"{i:06d}.npz") as z:
            meta = read_shard_meta(z)
            frames_read += int(meta["frames_read"])
            if meta["status"] != "ok":
                msg = str(meta["message"]).removeprefix(f"{clip.path}: ")
                skipped.append(Problem(clip.clip_id, msg, "", ERROR))
                counts.append(0)
                continue
            rows = z["frames"]
            idx, boxes, face = rows[:, 0], rows[:, 1:5], np.array(meta["face"])
            if meta["message"]:
                noted.append(Problem(clip.clip_id, str(meta["message"]), "", WARNING))
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
    with atomic_path(folder / MANIFEST) as tmp:
        manifest.to_parquet(tmp, index=False)
    with atomic_path(folder / CROPS) as tmp:
        arr = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.uint8, shape=(total, crop.size, crop.size)
        )
        pos = 0
        for i, n in enumerate(counts):
            if n:
                with np.load(shard_dir / f"{i:06d}.npz") as z:
                    arr[pos : pos + n] = z["crops"]
                pos += n
        arr.flush()
        del arr
    problems = [p.as_dict() for p in scan.problems + skipped + noted]
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


def read_report(folder: Path, reused: bool, seconds: float, n_resumed: int = 0):
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
        warnings=[p for p in problems if p.kind == WARNING],
        reused=reused,
        n_resumed=n_resumed,
        seconds=seconds,
    )


def is_complete(folder: str | Path) -> bool:
    return (Path(folder) / COMPLETE).is_file()
