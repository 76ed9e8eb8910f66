"""The predict job without the command line: options in, rows and files out."""

from __future__ import annotations

from pathlib import Path

import cv2
import pandas as pd
import pytest
from conftest import GRID_DIR

from pathfer.data.video import VideoError, iter_frames
from pathfer.use.bundle import default_bundle_path
from pathfer.use.predict.job import (
    PredictOptions,
    check_options,
    load_recognizer,
    run_predict,
    write_outputs,
)

CLIP = GRID_DIR / "bbaf2n.mpg"


def test_options_are_checked_before_anything_runs(tmp_path: Path) -> None:
    cases = [
        (PredictOptions(), "nothing to predict"),
        (PredictOptions(inputs=[str(CLIP)], camera="0"), "not both"),
        (PredictOptions(inputs=[str(CLIP)], timeline=tmp_path / "t.jpg"), "is a PNG"),
        (PredictOptions(inputs=[str(CLIP)], out=tmp_path / "r.xlsx"), "xlsx"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=message):
            check_options(options)
    assert PredictOptions(camera="1").camera_source == 1
    assert PredictOptions(camera="rtsp://cam/1").camera_source == "rtsp://cam/1"


def test_a_job_predicts_and_writes_what_it_is_asked(tmp_path: Path) -> None:
    options = PredictOptions(
        inputs=[str(CLIP)],
        out=tmp_path / "r.csv",
        summary=tmp_path / "s.json",
        every=25,
        detector="haar",
        progress=False,
    )
    check_options(options)
    rec = load_recognizer(options)
    run = run_predict(rec, options)
    assert not run.interrupted and run.frames["frame"].tolist() == [0, 25, 50]
    assert run.labels == rec.labels and run.summary["frames"].tolist() == [3]
    lines = write_outputs(run, options)
    assert lines == [
        f"per-frame results (3 rows) -> {tmp_path / 'r.csv'}",
        f"summary (1 rows) -> {tmp_path / 's.json'}",
    ]
    df = pd.read_csv(tmp_path / "r.csv")
    ref = rec.predict(CLIP, every=25)
    assert df[rec.labels].to_numpy().tolist() == ref[rec.labels].to_numpy().tolist()


def test_a_job_serves_a_model_files_task_with_its_pixel_limit(tmp_path: Path) -> None:
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), next(iter_frames(CLIP))[2])  # 360x288: over 1000 pixels
    options = PredictOptions(inputs=[str(image)], task="fer2013", detector="haar", max_pixels=1000)
    rec = load_recognizer(options)
    assert rec.meta["tasks"] == ["fer2013"] and rec.max_pixels == 1000
    with pytest.raises(VideoError, match="over the limit of 0.001 megapixels"):
        rec.predict(image)
    bundle = PredictOptions(inputs=[str(image)], model=default_bundle_path(), task="fer2013")
    with pytest.raises(ValueError, match="a bundle has one task"):
        load_recognizer(bundle)
