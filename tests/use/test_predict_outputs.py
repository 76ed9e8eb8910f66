"""What predict leaves behind: the Predictions frame's helpers, the timeline PNG, result
files, H.264 video, labels inside the frame, write checks, partial results on Ctrl-C."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pytest

from pathfer.data.video import VideoSink, VideoWriteWarning, iter_frames
from pathfer.data.video import write as write_mod
from pathfer.use.predict import PredictInterrupted, Predictions, Recognizer
from pathfer.use.predict import recognizer as recognizer_mod
from pathfer.use.predict.annotate import label_box
from pathfer.use.predict.results import check_writable
from pathfer.use.predict.timeline import EMOTION_COLOURS

GRID = Path(__file__).parents[1] / "media" / "grid"
CLIPS = sorted(GRID.glob("*.mpg"))


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer.from_bundle()


@pytest.fixture(scope="module")
def two(rec) -> Predictions:
    return rec.predict([CLIPS[0], CLIPS[3]], every=3)


def test_predictions_frame_helpers(two, tmp_path):
    assert isinstance(two, Predictions) and isinstance(two.head(3), Predictions)
    assert isinstance(two[two["frame"] > 10], Predictions)
    assert two.labels == list(EMOTION_COLOURS)[:7]
    s = two.summary()
    assert s["file"].tolist() == [str(CLIPS[0]), str(CLIPS[3])] and (s["frames"] == 25).all()
    path = two.to_file(tmp_path / "rows.json")
    back = pd.DataFrame(json.loads(path.read_text()))
    assert len(back) == 50 and list(back.columns) == list(two.columns)
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically, nothing left beside it


def test_timeline_png_one_panel_per_input_with_shading(two, tmp_path):
    fig = two.plot_timeline(tmp_path / "t.png")
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (s)" and ax.get_ylim() == (0.0, 1.0)
    assert len(ax.get_lines()) == 7  # one line per emotion
    assert ax.get_xlim() == pytest.approx((0.0, 72 / 25))
    img = cv2.imread(str(tmp_path / "t.png"))
    assert img is not None and img.shape[1] > 1000
    # the neutral line is drawn in its colour and the neutral top emotion shades the panel
    grey = np.array([0x7F, 0x7F, 0x7F])
    assert (np.abs(img.astype(int) - grey).sum(2) < 12).sum() > 500
    one = two.plot_timeline(file=str(CLIPS[3]))
    assert len(one.axes) == 1 and one.axes[0].get_title(loc="left") == CLIPS[3].name
    with pytest.raises(ValueError, match="not in the results"):
        two.plot_timeline(file="other.mp4")


def test_timeline_without_times_uses_frames_and_hatches_no_face(rec, tmp_path):
    frames = [f for _, _, f in iter_frames(CLIPS[1], every=10)]
    frames[3] = np.full_like(frames[3], 90)  # a frame without a face
    df = rec.predict(frames)
    assert not df["face"].iloc[3]
    fig = df.plot_timeline(tmp_path / "f.png")
    assert fig.axes[0].get_xlabel() == "frame"
    assert any(c.get_hatch() == "///" for c in fig.axes[0].collections)


def test_label_stays_inside_the_frame_at_every_edge():
    shape = (288, 360, 3)
    text = "happiness 0.99"
    for box in [(0, 0, 100, 100), (300, 0, 60, 60), (340, 250, 40, 38), (-5, -5, 50, 50)]:
        x0, y0, x1, y1 = label_box(shape, box, text, 0.48, 1)
        assert 0 <= x0 < x1 <= 360 and 0 <= y0 < y1 <= 288, box
        assert x1 - x0 > 100  # the whole text fits, not clipped


def test_h264_video_through_pyav_with_odd_size(tmp_path):
    frames = [np.full((121, 161, 3), 20 * i, np.uint8) for i in range(10)]
    with VideoSink(tmp_path / "v.mp4", 12.5) as sink:
        for f in frames:
            sink.write(f)
    assert sink.codec == "h264" and sink.path == tmp_path / "v.mp4"
    with av.open(str(sink.path)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.average_rate == 12.5
        decoded = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(decoded) == 10 and decoded[0].shape == (122, 162, 3)  # padded to even sides
    assert abs(int(decoded[5][60, 80, 0]) - 100) <= 8  # lossy, limited-range YUV


def test_without_h264_falls_back_to_mp4v_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(write_mod, "h264_encoder", lambda: None)
    with pytest.warns(VideoWriteWarning, match="no H.264 encoder.*pip install av"):
        sink = VideoSink(tmp_path / "v.mp4", 25)
        sink.write(np.zeros((64, 64, 3), np.uint8))
        sink.close()
    assert sink.codec == "mp4v"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # .avi asks for MJPG: no warning
        with VideoSink(tmp_path / "v.avi", 25) as avi:
            avi.write(np.zeros((64, 64, 3), np.uint8))
    assert avi.codec == "MJPG"


def test_check_writable(tmp_path):
    assert check_writable(tmp_path / "new" / "deeper" / "r.csv")  # folders will be created
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="file.txt is a file, not a folder"):
        check_writable(blocker / "r.csv")
    with pytest.raises(ValueError, match="is a folder"):
        check_writable(tmp_path)
    with pytest.raises(ValueError, match="is a file; give a folder"):
        check_writable(blocker, folder=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway")
def test_check_writable_read_only_folder(tmp_path):  # pragma: no cover - non-root only
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(ValueError, match="cannot write in"):
            check_writable(ro / "r.csv")
    finally:
        ro.chmod(0o755)


def _interrupt_after(n: int, monkeypatch) -> None:
    real = recognizer_mod.iter_frames

    def frames(path, every=1, **kwargs):
        for k, item in enumerate(real(path, every=every, **kwargs)):
            if k == n:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(recognizer_mod, "iter_frames", frames)


def test_ctrl_c_keeps_the_rows_done(rec, monkeypatch, tmp_path):
    _interrupt_after(40, monkeypatch)
    with pytest.raises(PredictInterrupted) as info:
        rec.predict_video(CLIPS[0], batch_size=16)
    assert info.value.partial["frame"].tolist() == list(range(40))  # pending batch kept too
    with pytest.raises(PredictInterrupted) as info:
        rec.predict([CLIPS[1], CLIPS[0]], annotate=tmp_path / "ann")
    part = info.value.partial
    assert part.attrs["interrupted"] and part["file"].value_counts().to_dict() == {
        str(CLIPS[1]): 40
    }
    # the annotated video of the interrupted file is closed and playable
    cap = cv2.VideoCapture(str(tmp_path / "ann" / f"{CLIPS[1].stem}.annotated.mp4"))
    n = 0
    while cap.grab():
        n += 1
    assert n == 40


def test_timeline_shades_single_frame_runs():
    """A top emotion that lasts one frame gets its own visible stretch (half-way to each
    neighbour), as wide as any other frame's."""
    from pathfer.use.predict.timeline import _edges, _spans

    x = np.array([0.0, 0.2, 0.4, 0.6, 0.8])
    edges = _edges(x)
    assert _spans(np.array([False, True, False, False, True]), edges) == [
        (pytest.approx(0.1), pytest.approx(0.2)),
        (pytest.approx(0.7), pytest.approx(0.1)),
    ]
    assert _spans(np.array([True] * 5), edges) == [(0.0, pytest.approx(0.8))]
