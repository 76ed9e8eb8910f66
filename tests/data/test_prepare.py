"""Preparation, cache, resume, dataset loading and the CLI, on real GRID footage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import build_savee, grid, place, write_blank_clip
from typer.testing import CliRunner

from pathfer.cli import app
from pathfer.data.corpora import get_corpus, scan_target
from pathfer.data.datasets import (
    DatasetError,
    FaceDataset,
    PrepareError,
    cache_path,
    is_complete,
    prepare_corpus,
)
from pathfer.data.datasets.cache import MANIFEST_COLUMNS
from pathfer.data.faces import CropSettings
from pathfer.data.video import FrameSampling

FOUR = FrameSampling(n=4)


def _prep(scan, root: Path, **kw):
    kw.setdefault("sampling", FOUR)
    kw.setdefault("executor", "inline")
    kw.setdefault("progress", False)
    return prepare_corpus(scan, root, **kw)


def test_prepare_savee(savee_root: Path, tmp_path: Path) -> None:
    scan = get_corpus("savee").scan(savee_root)
    report = _prep(scan, tmp_path / "cache")
    assert not report.reused and report.n_clips == 6 and report.n_skipped == 0
    assert report.n_frames == 24 and report.face_rate >= 0.95
    assert report.path.parent == tmp_path / "cache" and report.path.name.startswith("savee-")
    assert sorted(p.name for p in report.path.iterdir()) == [
        "COMPLETE",
        "crops.npy",
        "manifest.parquet",
        "problems.json",
        "settings.json",
        "summary.json",
    ]
    ds = FaceDataset.load(report.path)
    assert ds.crops.shape == (24, 48, 48) and ds.crops.dtype == np.uint8
    assert list(ds.manifest.columns) == MANIFEST_COLUMNS
    assert ds.labels == ["anger", "happiness", "sadness"] and ds.corpus == "savee"
    assert ds.subjects == ["DC", "JE"] and ds.n_clips == 6
    assert ds.y.dtype == np.int64 and set(ds.y) == {0, 1, 2}
    m = ds.manifest
    assert (m.groupby("clip_id").size() == 4).all()
    assert set(m["face"]) <= {"detected", "previous"}
    assert (m["w"] > 80).all()  # GRID faces are ~140 px wide
    assert ds.crops.std() > 20  # real, equalised faces, not blank
    x, y = ds.tensors([0, 5])
    assert x.dtype == torch.float32 and x.shape == (2, 1, 48, 48)
    expected = torch.from_numpy(ds.crops[[0, 5]].astype(np.float32) / 255.0).unsqueeze(1)
    assert torch.equal(x, expected) and y.tolist() == ds.y[[0, 5]].tolist()
    clips = ds.clips
    assert len(clips) == 6 and (clips["n_frames"] == 4).all()
    assert (clips["clip"].to_numpy()[ds.clip_index] == ds.clip_ids).all()


def test_restrict_select_concat(savee_root: Path, ravdess_root: Path, tmp_path: Path) -> None:
    from pathfer.data.datasets import concat

    sv = FaceDataset.load(_prep(get_corpus("savee").scan(savee_root), tmp_path).path)
    rv = FaceDataset.load(_prep(get_corpus("ravdess").scan(ravdess_root), tmp_path).path)
    assert rv.labels == ["anger", "happiness", "neutral"] and rv.subjects == [
        "actor01",
        "actor02",
    ]
    sub = sv.restrict(["happiness", "anger"])
    assert sub.labels == ["happiness", "anger"] and len(sub) == 16
    assert set(sub.manifest["label"]) == {"anger", "happiness"}
    assert (np.array(sub.labels)[sub.y] == sub.manifest["label"].to_numpy()).all()
    half = sv.select(sv.y == 0)
    assert half.labels == sv.labels and (half.y == 0).all() and len(half) == 8
    both = concat([sv, rv])
    assert both.corpus == "savee+ravdess" and len(both) == len(sv) + len(rv)
    assert len(both.subjects) == 4 and both.n_clips == 12
    assert both.labels == ["anger", "happiness", "sadness", "neutral"]


def test_bad_inputs_are_skipped_with_reasons(savee_root: Path, tmp_path: Path) -> None:
    dc = savee_root / "AudioVisualClip" / "DC"
    (dc / "d01.avi").write_bytes(b"")
    (dc / "d02.avi").write_text("this is not a video\n")
    write_blank_clip(dc / "n01.avi")
    place(grid(0), dc / "zz01.avi")
    os.symlink(tmp_path / "gone.avi", dc / "f01.avi")  # a dangling link
    scan = get_corpus("savee").scan(savee_root)
    assert len(scan.clips) == 10 and len(scan.errors) == 1
    report = _prep(scan, tmp_path / "cache")
    assert report.n_clips == 6 and report.face_rate >= 0.95 * 24 / (24 + 4)
    reasons = {p.path: p.message() for p in report.skipped}
    assert set(reasons) == {
        "AudioVisualClip/DC/d01.avi",
        "AudioVisualClip/DC/d02.avi",
        "AudioVisualClip/DC/n01.avi",
        "AudioVisualClip/DC/zz01.avi",
        "AudioVisualClip/DC/f01.avi",
    }
    assert "broken link" in reasons["AudioVisualClip/DC/f01.avi"]
    assert "empty file" in reasons["AudioVisualClip/DC/d01.avi"]
    assert "cannot be decoded" in reasons["AudioVisualClip/DC/d02.avi"]
    assert "no face found" in reasons["AudioVisualClip/DC/n01.avi"]
    assert "unknown SAVEE emotion code" in reasons["AudioVisualClip/DC/zz01.avi"]
    saved = json.loads((report.path / "problems.json").read_text())
    assert {p["path"] for p in saved} == set(reasons)
    ds = FaceDataset.load(report.path)
    assert "disgust" not in ds.labels and "neutral" not in ds.labels


def test_cache_reuse_and_new_settings(savee_root: Path, tmp_path: Path) -> None:
    scan = get_corpus("savee").scan(savee_root)
    first = _prep(scan, tmp_path)
    t0 = time.perf_counter()
    again = _prep(get_corpus("savee").scan(savee_root), tmp_path)
    assert again.reused and again.path == first.path and time.perf_counter() - t0 < 0.5
    assert (again.n_frames, again.face_rate) == (first.n_frames, first.face_rate)
    other = _prep(scan, tmp_path, sampling=FrameSampling(n=3))
    small = _prep(scan, tmp_path, crop=CropSettings(size=32))
    assert len({first.path, other.path, small.path}) == 3
    assert not other.reused and other.n_frames == 18
    assert FaceDataset.load(small.path).crops.shape[1:] == (32, 32)
    assert all(is_complete(p) for p in (first.path, other.path, small.path))
    assert cache_path(scan, tmp_path, FOUR) == first.path
    # a changed clip file makes a new cache too
    clip = scan.clips[0].path
    os.utime(clip, ns=(time.time_ns(), time.time_ns() + 10**9), follow_symlinks=True)
    assert cache_path(get_corpus("savee").scan(savee_root), tmp_path, FOUR) != first.path


def test_process_pool_gives_the_same_dataset(savee_root: Path, tmp_path: Path) -> None:
    scan = get_corpus("savee").scan(savee_root)
    inline = _prep(scan, tmp_path / "a")
    pooled = _prep(scan, tmp_path / "b", executor=None, workers=2, batch_size=2)
    a, b = FaceDataset.load(inline.path), FaceDataset.load(pooled.path)
    pd.testing.assert_frame_equal(a.manifest, b.manifest)
    assert np.array_equal(a.crops, b.crops)


def test_incomplete_cache_is_never_read(savee_root: Path, tmp_path: Path) -> None:
    report = _prep(get_corpus("savee").scan(savee_root), tmp_path)
    (report.path / "COMPLETE").unlink()
    with pytest.raises(DatasetError, match="not a complete prepared dataset"):
        FaceDataset.load(report.path)
    with pytest.raises(DatasetError, match="no such dataset"):
        FaceDataset.load(tmp_path / "nope")


def test_all_clips_unusable(tmp_path: Path) -> None:
    write_blank_clip(tmp_path / "sv" / "AudioVisualClip" / "DC" / "a1.avi")
    with pytest.raises(PrepareError, match="no clip could be prepared.*no face found"):
        _prep(get_corpus("savee").scan(tmp_path / "sv"), tmp_path / "cache")


def test_killed_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    root = build_savee(tmp_path / "big", speakers=("DC", "JE", "JK", "KL"))
    for s in ("DC", "JE", "JK", "KL"):
        for k in range(4):
            place(grid(k), root / "AudioVisualClip" / s / f"f{k + 1}.mpg")
    scan = get_corpus("savee").scan(root)
    assert len(scan.clips) == 28
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-c", "from pathfer.cli import app; app()", "prepare", "savee"]
    cmd += [str(root), "--out", str(cache), "--frames", "4", "--workers", "1", "-q"]
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    folder = cache_path(scan, cache, FOUR)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list((folder / "shards").glob("*.npz"))) >= 3:
                break
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    assert not is_complete(folder)
    with pytest.raises(DatasetError):
        FaceDataset.load(folder)
    resumed = _prep(scan, cache)
    assert resumed.path == folder and 3 <= resumed.n_resumed < 28
    fresh = _prep(scan, tmp_path / "fresh")
    a, b = FaceDataset.load(resumed.path), FaceDataset.load(fresh.path)
    pd.testing.assert_frame_equal(a.manifest, b.manifest)
    assert np.array_equal(a.crops, b.crops)
    assert not (folder / "shards").exists()


# ----------------------------------------------------------------------------------- CLI

runner = CliRunner()


def test_cli_prepare_savee(savee_root: Path, tmp_path: Path) -> None:
    (savee_root / "AudioVisualClip" / "DC" / "d01.avi").write_bytes(b"")
    args = ["prepare", "savee", str(savee_root), "--out", str(tmp_path), "--frames", "3"]
    result = runner.invoke(app, args + ["--executor", "inline"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "clips read: 7 prepared: 6 skipped: 1" in out
    assert "face found in 100.0% of frames" in out
    assert "AudioVisualClip/DC/d01.avi" in out and "empty file" in out
    [folder] = [p for p in tmp_path.iterdir() if p.name.startswith("savee-")]
    assert str(folder) in out
    again = runner.invoke(app, args + ["--executor", "inline"])
    assert again.exit_code == 0 and "reused" in again.output


def test_cli_spec_and_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i, (subj, emo) in enumerate([("a", "anger"), ("a", "fear"), ("b", "anger")]):
        place(grid(i), tmp_path / "c" / subj / emo / f"{i}.mpg")
    spec = tmp_path / "c.yaml"
    spec.write_text("root: c\nglob: '**/*.mpg'\n")
    monkeypatch.setenv("PATHFER_CACHE", str(tmp_path / "o"))  # the default cache root
    result = runner.invoke(app, ["prepare", str(spec), "-n", "2", "--labels", "anger"])
    assert result.exit_code == 0, result.output
    [folder] = (tmp_path / "o").iterdir()
    ds = FaceDataset.load(folder)
    assert ds.corpus == "c" and ds.labels == ["anger"] and ds.subjects == ["a", "b"]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["savee", "{tmp}/missing"], "{tmp}/missing does not exist"),
        (["savee", "{tmp}/missing", "--size", "3"], "crop size must be between"),
        (["voxceleb", "{tmp}"], "unknown corpus 'voxceleb'"),
        (["savee", "{tmp}", "--sampling", "random"], "'random' is not one of"),
        (["{tmp}/spec.yaml"], "spec.yaml does not exist"),
    ],
)
def test_cli_errors_are_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    args = [a.format(tmp=tmp_path) for a in args]
    result = runner.invoke(app, ["prepare", *args])
    assert result.exit_code == 2
    assert expected.format(tmp=tmp_path) in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_scan_target_requires_a_root() -> None:
    from pathfer.data.corpora import CorpusError

    with pytest.raises(CorpusError, match="give the corpus folder"):
        scan_target("savee")
