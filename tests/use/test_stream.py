"""``Recognizer.stream``: rows as frames arrive, from a generator of GRID frames, a file, and
a camera index (OpenCV's capture replaced by one that serves GRID frames); the live loop."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from pathfer.data.video import VideoError, iter_frames
from pathfer.use.predict import PredictInterrupted, Predictions, Recognizer, sources
from pathfer.use.predict import live as live_mod
from pathfer.use.predict.live import CsvRows, has_display, run_live

GRID = Path(__file__).parents[1] / "media" / "grid"
CLIPS = sorted(GRID.glob("*.mpg"))


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer.from_bundle()


class FakeCamera:
    """Stands in for ``cv2.VideoCapture(index)``: serves a GRID clip's frames."""

    opened: list = []
    clip: list = []  # filled before cv2.VideoCapture is replaced (it reads the clip)

    def __init__(self, source, *args):
        self.source = source
        self.frames = list(FakeCamera.clip)
        self.released = False
        FakeCamera.opened.append(self)

    def isOpened(self):  # noqa: N802 - OpenCV's name
        return self.source == 0

    def read(self):
        if not self.frames:
            return False, None
        return True, self.frames.pop(0)

    def grab(self):
        return bool(self.frames) and self.frames.pop(0) is not None

    def release(self):
        self.released = True


def test_stream_yields_each_frame_as_it_arrives(rec):
    pulled = []

    def grid_frames():
        for i, _, f in iter_frames(CLIPS[0], every=5):
            pulled.append(i)
            yield f

    seen = []
    for rows in rec.stream(grid_frames(), fps=5.0):
        assert isinstance(rows, Predictions) and len(rows) == 1
        seen.append(rows)
        # nothing is read ahead: each frame's rows come before the next frame is pulled
        assert len(pulled) == len(seen)
    assert len(seen) == 15
    streamed = pd.concat(seen, ignore_index=True)
    batch = rec.predict_frames([f for _, _, f in iter_frames(CLIPS[0], every=5)], fps=5.0)
    np.testing.assert_allclose(
        streamed[rec.labels].to_numpy(float), batch[rec.labels].to_numpy(float), atol=1e-6
    )
    assert streamed[["x", "y", "w", "h"]].equals(batch[["x", "y", "w", "h"]])
    assert streamed["time_s"].tolist() == pytest.approx(np.arange(15) / 5.0)


def test_stream_a_file_and_a_camera(rec, monkeypatch):
    from_file = list(rec.stream(CLIPS[2], every=5))
    assert [int(r["frame"].iloc[0]) for r in from_file] == list(range(0, 75, 5))
    FakeCamera.clip = [f for _, _, f in iter_frames(CLIPS[2], every=5)]
    monkeypatch.setattr(sources.cv2, "VideoCapture", FakeCamera)
    FakeCamera.opened.clear()
    from_camera = list(rec.stream(0))
    assert len(from_camera) == 15 and FakeCamera.opened[0].released
    cam = pd.concat(from_camera, ignore_index=True)
    assert set(cam["file"]) == {"camera:0"} and cam["face"].all()
    assert cam["time_s"].is_monotonic_increasing and cam["time_s"].iloc[0] == 0.0
    fil = pd.concat(from_file, ignore_index=True)
    np.testing.assert_allclose(cam[rec.labels].to_numpy(float), fil[rec.labels].to_numpy(float))
    with pytest.raises(VideoError, match="camera 3: cannot be opened"):
        next(rec.stream(3))


def test_stream_bad_sources(rec, tmp_path):
    with pytest.raises(VideoError, match="nope.mp4: file not found"):
        next(rec.stream(tmp_path / "nope.mp4"))
    with pytest.raises(TypeError, match="use predict"):
        next(rec.stream(np.zeros((10, 10, 3), np.uint8)))


def test_live_without_a_display_writes_csv_rows(rec, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not has_display()
    out = io.StringIO()
    df = run_live(rec, CLIPS[1], every=5, on_rows=CsvRows(out), max_frames=4)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("file,frame,time_s") and len(lines) == 1 + 4
    back = pd.read_csv(io.StringIO(out.getvalue()))
    assert back["frame"].tolist() == [0, 5, 10, 15] == df["frame"].tolist()


def test_live_window_stops_on_q_and_ctrl_c_keeps_rows(rec, monkeypatch):
    shown = []
    keys = iter([-1, -1, ord("q")])
    monkeypatch.setattr(live_mod.cv2, "imshow", lambda name, img: shown.append(img.copy()))
    monkeypatch.setattr(live_mod.cv2, "waitKey", lambda ms: next(keys))
    monkeypatch.setattr(live_mod.cv2, "destroyAllWindows", lambda: None)
    df = run_live(rec, CLIPS[1], window=True)
    assert len(shown) == 3 and len(df) == 3
    raw = next(iter_frames(CLIPS[1]))[2]
    assert (shown[0] != raw).any(axis=2).sum() > 500  # the box and label were drawn

    def interrupted():
        for i, (_, _, f) in enumerate(iter_frames(CLIPS[1])):
            if i == 6:
                raise KeyboardInterrupt
            yield f

    with pytest.raises(PredictInterrupted) as info:
        run_live(rec, interrupted())
    assert info.value.partial["frame"].tolist() == list(range(6))


def test_headless_opencv_has_no_window(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":99")

    def no_gui(*a):
        raise cv2.error("The function is not implemented")

    monkeypatch.setattr(live_mod.cv2, "namedWindow", no_gui)
    assert not has_display()
