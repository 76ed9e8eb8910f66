"""Folders of frames as clips (CK+ style), labelled by folder, regex, CSV or per-clip file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import grid

from pathfer.data import synthetic
from pathfer.data.corpora import CorpusError, scan_target
from pathfer.data.corpora.sequences import decode_sequence, numeric_code
from pathfer.data.datasets import FaceDataset, prepare_corpus
from pathfer.data.faces import CropSettings
from pathfer.data.video import FrameSampling, iter_frames

#: CK+'s emotion codes
CKPLUS = (
    "{0: neutral, 1: anger, 2: contempt, 3: disgust, 4: fear, 5: happiness, 6: sadness, "
    "7: surprise}"
)


def _frames_of(video: Path, n: int) -> list[np.ndarray]:
    return [f for _, _, f in iter_frames(video)][:n]


def _write_sequence(folder: Path, frames: list[np.ndarray], prefix: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames, start=1):  # 1..N: name order 2 < 10 must hold
        cv2.imwrite(str(folder / f"{prefix}_{i:d}.png"), f)


@pytest.fixture(scope="module")
def ckplus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``CK+/cohn-kanade-images/<S>/<NNN>/*.png`` and ``CK+/Emotion/<S>/<NNN>/*_emotion.txt``:
    two GRID subjects and a synthetic one; S010/002 has no label file (unlabelled)."""
    top = tmp_path_factory.mktemp("ck")
    synth = synthetic.make_savee(
        top / "synth", speakers=("DC",), clips_per_emotion=1, frames=12, seed=3
    )
    clips = {
        ("S005", "001", 1.0): _frames_of(grid(0), 11),  # 11 frames: natural order matters
        ("S005", "002", 5.0): _frames_of(grid(1), 6),
        ("S010", "001", 7.0): _frames_of(grid(2), 6),
        ("S010", "002", None): _frames_of(grid(3), 6),
        ("S099", "003", 6.0): _frames_of(synth / "AudioVisualClip" / "DC" / "sa1.avi", 12),
    }
    for (subject, seq, code), frames in clips.items():
        _write_sequence(
            top / "CK+" / "cohn-kanade-images" / subject / seq, frames, f"{subject}_{seq}"
        )
        if code is not None:
            emo = top / "CK+" / "Emotion" / subject / seq
            emo.mkdir(parents=True)
            (emo / f"{subject}_{seq}_00000011_emotion.txt").write_text(f"   {code:.7e}\n")
    return top


def _spec(top: Path, body: str) -> str:
    path = top / "ck.yaml"
    path.write_text(body)
    return str(path)


def test_ckplus_label_files_make_one_clip_per_folder(ckplus: Path, tmp_path: Path) -> None:
    spec = _spec(
        ckplus,
        "name: ckplus\nroot: CK+/cohn-kanade-images\nglob: '*/*/*.png'\nsequences: true\n"
        "label: {from: label_file, path: '../Emotion/{clip}/*_emotion.txt'}\n"
        f"labels: {CKPLUS}\n",
    )
    scan = scan_target(spec)
    got = {c.clip_id: (c.label, c.subject, c.code, len(c.frames)) for c in scan.clips}
    assert got == {
        "S005/001": ("anger", "S005", "1", 11),
        "S005/002": ("happiness", "S005", "5", 6),
        "S010/001": ("surprise", "S010", "7", 6),
        "S099/003": ("sadness", "S099", "6", 12),
    }
    names = [f.name for f in scan.clips[0].frames]
    assert names[:3] == ["S005_001_1.png", "S005_001_2.png", "S005_001_3.png"]
    assert names[-1] == "S005_001_11.png"
    (unlabelled,) = scan.ignored
    assert unlabelled.path == "S010/002" and "no label file matches" in unlabelled.reason

    sampling = FrameSampling(n=4)
    report = prepare_corpus(
        scan,
        tmp_path / "cache",
        sampling,
        CropSettings(detector="haar"),
        workers=1,
        progress=False,
    )
    assert report.n_clips == 4 and not report.skipped
    ds = FaceDataset.load(report.path)
    per_clip = ds.manifest.groupby("clip_id")
    assert set(per_clip.groups) == set(got)
    assert (per_clip.size() == 4).all()  # sampled like a video: 4 of each folder's frames
    first = ds.manifest[ds.manifest.clip_id == "S005/001"]
    assert list(first.frame_index) == [1, 4, 6, 9]  # centres of 4 segments of 11 frames
    assert set(first.label) == {"anger"} and set(first.subject) == {"S005"}


def test_sequence_labels_from_folder_regex_and_csv(ckplus: Path) -> None:
    root = ckplus / "CK+" / "cohn-kanade-images"
    # the folder holding each sequence folder: S005/001 -> label "S005" mapped to anger
    by_parent = scan_target(
        _spec(
            ckplus,
            f"root: {root}\nglob: '*/*/*.png'\nsequences: true\nlabel: {{from: parent}}\n"
            "subject: {from: none}\nlabels: {s005: anger, s010: fear, s099: sadness}\n",
        )
    )
    assert {c.clip_id: c.label for c in by_parent.clips}["S010/002"] == "fear"
    assert len(by_parent.clips) == 5
    by_regex = scan_target(
        _spec(
            ckplus,
            f"root: {root}\nglob: '*/*/*.png'\nsequences: true\nlabel: {{from: regex}}\n"
            r"regex: '(?P<subject>S\d+)/(?P<label>\d+)$'" + "\n"
            "labels: {'001': anger, '002': happiness, '003': sadness}\n",
        )
    )
    assert {c.clip_id: (c.label, c.subject) for c in by_regex.clips}["S010/002"] == (
        "happiness",
        "S010",
    )
    csv = ckplus / "seq.csv"
    csv.write_text("image,label\nS005/001,anger\nS010/001,surprise\n")
    by_csv = scan_target(
        _spec(
            ckplus,
            f"root: {root}\nglob: '*/*/*.png'\nsequences: true\n"
            f"labels_file: {{path: {csv}}}\nsubject: {{from: parent}}\n",
        )
    )
    assert {c.clip_id: c.label for c in by_csv.clips} == {
        "S005/001": "anger",
        "S010/001": "surprise",
    }
    assert {p.path for p in by_csv.errors} == {"S005/002", "S010/002", "S099/003"}


def test_label_file_pattern_errors_name_the_field(ckplus: Path) -> None:
    with pytest.raises(CorpusError, match=r"uses \{speaker\}; allowed fields"):
        scan_target(
            _spec(
                ckplus,
                "root: CK+/cohn-kanade-images\nglob: '*/*/*.png'\nsequences: true\n"
                "label: {from: label_file, path: '../Emotion/{speaker}/*.txt'}\n",
            )
        )


def test_sequence_frames_of_different_sizes_are_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "1.png", tmp_path / "2.png"
    cv2.imwrite(str(a), np.zeros((20, 30, 3), np.uint8))
    cv2.imwrite(str(b), np.zeros((30, 30, 3), np.uint8))
    with pytest.raises(Exception, match="frames differ in size"):
        decode_sequence([a, b], FrameSampling(mode="all"))


def test_numeric_codes() -> None:
    assert numeric_code("3.0000000e+00") == "3" and numeric_code("happy") == "happy"
    assert numeric_code("2.5") == "2.5" and numeric_code("nan") == "nan"
