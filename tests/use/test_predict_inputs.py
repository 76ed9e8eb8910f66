"""``Recognizer.predict(x)``: one call for every input kind, the same columns for each, on
real GRID frames; workers and progress on many files."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from pathfer.data.video import VideoError, iter_frames
from pathfer.use.predict import BASE_COLUMNS, Predictions, Recognizer, predict_paths
from pathfer.use.predict.progress import frame_progress

GRID = Path(__file__).parents[1] / "media" / "grid"
CLIPS = sorted(GRID.glob("*.mpg"))


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    # Haar: it sees a grey frame as the colour one (YuNet boxes a grey face a little apart)
    return Recognizer.from_bundle(detector="haar", track=False)


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [f for _, _, f in iter_frames(CLIPS[1], every=15)]  # 5 BGR frames


@pytest.fixture(scope="module")
def ref(rec, frames) -> Predictions:
    return rec.predict_frames(frames)


def _probs(df) -> np.ndarray:
    return df[df.labels].to_numpy(float)


def test_every_call_form_gives_the_same_columns_and_numbers(rec, frames, ref, tmp_path):
    bgr = frames[0]
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    png = tmp_path / "face.png"
    cv2.imwrite(str(png), bgr)
    columns = [*BASE_COLUMNS, *rec.labels, "top_emotion", "top_prob"]
    one = {
        "path": rec.predict(str(png)),
        "Path": rec.predict(png),
        "bgr array": rec.predict(bgr),
        "rgb array": rec.predict(rgb, color="rgb"),
        "rgba array": rec.predict(cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA), color="rgb"),
        "PIL RGB": rec.predict(Image.fromarray(rgb)),
    }
    for form, df in one.items():
        assert isinstance(df, Predictions), form
        assert list(df.columns) == columns, form
        assert len(df) == 1 and df["face"].all(), form
        np.testing.assert_allclose(_probs(df), _probs(ref)[:1], atol=1e-6, err_msg=form)
    assert one["bgr array"]["time_s"].tolist() == [0.0]
    # grey input: the same face, through the same grey crop
    for form, df in {
        "grey array": rec.predict(grey),
        "grey (H, W, 1)": rec.predict(grey[:, :, None]),
        "PIL L": rec.predict(Image.fromarray(grey)),
    }.items():
        assert list(df.columns) == columns, form
        np.testing.assert_allclose(_probs(df), _probs(ref)[:1], atol=1e-6, err_msg=form)
    many = {
        "list of arrays": rec.predict(frames, fps=25 / 15),
        "generator": rec.predict((f for f in frames), fps=25 / 15),
        "stack (N, H, W, 3)": rec.predict(np.stack(frames), fps=25 / 15),
        "list of PIL": rec.predict([Image.fromarray(f[:, :, ::-1]) for f in frames], fps=25 / 15),
        "grey stack": rec.predict(
            np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]), color="grey"
        ),
    }
    for form, df in many.items():
        assert list(df.columns) == columns, form
        assert df["frame"].tolist() == list(range(5)), form
        np.testing.assert_allclose(_probs(df), _probs(ref), atol=1e-6, err_msg=form)
    assert many["generator"]["time_s"].tolist() == pytest.approx([0, 0.6, 1.2, 1.8, 2.4])
    assert many["grey stack"]["time_s"].isna().all()  # no fps given


def test_rgb_read_as_bgr_differs(rec, frames, ref):
    """The colour order matters: the old API silently read RGB as BGR."""
    rgb = np.ascontiguousarray(frames[0][:, :, ::-1])
    wrong = rec.predict(rgb)  # default color="bgr"
    right = rec.predict(rgb, color="rgb")
    np.testing.assert_allclose(_probs(right), _probs(ref)[:1], atol=1e-6)
    assert np.abs(_probs(wrong) - _probs(right)).max() > 1e-3


def test_paths_every_and_a_plain_string(rec, tmp_path):
    one = rec.predict(str(CLIPS[0]), every=25)
    assert one["frame"].tolist() == [0, 25, 50] and set(one["file"]) == {str(CLIPS[0])}
    # a plain string is one input, not a sequence of characters
    again = predict_paths(str(CLIPS[0]), rec, every=25)
    assert again["file"].tolist() == one["file"].tolist()
    several = rec.predict([CLIPS[0], str(CLIPS[1])], every=25)
    assert several["file"].unique().tolist() == [str(CLIPS[0]), str(CLIPS[1])]
    folder = rec.predict(GRID, every=25)
    assert sorted(folder["file"].unique()) == sorted(str(c) for c in CLIPS)
    glob = rec.predict(str(GRID / "[bl]*.mpg"), every=25)
    assert len(glob["file"].unique()) == 2
    with pytest.raises(VideoError, match="missing.mp4: file not found"):
        rec.predict(tmp_path / "missing.mp4")


@pytest.mark.parametrize(
    ("x", "kwargs", "error", "match"),
    [
        (np.zeros((10, 10, 3), np.float32), {}, ValueError, "dtype float32.*uint8"),
        (np.zeros((10, 10, 2), np.uint8), {}, ValueError, r"shape \(10, 10, 2\)"),
        (np.zeros((2, 2, 2, 2, 3), np.uint8), {}, ValueError, "shape"),
        (np.zeros((10, 10, 3), np.uint8), {"color": "hsv"}, ValueError, "bgr, rgb, grey"),
        (0, {}, TypeError, "stream"),
        (3.5, {}, TypeError, "cannot predict on float"),
    ],
)
def test_bad_inputs_say_what_to_pass(rec, x, kwargs, error, match):
    with pytest.raises(error, match=match):
        rec.predict(x, **kwargs)


def test_workers_give_the_same_rows_in_input_order(rec, tmp_path):
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"not a video")
    inputs = [CLIPS[2], broken, CLIPS[0], CLIPS[3]]
    one = rec.predict(inputs, every=15, on_skip=lambda *a: None)
    skipped = []
    two = rec.predict(inputs, every=15, workers=2, on_skip=lambda i, r: skipped.append(i))
    assert two["file"].unique().tolist() == [str(CLIPS[2]), str(CLIPS[0]), str(CLIPS[3])]
    assert skipped == [str(broken)] and two.attrs["skipped"][0][0] == str(broken)
    np.testing.assert_array_equal(_probs(two), _probs(one))
    assert two[["x", "y", "w", "h"]].equals(one[["x", "y", "w", "h"]])


def test_workers_need_a_recogniser_that_travels():
    from pathfer.data.faces import HaarDetector

    rec = Recognizer.from_bundle(detector=HaarDetector())  # an instance holds a cv2 cascade
    with pytest.raises(ValueError, match="detector by name"):
        rec.predict(CLIPS[:2], workers=2)


def test_progress_reports_every_frame(rec):
    calls = []
    rec.predict([CLIPS[0], CLIPS[1]], every=5, progress=lambda done, total: calls.append(done))
    assert calls == list(range(1, 31))
    totals = []
    rec.predict(CLIPS[0], every=5, progress=lambda done, total: totals.append(total))
    assert set(totals) == {15}


def test_progress_bar_shows_frames_fps_and_eta():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    with frame_progress(300, True, console=console, description="clip.mp4") as advance:
        for _ in range(300):
            advance(1)
    text = buf.getvalue()
    assert "clip.mp4" in text and "300/300" in text and "fps" in text and "ETA" in text
    quiet = io.StringIO()
    with frame_progress(300, False, console=Console(file=quiet, force_terminal=True)) as adv:
        adv(300)
    short = io.StringIO()
    with frame_progress(20, True, console=Console(file=short, force_terminal=True)) as adv:
        adv(20)
    assert quiet.getvalue() == "" and short.getvalue() == ""  # off, or too short for a bar
