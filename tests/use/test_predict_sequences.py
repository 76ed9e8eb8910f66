"""Folders of frames as sequences (``predict --sequence``, ``predict_sequence``) with their
mean and peak clip scores; the summary table in an 80-column terminal; track ids across
frames; landmark columns; labels that do not hide each other on a group photo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from pathfer.cli import app
from pathfer.cli.predict import _summary_table
from pathfer.data.faces import yunet_available
from pathfer.data.video import VideoError, iter_frames
from pathfer.use.predict import Recognizer
from pathfer.use.predict.annotate import _overlap, draw, label_box
from pathfer.use.predict.columns import landmark_columns
from pathfer.use.predict.results import PredictWarning, peak_row, summarize
from pathfer.use.predict.tracks import IouTracker

GRID = Path(__file__).parents[1] / "media" / "grid"
CLIP = sorted(GRID.glob("*.mpg"))[0]


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [f for _, _, f in iter_frames(CLIP, every=8)]  # 10 frames


@pytest.fixture(scope="module")
def folder(frames, tmp_path_factory) -> Path:
    """A GRID clip written as a CK+-style folder of frames (numbered without padding, so
    name order needs numbers compared as numbers)."""
    root = tmp_path_factory.mktemp("seq") / "S005_001"
    root.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(root / f"frame{i}.png"), f)
    return root


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer.from_bundle(detector="haar")


def test_a_folder_of_frames_is_one_sequence(rec, frames, folder):
    df = rec.predict_sequence(folder)
    assert df["file"].unique().tolist() == [str(folder)]
    assert df["frame"].tolist() == list(range(10)) and df["face"].all()
    # the same frames in memory, as one clip, give the same rows
    same = rec.predict_frames(frames)
    np.testing.assert_array_equal(df[rec.labels].to_numpy(), same[rec.labels].to_numpy())
    s = summarize(df, peak=True)
    assert len(s) == 1
    main = df[df["face_index"] == 0]
    assert s["top_emotion"].iloc[0] == main[rec.labels].mean().idxmax()  # the mean score
    others = [c for c in rec.labels if c != "neutral"]
    k = int(main[others].max(axis=1).to_numpy().argmax())
    assert s["peak_frame"].iloc[0] == main["frame"].iloc[k]
    assert s["peak_emotion"].iloc[0] == main[others].iloc[k].idxmax() != "neutral"
    assert s["peak_prob"].iloc[0] == main[others].iloc[k].max()
    assert (
        s[[f"peak_{c}" for c in rec.labels]].iloc[0].tolist() == main[rec.labels].iloc[k].tolist()
    )


def test_the_peak_is_the_frame_furthest_from_neutral():
    labels = ["anger", "happiness", "neutral"]
    main = pd.DataFrame(
        [[0.05, 0.05, 0.9], [0.2, 0.1, 0.7], [0.45, 0.05, 0.5], [0.3, 0.1, 0.6]],
        columns=labels,
    )
    assert peak_row(main, labels) == (2, "anger", 0.45)  # the mean says neutral
    assert peak_row(main.iloc[:0], labels) is None


def test_predict_sequence_on_the_command_line(folder, tmp_path):
    out, summary = tmp_path / "rows.csv", tmp_path / "clip.csv"
    r = CliRunner().invoke(
        app,
        ["predict", str(folder), "--sequence", "--detector", "haar", "-o", str(out)]
        + ["--summary", str(summary)],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    assert len(pd.read_csv(out)) == 10
    s = pd.read_csv(summary)
    assert len(s) == 1 and {"top_emotion", "peak_emotion", "peak_frame"} <= set(s.columns)
    assert "mean" in r.output and "peak (frame)" in r.output
    bad = CliRunner().invoke(app, ["predict", str(folder / "frame0.png"), "--sequence"])
    assert bad.exit_code == 2 and "--sequence takes folders" in bad.output


def test_the_summary_table_keeps_its_values_whole_in_80_columns(rec, folder):
    df = rec.predict_sequence(folder)
    for peak in (False, True):
        summary = summarize(df, peak=peak)
        console = Console(width=80, record=True)
        console.print(_summary_table(summary, rec.labels, "pathfer predict", width=80))
        text = console.export_text()
        assert "…" not in text and all(len(line) <= 80 for line in text.splitlines())
        assert f"{summary['top_prob'].iloc[0]:.2f}" in text
    wide = Console(width=200, record=True)
    wide.print(_summary_table(summarize(df), rec.labels, "t", width=200))
    assert "happiness" in wide.export_text() and "…" not in wide.export_text()


def test_track_ids_follow_faces_across_frames(rec, frames):
    df = rec.predict_frames(frames)
    assert (df["track_id"] == 0).all()  # one face, one track
    # two copies of the face side by side, swapped in order: each keeps its id
    pair = [np.hstack([f, f[:, ::-1]]) for f in frames[:4]]
    both = Recognizer.from_bundle(detector="haar", track=False).predict_frames(pair, all_faces=True)
    assert both.groupby("frame")["track_id"].apply(sorted).tolist() == [[0, 1]] * 4
    left = both[both["x"] < frames[0].shape[1]]
    assert left["track_id"].nunique() == 1


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 500), st.integers(0, 500), st.integers(20, 80)),
        min_size=1,
        max_size=5,
        unique_by=lambda b: (b[0] // 100, b[1] // 100),
    ),
    st.permutations(range(5)),
)
def test_iou_tracker_keeps_ids_of_still_boxes_in_any_order(boxes, order):
    boxes = [(x, y, s, s) for x, y, s in boxes]
    tracker = IouTracker()
    first = dict(zip(boxes, tracker.update(boxes), strict=True))
    assert len(set(first.values())) == len(boxes)  # one id per face within a frame
    shuffled = [boxes[i] for i in order if i < len(boxes)]
    again = dict(zip(shuffled, tracker.update(shuffled), strict=True))
    for b in boxes:  # a box that stays put keeps its id unless another overlaps it more
        assert again[b] == first[b] or any(o != b and _iou(o, b) > 0 for o in boxes), (
            boxes,
            first,
            again,
        )


def _iou(a, b):
    from pathfer.use.predict.tracks import iou

    return iou(a, b)


@pytest.mark.skipif(not yunet_available(), reason="needs YuNet (yuface)")
def test_landmarks_are_columns_where_the_detector_gives_them(frames):
    df = Recognizer.from_bundle(detector="yunet").predict(frames[0])
    cols = landmark_columns()
    assert cols[:2] == ["right_eye_x", "right_eye_y"] and list(df.columns[-10:]) == cols
    x, y, w, h = (int(df[c].iloc[0]) for c in ("x", "y", "w", "h"))
    pts = df[cols].to_numpy(float).reshape(5, 2)
    assert ((pts[:, 0] > x) & (pts[:, 0] < x + w) & (pts[:, 1] > y) & (pts[:, 1] < y + h)).all()
    assert pts[0, 0] < pts[1, 0]  # the subject's right eye is on the image's left
    assert "right_eye_x" not in Recognizer.from_bundle(detector="haar").predict(frames[0])


def test_labels_on_a_group_photo_do_not_overlap():
    img = np.zeros((300, 600, 3), np.uint8)
    boxes = [(20 + 70 * i, 5 + 30 * (i % 2), 80, 90) for i in range(7)]  # touching faces
    placed: list[tuple[int, int, int, int]] = []
    for b in boxes:
        rect = label_box(img.shape, b, "happiness 0.97", 0.5, 1, placed)
        assert 0 <= rect[0] and rect[2] <= 600 and 0 <= rect[1] and rect[3] <= 300
        placed.append(rect)
    assert not any(_overlap(a, b) for i, a in enumerate(placed) for b in placed[i + 1 :])
    # above the box where there is room
    assert label_box(img.shape, (100, 150, 80, 80), "anger 0.50", 0.5, 1)[3] <= 150
    rows = [
        (("f", 0, 0.0, i, i, *b, np.nan, True, None), np.eye(7)[i % 7]) for i, b in enumerate(boxes)
    ]
    draw(img, rows, ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"])
    assert img.any()


def test_an_unreadable_frame_is_skipped_and_its_sequence_kept(rec, frames, tmp_path):
    seq = tmp_path / "S010_002"
    seq.mkdir()
    for i, f in enumerate(frames[:4]):
        cv2.imwrite(str(seq / f"frame{i}.png"), f)
    (seq / "frame2.png").write_bytes(b"not a png")  # a frame the copy damaged
    with pytest.warns(PredictWarning, match=r"frame2\.png: not a readable image.*goes on"):
        df = rec.predict_sequence(seq)
    assert df["frame"].tolist() == [0, 1, 3] and df["face"].all()
    assert [Path(f).name for f, _ in df.attrs["skipped"]] == ["frame2.png"]
    # the command line says which frame it left out and keeps the sequence's rows
    out = tmp_path / "rows.csv"
    args = ["predict", str(seq), "--sequence", "--detector", "haar", "-o", str(out), "-q"]
    r = CliRunner().invoke(app, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "frame2.png: not a readable image" in r.output and "skipped" in r.output
    assert pd.read_csv(out)["frame"].tolist() == [0, 1, 3]


def test_a_sequence_with_no_readable_frame_is_refused_clearly(rec, folder, tmp_path):
    seq = tmp_path / "S011_001"
    seq.mkdir()
    for name in ("a.png", "b.jpg"):
        (seq / name).write_bytes(b"\x00" * 64)
    with pytest.raises(VideoError, match=r"none of its 2 frames could be read.*: a\.png: not"):
        rec.predict_sequence(seq)
    r = CliRunner().invoke(app, ["predict", str(seq), "--sequence", "--detector", "haar", "-q"])
    assert r.exit_code == 2 and "none of its 2 frames could be read" in r.output
    assert "warning" not in r.output  # said once, as the error
    # beside a readable sequence it is skipped, and the readable one is predicted
    args = ["predict", str(seq), str(folder), "--sequence", "--detector", "haar", "-q"]
    r = CliRunner().invoke(app, args + ["-o", str(tmp_path / "r.csv")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "S011_001: none of its 2 frames" in r.output.replace("\n", "")
    assert pd.read_csv(tmp_path / "r.csv")["file"].unique().tolist() == [str(folder)]
