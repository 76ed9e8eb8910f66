"""Preparation of the inputs users bring: folders of face crops (``--detector none``),
photos labelled by a CSV, damaged videos and odd links, and the CLI's face options."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import GRID, build_enterface, build_savee, grid
from typer.testing import CliRunner

from pathfer.cli import app
from pathfer.data.corpora import get_corpus, scan_target
from pathfer.data.datasets import FaceDataset, prepare_corpus
from pathfer.data.faces import CropSettings, crop_face, get_detector, largest, yunet_available
from pathfer.data.video import FrameSampling

FOUR = FrameSampling(n=4)
runner = CliRunner()


def _prep(scan, root: Path, **kw):
    kw.setdefault("sampling", FOUR)
    kw.setdefault("executor", "inline")
    kw.setdefault("progress", False)
    return prepare_corpus(scan, root, **kw)


def write_crops(root: Path, per_label: int = 3, size: int = 48) -> Path:
    """``root/<emotion>/S<k>_<n>.png``: 48x48 grey face crops cut from GRID frames, some
    tight (no margin) like CK+48's, so a detector run inside them misses some."""
    haar = get_detector("haar")
    k = 0
    for label in ("anger", "happiness", "surprise"):
        for n in range(per_label):
            frames = _frames(grid(k))
            frame = frames[n % len(frames)]
            face = largest(haar.detect(frame))
            margin = (-0.12, 0.0, 0.15)[n % 3]  # tighter than the box, the box, wider
            x, y, w, h = face.box
            d = int(w * margin)
            crop = crop_face(
                frame,
                (x - d, y - d, w + 2 * d, h + 2 * d),
                CropSettings(size=size, margin=0.0, detector="haar"),
            )
            path = root / label / f"S{k % 4:03d}_{n:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), crop)
            k += 1
    return root


def _frames(clip: Path) -> list[np.ndarray]:
    from pathfer.data.video import read_frames

    return [f for _, f in read_frames(clip, FrameSampling(n=3))]


CROPS_SPEC = """name: crops
root: faces
glob: "*/*.png"
label: {from: parent}
regex: '(?P<subject>S\\d+)_\\d+'
"""


def test_prepare_detector_none_keeps_every_crop(tmp_path: Path) -> None:
    write_crops(tmp_path / "faces")
    spec = tmp_path / "crops.yaml"
    spec.write_text(CROPS_SPEC)
    out = tmp_path / "cache"
    res = runner.invoke(
        app,
        ["prepare", str(spec), "--detector", "none", "-o", str(out), "-q", "--executor", "inline"],
    )
    assert res.exit_code == 0, res.output
    assert "skipped: 0" in res.output and "faces: detector none" in res.output
    [folder] = out.iterdir()
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["crop"] == {
        "size": 48,
        "margin": 0.0,
        "equalize": False,
        "detector": "none",
        "align": False,
    }
    ds = FaceDataset.load(folder)
    assert len(ds.crops) == 9 and ds.labels == ["anger", "happiness", "surprise"]
    assert ds.subjects == ["S000", "S001", "S002", "S003"]
    m = ds.manifest
    assert (m[["x", "y", "w", "h"]].to_numpy() == [0, 0, 48, 48]).all()
    assert set(m["face"]) == {"detected"}
    for row, crop in zip(m.itertuples(), ds.crops, strict=True):  # the image itself
        src = cv2.imread(row.source, cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(crop, src)


def test_prepare_track_flag_reaches_the_pipeline(savee_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "cache"
    args = [
        "prepare",
        "savee",
        str(savee_root),
        "-o",
        str(out),
        "-n",
        "2",
        "-q",
        "--executor",
        "inline",
        "--detector",
        "haar",
    ]
    assert runner.invoke(app, [*args, "--no-track"]).exit_code == 0
    assert runner.invoke(app, args).exit_code == 0
    tracks = sorted(
        json.loads((f / "settings.json").read_text())["pipeline"]["track"] for f in out.iterdir()
    )
    assert tracks == [False, True]
    for f in out.iterdir():
        assert json.loads((f / "settings.json").read_text())["crop"]["detector"] == "haar"


def test_cli_default_detector_is_recorded(savee_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "cache"
    res = runner.invoke(
        app,
        [
            "prepare",
            "savee",
            str(savee_root),
            "-o",
            str(out),
            "-n",
            "2",
            "-q",
            "--executor",
            "inline",
            "--labels",
            "anger",
        ],
    )
    assert res.exit_code == 0, res.output
    [folder] = out.iterdir()
    crop = json.loads((folder / "settings.json").read_text())["crop"]
    assert crop["detector"] == ("yunet" if yunet_available() else "haar")


@pytest.mark.skipif(not yunet_available(), reason="yuface is not installed")
def test_prepare_aligned_is_a_new_cache_with_turned_crops(savee_root: Path, tmp_path: Path) -> None:
    scan = get_corpus("savee").scan(savee_root).restrict(["anger"])
    plain = _prep(scan, tmp_path, crop=CropSettings(detector="yunet"))
    aligned = _prep(scan, tmp_path, crop=CropSettings(detector="yunet", align=True))
    assert plain.path != aligned.path
    assert json.loads((aligned.path / "settings.json").read_text())["crop"]["align"] is True
    a, b = FaceDataset.load(plain.path), FaceDataset.load(aligned.path)
    assert a.manifest[["x", "y", "w", "h"]].equals(b.manifest[["x", "y", "w", "h"]])
    assert not np.array_equal(a.crops, b.crops)  # GRID speakers tilt their heads a little
    diff = np.abs(a.crops.astype(int) - b.crops.astype(int)).mean()
    assert 0.5 < diff < 40  # turned by a few degrees, not another image


# ------------------------------------------------------------------ labels from a CSV


def write_photos(root: Path) -> list[tuple[str, str, str]]:
    """GRID frames saved as photos ``images/<person>_<NNNN>.jpg`` plus an odd name."""
    rows = []
    people = ("Ann_Lee", "Bo_Chan", "Cy")
    for i, clip in enumerate(GRID[:3]):
        for n, frame in enumerate(_frames(clip)[:2]):
            name = f"{people[i]}_{n + 1:04d}.jpg"
            (root / "images").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "images" / name), frame)
            rows.append(("u1", name, ("HAPPINESS", "anger", "Surprise")[i]))
    cv2.imwrite(str(root / "images" / "facial-expressions_123k.jpg"), _frames(GRID[3])[0])
    rows.append(("u2", "facial-expressions_123k.jpg", "neutral"))
    return rows


PHOTOS_SPEC = """name: photos
root: images
glob: "*.jpg"
labels_file: {path: legend.csv, image: image, label: emotion}
regex: '^(?P<subject>.+?)(?:_\\d+)?\\.\\w+$'
"""


def test_labels_file_spec_reports_every_mismatch(tmp_path: Path) -> None:
    rows = write_photos(tmp_path)
    rows[1] = ("u1", "Ann_Lee_0002.jpg", "bored")  # no such emotion
    rows.append(("u2", "Missing_Person_0001.jpg", "fear"))  # no such image
    rows.append(("u3", "Cy_0001.jpg", "surprise"))  # a duplicate that agrees
    rows.append(("u3", "Bo_Chan_0002.jpg", "sadness"))  # a duplicate that disagrees
    cv2.imwrite(str(tmp_path / "images" / "Nobody_0001.jpg"), _frames(GRID[0])[0])  # no row
    pd.DataFrame(rows, columns=["user.id", "image", "emotion"]).to_csv(
        tmp_path / "legend.csv", index=False
    )
    (tmp_path / "photos.yaml").write_text(PHOTOS_SPEC)
    scan = scan_target(str(tmp_path / "photos.yaml"))
    got = {c.clip_id: (c.label, c.subject) for c in scan.clips}
    assert got == {
        "Ann_Lee_0001.jpg": ("happiness", "Ann_Lee"),
        "Bo_Chan_0001.jpg": ("anger", "Bo_Chan"),
        "Cy_0001.jpg": ("surprise", "Cy"),
        "Cy_0002.jpg": ("surprise", "Cy"),
        "facial-expressions_123k.jpg": ("neutral", "facial-expressions_123k"),
    }
    problems = {p.path: p.reason for p in scan.problems}
    assert len(problems) == len(scan.problems) == 4  # each reported once
    assert "not under the corpus root" in problems["legend.csv:9"]
    assert "no row of legend.csv" in problems["Nobody_0001.jpg"]
    assert "2 different labels (anger, sadness; lines 5, 11)" in problems["Bo_Chan_0002.jpg"]
    assert "'bored' maps to no emotion" in problems["Ann_Lee_0002.jpg"]
    report = _prep(scan, tmp_path / "cache")
    assert report.n_clips == 5 and report.face_rate == 1.0
    assert {p.path for p in report.skipped} == set(problems)  # the scan's, nothing more


def test_labels_file_subject_column_and_paths(tmp_path: Path) -> None:
    write_photos(tmp_path)
    os.makedirs(tmp_path / "images" / "b")
    (tmp_path / "images" / "Cy_0002.jpg").rename(tmp_path / "images" / "b" / "Cy_0001.jpg")
    table = pd.DataFrame(
        [
            ["Ann_Lee_0001.jpg", "happy", "p1"],
            ["./images/b\\Cy_0001.jpg", "sad", "p3"],  # a path, Windows-style
            ["Cy_0001.jpg", "sad", "p3"],  # two files have this name: ambiguous
        ],
        columns=["file", "mood", "who"],
    )
    table.to_csv(tmp_path / "labels.tsv", sep="\t", index=False)
    spec = tmp_path / "s.yaml"
    spec.write_text(
        'root: .\nglob: "images/**/*.jpg"\n'
        "labels_file: {path: labels.tsv, image: file, label: mood, subject: who}\n"
    )
    scan = scan_target(str(spec))
    got = {c.clip_id: (c.label, c.subject) for c in scan.clips}
    assert got == {
        "images/Ann_Lee_0001.jpg": ("happiness", "p1"),
        "images/b/Cy_0001.jpg": ("sadness", "p3"),
    }
    reasons = " ".join(p.reason for p in scan.problems)
    assert "ambiguous: 2 files have that name" in reasons
    # the files no usable row names (the ambiguous row's candidates among them)
    no_row = sorted(p.path for p in scan.problems if "no row of labels.tsv" in p.reason)
    assert no_row == [
        "images/Ann_Lee_0002.jpg",
        "images/Bo_Chan_0001.jpg",
        "images/Bo_Chan_0002.jpg",
        "images/Cy_0001.jpg",
        "images/facial-expressions_123k.jpg",
    ]


def test_labels_file_spec_errors_name_the_fix(tmp_path: Path) -> None:
    from pathfer.data.corpora import CorpusError

    write_photos(tmp_path)
    pd.DataFrame({"image": ["Cy_0001.jpg"], "emotion": ["anger"]}).to_csv(
        tmp_path / "legend.csv", index=False
    )
    spec = tmp_path / "s.yaml"
    spec.write_text('root: images\nglob: "*.jpg"\nlabels_file: legend.csv\n')
    with pytest.raises(CorpusError, match=r"no column 'label' \(its columns: 'image', 'emotion'\)"):
        scan_target(str(spec))
    spec.write_text('root: images\nglob: "*.jpg"\nlabel: {from: parent}\nlabels_file: legend.csv\n')
    with pytest.raises(CorpusError, match="either 'label' or 'labels_file'"):
        scan_target(str(spec))
    spec.write_text('root: images\nglob: "*.jpg"\nlabels_file: nothere.csv\n')
    with pytest.raises(CorpusError, match="nothere.csv does not exist"):
        scan_target(str(spec))


# -------------------------------------------------------- damaged videos and odd links


def test_truncated_and_looping_clips_are_reported(savee_root: Path, tmp_path: Path, capfd) -> None:
    dc = savee_root / "AudioVisualClip" / "DC"
    (dc / "f01.mpg").write_bytes(GRID[0].read_bytes()[:20_000])  # the first 20 KB of a clip
    cap = cv2.VideoCapture(str(GRID[1]))  # a whole MJPG clip, then cut to a third
    writer = cv2.VideoWriter(
        str(tmp_path / "whole.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (360, 288)
    )
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(frame)
    writer.release()
    data = (tmp_path / "whole.avi").read_bytes()
    (dc / "d01.avi").write_bytes(data[: len(data) // 3])
    os.symlink("n01.avi", dc / "n01.avi")  # a link to itself
    capfd.readouterr()
    scan = get_corpus("savee").scan(savee_root)
    report = _prep(scan, tmp_path / "cache", crop=CropSettings(detector="haar"))
    reasons = {p.path.rsplit("/", 1)[-1]: p.reason for p in report.skipped}
    assert set(reasons) == {"f01.mpg", "d01.avi", "n01.avi"}
    assert "ends early" in reasons["f01.mpg"] and "damaged frame" in reasons["f01.mpg"]
    assert "ends early" in reasons["d01.avi"] and "of the 75 frames" in reasons["d01.avi"]
    assert "symbolic link loop" in reasons["n01.avi"]
    assert report.n_clips == 6
    out, err = capfd.readouterr()
    assert "@ 0x" not in out + err and "damaged" not in out + err  # FFmpeg kept quiet


def test_folder_link_loop_is_walked_once(tmp_path: Path) -> None:
    root = build_enterface(tmp_path / "ent")
    before = get_corpus("enterface").scan(root)
    os.symlink("..", root / "subject 1" / "anger" / "loop")  # subject 1/anger/loop -> ..
    os.symlink(root / "subject 1", root / "subject 1 again")
    scan = get_corpus("enterface").scan(root)
    assert [c.clip_id for c in scan.clips] == [c.clip_id for c in before.clips]
    ignored = {p.path: p.reason for p in scan.ignored}
    assert len(ignored) == 2
    assert "loop" in ignored["subject 1/anger/loop"]
    assert "second way into folder 'subject 1'" in ignored["subject 1 again"]


def test_spec_glob_uses_each_file_once(tmp_path: Path) -> None:
    root = build_savee(tmp_path / "sv") / "AudioVisualClip"
    os.symlink(root / "DC", root / "DC2")
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f'root: {root}\nglob: "*/*.*"\nlabel: {{from: regex}}\nregex: "(?P<label>[a-z]+)0"\n'
        "labels: {a: anger, h: happiness, sa: sadness}\nsubject: {from: parent}\n"
    )
    scan = scan_target(str(spec))
    assert sorted(c.clip_id for c in scan.clips) == [
        "DC/a01.avi",
        "DC/h02.mpg",
        "DC/sa01.avi",
        "JE/a02.mpg",
        "JE/h01.avi",
        "JE/sa02.mpg",
    ]
    assert sorted(p.path for p in scan.ignored) == ["DC2/a01.avi", "DC2/h02.mpg", "DC2/sa01.avi"]


def test_cli_says_once_when_the_default_detector_falls_back(
    savee_root: Path, tmp_path: Path, monkeypatch
) -> None:
    from pathfer.data.faces import detect

    monkeypatch.setattr(detect, "yunet_available", lambda: False)
    monkeypatch.setattr(detect, "_warned_fallback", False)
    out = tmp_path / "cache"
    args = ["prepare", "savee", str(savee_root), "-o", str(out), "-n", "2", "-q"]
    res = runner.invoke(app, [*args, "--executor", "inline", "--labels", "anger"])
    assert res.exit_code == 0, res.output
    assert res.output.count("using 'haar'") == 1 and "pip install yuface" in res.output
    assert "faces: detector haar, tracked in videos" in res.output
    [folder] = out.iterdir()
    assert json.loads((folder / "settings.json").read_text())["crop"]["detector"] == "haar"


def test_plan_preparation_resolves_target_labels_executor_and_corpus_detector(
    tmp_path: Path,
) -> None:
    from pathfer.data.datasets import default_cache_root
    from pathfer.data.datasets.pipeline import plan_preparation

    write_crops(tmp_path / "faces")
    spec = tmp_path / "crops.yaml"
    spec.write_text(CROPS_SPEC + "detector: none\n")
    haar = CropSettings(detector="haar", margin=0.3)
    plan = plan_preparation(str(spec), crop=haar, labels=["anger"], executor="inline")
    assert plan.scan.labels == ["anger"] and plan.executor == "inline"
    assert plan.corpus_detector and plan.crop == CropSettings(detector="none")
    assert plan.cache_root == default_cache_root()
    same = plan_preparation(str(spec), crop=CropSettings(detector="none"), cache_root=tmp_path)
    assert not same.corpus_detector and same.cache_root == tmp_path
    with pytest.raises(ValueError, match="unknown executor 'slurm'"):
        plan_preparation(str(spec), crop=haar, executor="slurm")
    with pytest.raises(ValueError, match="--workers must be >= 1"):
        plan_preparation(str(spec), crop=haar, workers=0)
