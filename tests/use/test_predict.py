"""Prediction on real GRID clips: per-frame rows, no-face frames, errors, outputs, tracking,
CLI basics. Call forms, streams, outputs and CLI habits have their own test files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import typer
from typer.testing import CliRunner

from pathfer.cli.predict import export as export_cmd
from pathfer.cli.predict import predict as predict_cmd
from pathfer.data.emotions import FER2013_ORDER
from pathfer.data.faces import crop_face
from pathfer.data.video import iter_frames
from pathfer.use.bundle import BundleError, load_bundle, save_bundle
from pathfer.use.predict import (
    BASE_COLUMNS,
    PredictWarning,
    Recognizer,
    expand_inputs,
    predict_paths,
    summarize,
    write_results,
)

GRID = Path(__file__).parents[1] / "media" / "grid"
CLIPS = sorted(GRID.glob("*.mpg"))
FULL = CLIPS[:2]  # every frame of these (Haar detection dominates the test time)
LABELS = list(FER2013_ORDER)


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    """Detection on every full frame: exact, independent of the frames before."""
    return Recognizer.from_bundle(detector="haar", track=False)


@pytest.fixture(scope="module")
def tracked() -> Recognizer:
    """The default: tracking within a clip, downscaled search when lost (as prepare)."""
    return Recognizer.from_bundle(detector="haar")


@pytest.fixture(scope="module")
def annotated_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("annotated")


@pytest.fixture(scope="module")
def grid_df(rec, annotated_dir) -> pd.DataFrame:
    """Every frame of two GRID clips (and annotated copies), computed once."""
    return predict_paths(FULL, rec, batch_size=32, annotate=annotated_dir)


@pytest.fixture(scope="module")
def blank_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("blank") / "blank.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (160, 120))
    assert w.isOpened()
    for i in range(12):
        w.write(np.full((120, 160, 3), 40 + 10 * i, np.uint8))
    w.release()
    return path


def _count_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def test_one_row_per_frame_with_the_models_probabilities(grid_df, rec):
    assert list(grid_df.columns) == [*BASE_COLUMNS, *LABELS, "top_emotion", "top_prob"]
    assert len(grid_df) == 75 * len(FULL)
    for _, g in grid_df.groupby("file"):
        assert g["frame"].tolist() == list(range(75))
        assert np.allclose(g["time_s"].to_numpy(), np.arange(75) / 25.0)
    assert grid_df["face"].all() and (grid_df["face_index"] == 0).all()
    assert grid_df["face_score"].isna().all()  # Haar gives no confidence
    assert (grid_df["w"] > 40).all() and (grid_df["h"] > 40).all()
    probs = grid_df[LABELS].to_numpy()
    # the rows are the bundle's own probabilities for the crops the detector found
    first = grid_df[grid_df["file"] == grid_df["file"].iloc[0]].iloc[:3]
    frames = [f for i, _, f in iter_frames(first["file"].iloc[0]) if i < 3]
    crops = [
        crop_face(f, (int(r.x), int(r.y), int(r.w), int(r.h)), rec.crop)
        for f, r in zip(frames, first.itertuples(), strict=True)
    ]
    assert np.allclose(first[LABELS].to_numpy(), load_bundle().predict_proba(crops), atol=1e-5)
    assert (grid_df["top_emotion"] == grid_df[LABELS].idxmax(axis=1)).all()
    assert np.allclose(grid_df["top_prob"], probs.max(1))


def test_summary_per_clip(grid_df):
    s = summarize(grid_df)
    assert len(s) == len(FULL)
    assert (s["frames"] == 75).all() and (s["face_share"] == 1.0).all()
    assert np.allclose(s[LABELS].sum(axis=1), 1.0, atol=1e-5)
    assert set(s["top_emotion"]) <= set(LABELS)


def test_every_k_frames(rec, grid_df):
    df = rec.predict_video(CLIPS[0], every=10)
    assert df["frame"].tolist() == list(range(0, 75, 10))
    full = grid_df[grid_df["file"] == str(CLIPS[0])].set_index("frame")
    np.testing.assert_allclose(
        df[LABELS].to_numpy(), full.loc[df["frame"], LABELS].to_numpy(), atol=1e-6
    )


def test_blank_clip_gives_no_face_rows(rec, blank_clip):
    df = rec.predict_video(blank_clip)
    assert len(df) == 12 and not df["face"].any()
    assert df[LABELS].isna().all().all() and df["top_emotion"].isna().all()
    assert df["face_index"].isna().all() and df["x"].isna().all()
    s = summarize(df)
    assert s.loc[0, "face_share"] == 0 and s.loc[0, "top_emotion"] is None


def test_unreadable_inputs_are_reported_and_the_rest_goes_on(rec, tmp_path, blank_clip):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(1).bytes(20_000))
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    skipped = []
    df = predict_paths(
        [str(corrupt), str(CLIPS[1]), str(tmp_path / "missing.mpg"), str(empty), blank_clip],
        rec,
        every=25,
        on_skip=lambda item, reason: skipped.append((item, reason)),
    )
    assert [Path(s[0]).name for s in skipped] == ["missing.mpg", "corrupt.mp4", "empty.avi"]
    assert df.attrs["skipped"] == skipped
    assert set(df["file"]) == {str(CLIPS[1]), str(blank_clip)}
    with pytest.warns(PredictWarning, match="corrupt.mp4"):
        predict_paths([corrupt, CLIPS[1]], rec, every=25)


def test_expand_inputs_folders_and_globs(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.mpg").write_bytes(b"x")
    (tmp_path / "b.png").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    files, problems = expand_inputs(
        [tmp_path, str(tmp_path / "*.png"), str(tmp_path / "*.mov"), tmp_path / "nope.avi"]
    )
    assert [f.name for f in files] == ["b.png", "a.mpg"]
    assert [p[1] for p in problems] == ["no image or video matches this pattern", "file not found"]


def test_annotated_videos_are_readable_with_same_frame_count(grid_df, annotated_dir):
    written = [Path(p) for p in grid_df.attrs["annotated"]]
    assert sorted(p.name for p in written) == sorted(f"{c.stem}.annotated.mp4" for c in FULL)
    for p in written:
        assert _count_frames(p) == 75
        with av.open(str(p)) as container:  # H.264, which browsers and notebooks play
            assert container.streams.video[0].codec_context.name == "h264"
        cap = cv2.VideoCapture(str(p))
        ok, frame = cap.read()
        cap.release()
        assert ok and frame.shape == (288, 360, 3)


def test_annotate_single_file_and_image(rec, tmp_path):
    df = rec.predict_video(CLIPS[2], every=5, annotate=tmp_path / "out.mp4")
    assert df.attrs["annotated"] == [str(tmp_path / "out.mp4")]
    assert _count_frames(tmp_path / "out.mp4") == 15
    _, _, frame = next(iter_frames(CLIPS[2]))
    img = tmp_path / "face.png"
    cv2.imwrite(str(img), frame)
    single = rec.predict_image(img)
    assert len(single) == 1 and single["frame"].tolist() == [0] and single["face"].all()
    df = predict_paths([img], rec, annotate=tmp_path / "ann")
    assert df["face"].tolist() == [True] and df["time_s"].tolist() == [0.0]
    assert cv2.imread(str(tmp_path / "ann" / "face.annotated.png")) is not None
    with pytest.raises(ValueError, match="must be a folder"):
        predict_paths([img, CLIPS[0]], rec, annotate=tmp_path / "x.mp4")


def test_several_faces(rec):
    frames = [f for _, _, f in iter_frames(CLIPS[0], every=30)]
    pairs = [np.hstack([f, f]) for f in frames]  # two faces side by side
    largest = rec.predict_frames(pairs, fps=25.0 / 30)
    everyone = rec.predict_frames(pairs, all_faces=True)
    assert len(largest) == len(pairs) and largest["time_s"].tolist()[1] == pytest.approx(1.2)
    assert len(everyone) == 2 * len(pairs)
    assert everyone.groupby("frame")["face_index"].apply(list).tolist() == [[0, 1]] * len(pairs)
    assert math.isnan(everyone["time_s"].iloc[0])


def test_batches_bound_memory(rec, monkeypatch):
    sizes = []
    real = rec.classify

    def spy(crops):
        sizes.append((len(crops), len(pulled)))
        return real(crops)

    monkeypatch.setattr(rec, "classify", spy)
    pulled = []

    def frames():
        for i, _, f in iter_frames(CLIPS[3], every=3):
            pulled.append(i)
            yield f

    before = torch.get_num_threads()
    df = rec.predict_frames(frames(), batch_size=8)
    assert torch.get_num_threads() == before  # classifier threads are restored
    # classified in batches of 8 while frames are still being pulled (lazy, flat memory)
    assert sizes == [(8, 8), (8, 16), (8, 24), (1, 25)] and len(df) == 25


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_outputs(grid_df, blank_clip, rec, tmp_path, suffix):
    df = pd.concat([grid_df.iloc[:10], rec.predict_video(blank_clip, every=6)], ignore_index=True)
    path = write_results(df, tmp_path / f"r{suffix}")
    if suffix == ".csv":
        back = pd.read_csv(path)
    elif suffix == ".json":
        back = pd.DataFrame(json.loads(path.read_text()))
    else:
        back = pd.read_parquet(path)
    assert list(back.columns) == list(df.columns) and len(back) == 12
    np.testing.assert_allclose(back[LABELS].to_numpy(float), df[LABELS].to_numpy(float), atol=1e-6)
    assert back["top_emotion"].isna().tolist() == [False] * 10 + [True] * 2
    assert back["face"].astype(bool).tolist() == [True] * 10 + [False] * 2
    with pytest.raises(ValueError, match="unknown results format"):
        write_results(df, tmp_path / "r.xlsx")


def test_bundle_round_trip_gives_equal_predictions(rec, grid_df, tmp_path):
    b = load_bundle()
    path = save_bundle(
        b.model,
        tmp_path / "copy.safetensors",
        architecture="mini_xception",
        arch_kwargs=b.model.arch_kwargs(),
        labels=b.labels,
        crop=b.crop,
    )
    df = Recognizer.from_bundle(path, detector="haar", track=False).predict_video(
        CLIPS[0], every=15
    )
    ref = grid_df[grid_df["file"] == str(CLIPS[0])].iloc[::15]
    np.testing.assert_array_equal(df[LABELS].to_numpy(), ref[LABELS].to_numpy())


def test_bad_bundles(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(BundleError, match="bad.safetensors"):
        Recognizer.from_bundle(bad)


# ------------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def cli():
    app = typer.Typer()
    app.command("predict")(predict_cmd)
    app.command("export")(export_cmd)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_cli_predict(cli, tmp_path, blank_clip):
    out = tmp_path / "res.csv"
    r = cli("predict", CLIPS[0], blank_clip, tmp_path / "missing.mpg", "--every", 25, "--out", out)
    assert r.exit_code == 0, r.output
    assert "missing.mpg" in r.output and "skipped" in r.output
    assert "no face" in r.output and str(out) in r.output.replace("\n", "")
    df = pd.read_csv(out)
    assert len(df) == 3 + 1 and df["face"].sum() == 3


def test_cli_errors(cli, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    cases = [
        (("predict", tmp_path / "none.mpg"), "no readable image or video"),
        (("predict", CLIPS[0], "--model", bad), "bad.safetensors"),
        (("predict", CLIPS[0], "--out", tmp_path / "r.xlsx"), "unknown results format"),
        (("predict", CLIPS[0], "--every", 0), ""),
        (("export", bad, "--out", tmp_path / "m.onnx"), "bad.safetensors"),
        (("predict",), "nothing to predict"),
        (("predict", CLIPS[0], "--timeline", tmp_path / "t.jpg"), "PNG"),
    ]
    for args, message in cases:
        r = cli(*args)
        assert r.exit_code == 2, (args, r.output)
        assert message in r.output.replace("\n", "")


# -------------------------------------------------------------------------------- tracking


def _iou(a, b) -> np.ndarray:
    ax, ay, aw, ah = (np.asarray(a[c], float) for c in "xywh")
    bx, by, bw, bh = (np.asarray(b[c], float) for c in "xywh")
    iw = np.clip(np.minimum(ax + aw, bx + bw) - np.maximum(ax, bx), 0, None)
    ih = np.clip(np.minimum(ay + ah, by + bh) - np.maximum(ay, by), 0, None)
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter)


def test_tracking_searches_small_images_and_finds_the_same_faces(tracked, grid_df, monkeypatch):
    """predict tracks as prepare does: the detector never sees a full 360x288 frame, only
    windows around the face and a frame scaled to 240 px; boxes match full-frame search."""
    seen = []
    real = tracked.detector.detect

    def spy(image):
        seen.append(image.shape[:2])
        return real(image)

    monkeypatch.setattr(tracked.detector, "detect", spy)
    df = tracked.predict_video(CLIPS[0])
    assert len(df) == 75 and df["face"].all()
    assert seen and all(min(s) <= 240 for s in seen) and (288, 360) not in seen
    assert sum(1 for s in seen if min(s) == 240) == 1  # one downscaled search: the first frame
    full = grid_df[grid_df["file"] == str(CLIPS[0])].reset_index(drop=True)
    assert _iou(df, full).min() > 0.7
    assert (df["top_emotion"] == full["top_emotion"]).mean() >= 0.9


def test_no_track_searches_full_frames(rec, monkeypatch):
    seen = []
    real = rec.detector.detect
    monkeypatch.setattr(rec.detector, "detect", lambda im: seen.append(im.shape[:2]) or real(im))
    rec.predict_video(CLIPS[1], every=25)
    assert seen == [(288, 360)] * 3
