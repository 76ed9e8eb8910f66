"""The edges of predict's inputs: negative camera indices, torch tensors, mixed lists,
16-bit PIL images, non-finite or oversized bundles, images over the pixel cap, truncated
MP4s, and native library messages kept off stderr. Each gives one clear message or the
right result, on real GRID frames."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file
from typer.testing import CliRunner

from pathfer.cli import app
from pathfer.data.video import VideoError, iter_frames
from pathfer.data.video.read import reduction
from pathfer.use.bundle import BundleError, default_bundle_path, load_bundle, save_bundle
from pathfer.use.predict import Recognizer
from pathfer.use.predict import recognizer as recognizer_module
from pathfer.use.predict.sources import stream_frames

GRID = Path(__file__).parents[1] / "media" / "grid"
CLIP = sorted(GRID.glob("*.mpg"))[0]


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return next(iter_frames(CLIP))[2]


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer.from_bundle(detector="haar")


def _probs(df, rec) -> np.ndarray:
    return df[rec.labels].to_numpy(np.float64)


def _cli(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


# ------------------------------------------------------------------------- cameras


def test_a_negative_camera_index_is_refused_before_opencv(rec):
    with pytest.raises(ValueError, match="camera index -1: cameras are numbered 0, 1"):
        stream_frames(-1)
    with pytest.raises(ValueError, match="camera index -1"):
        next(rec.stream(-1))
    res = _cli("predict", "--camera", "-1")
    assert res.exit_code == 2
    assert "camera index -1: cameras are numbered 0, 1, ...; try --camera 0" in res.output


# ------------------------------------------------------------------------- tensors


def test_tensors_chw_hwc_float_and_batches_give_the_arrays_numbers(rec, frame):
    expected = _probs(rec.predict(frame), rec)
    rgb = torch.from_numpy(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    for t in (rgb, rgb.permute(2, 0, 1), rgb.permute(2, 0, 1).float() / 255.0):
        np.testing.assert_array_equal(_probs(rec.predict(t), rec), expected)
    batch = torch.stack([rgb.permute(2, 0, 1)] * 2)
    df = rec.predict(batch)
    assert df["frame"].tolist() == [0, 1] and df["file"].iloc[0] == "<tensor>"
    assert df["face"].all()  # frames of one clip: the second is tracked from the first
    np.testing.assert_allclose(_probs(df, rec)[0], expected[0], atol=1e-6)
    grey = torch.from_numpy(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    assert rec.predict(grey)["face"].all()
    assert rec.predict(grey[None])["face"].all()  # (1, H, W): channels first
    with pytest.raises(ValueError, match=r"shape \(3, 40, 3\): cannot tell channels-first"):
        rec.predict(torch.zeros(3, 40, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"values outside \[0, 1\]"):
        rec.predict(rgb.float())
    with pytest.raises(ValueError, match="dtype torch.int64"):
        rec.predict(rgb.long())


# ------------------------------------------------------------------------- lists


def test_a_list_mixing_paths_arrays_and_pil_images(rec, frame, tmp_path):
    path = tmp_path / "f.png"
    cv2.imwrite(str(path), frame)
    pil = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    df = rec.predict([path, frame, pil])
    assert df["file"].tolist() == [str(path), "<list>[1]", "<list>[2]"]
    p = _probs(df, rec)
    np.testing.assert_array_equal(p[1], p[0])
    np.testing.assert_array_equal(p[2], p[0])
    with pytest.raises(TypeError, match="a list may hold paths .* numpy arrays, PIL images"):
        rec.predict([path, 3])


# ------------------------------------------------------------------------- 16-bit PIL


def test_a_16_bit_pil_image_reads_as_the_same_file_by_path(rec, frame, tmp_path):
    grey16 = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    path = tmp_path / "sixteen.png"
    cv2.imwrite(str(path), grey16)
    img = Image.open(path)
    assert img.mode in ("I;16", "I")
    by_path = rec.predict(path)
    by_pil = rec.predict(img)
    assert by_pil["face"].all()
    np.testing.assert_array_equal(_probs(by_pil, rec), _probs(by_path, rec))
    np.testing.assert_array_equal(_probs(rec.predict(img.convert("I")), rec), _probs(by_path, rec))


# ------------------------------------------------------------------------- bundles


def _rewrite(src: Path, dst: Path, *, meta_update=None, tensor_update=None) -> Path:
    with safe_open(str(src), framework="pt") as f:
        header = dict(f.metadata())
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    meta = json.loads(header["pathfer.meta"])
    if meta_update:
        meta.update(meta_update)
    if tensor_update:
        tensor_update(state)
    header["pathfer.meta"] = json.dumps(meta)
    save_file(state, str(dst), metadata=header)
    return dst


def test_non_finite_weights_are_refused_at_save_load_and_export(tmp_path):
    b = load_bundle()
    name = next(k for k, v in b.model.state_dict().items() if v.is_floating_point())

    def poison(state):
        state[name] = state[name].clone()
        state[name].view(-1)[0] = float("nan")

    bad = _rewrite(default_bundle_path(), tmp_path / "nan.safetensors", tensor_update=poison)
    with pytest.raises(BundleError, match=rf"nan.safetensors: tensor '{name}' holds 1 non-finite"):
        load_bundle(bad)
    b.model.state_dict()[name].view(-1)[0] = float("inf")
    with pytest.raises(BundleError, match=rf"tensor '{name}' holds 1 non-finite.*not saved"):
        save_bundle(
            b.model,
            tmp_path / "inf.safetensors",
            architecture="mini_xception",
            arch_kwargs=b.model.arch_kwargs(),
            labels=b.labels,
        )
    assert not (tmp_path / "inf.safetensors").exists()
    res = _cli("export", str(bad), "--out", str(tmp_path / "m.onnx"))
    assert res.exit_code == 2 and "non-finite" in res.output
    assert not (tmp_path / "m.onnx").exists()


def test_huge_arch_kwargs_are_refused_before_anything_is_built(tmp_path):
    kwargs = {**load_bundle().meta["arch_kwargs"], "stem_channels": 4000}
    kwargs["channels"] = [4000] * 4
    bad = _rewrite(
        default_bundle_path(), tmp_path / "huge.safetensors", meta_update={"arch_kwargs": kwargs}
    )
    t0 = time.perf_counter()
    with pytest.raises(BundleError, match=r"other shape: .*\(8, 1, 3, 3\) in the file vs"):
        load_bundle(bad)
    assert time.perf_counter() - t0 < 3.0  # the full model takes ~2 GB and ~13 s to build


# ------------------------------------------------------------------------- big images


def test_an_image_over_the_pixel_cap_is_refused_naming_its_size(frame, tmp_path):
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), cv2.resize(frame, (1500, 1200)))
    small = Recognizer.from_bundle(detector="haar", max_pixels=1_000_000)
    with pytest.raises(VideoError, match=r"1500x1200 \(2 megapixels.*limit of 1 megapixels.*--max"):
        small.predict(path)
    df = small.predict([path])  # among many inputs: skipped with the same reason
    assert df.empty and "over the limit" in df.attrs["skipped"][0][1]
    res = _cli("predict", str(path), "--max-pixels", "1000000", "--detector", "haar")
    assert res.exit_code == 2 and "1500x1200" in res.output and "--max-pixels" in res.output
    assert _cli("predict", str(path), "--detector", "haar", "-q").exit_code == 0


def test_frames_over_the_detection_side_are_searched_scaled_with_boxes_mapped_back(
    rec, frame, monkeypatch
):
    base = rec.predict(frame)
    big = cv2.resize(frame, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    monkeypatch.setattr(recognizer_module, "DETECT_SIDE", frame.shape[1])
    df = Recognizer.from_bundle(detector="haar").predict(big)
    assert df["face"].all()
    box = df[["x", "y", "w", "h"]].to_numpy(float)[0]
    np.testing.assert_allclose(box, base[["x", "y", "w", "h"]].to_numpy(float)[0] * 4, atol=8)


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_an_image_far_over_the_detection_side_is_decoded_small_with_boxes_in_its_pixels(
    rec, frame, ext, tmp_path, monkeypatch
):
    path = tmp_path / f"big{ext}"
    big = cv2.resize(frame, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)  # 1440x1152
    cv2.imwrite(str(path), big)
    side = frame.shape[1]
    monkeypatch.setattr(recognizer_module, "DETECT_SIDE", side)
    assert [reduction(path, s) for s in (side, side + 1, 4 * side + 1)] == [4, 2, 1]
    small = next(iter_frames(path, reduce=4))[2]  # a JPEG keeps its colour, a PNG is grey
    assert small.shape == ((288, 360, 3) if ext == ".jpg" else (288, 360))
    whole = rec.predict(big)  # the pixels decoded whole, searched on a copy scaled to 360
    df = rec.predict(path)
    assert df["face"].all() and df["top_emotion"].tolist() == whole["top_emotion"].tolist()
    box = ["x", "y", "w", "h"]
    near = 0.04 * whole["w"].iloc[0]  # Haar's sizes step by 10%: within 4% of the face's side
    np.testing.assert_allclose(df[box].to_numpy(float), whole[box].to_numpy(float), atol=near)
    # annotated, the image is decoded whole: the copy with boxes has the file's size
    shown = rec.predict(path, annotate=tmp_path / f"shown{ext}")
    assert cv2.imread(shown.attrs["annotated"][0]).shape[:2] == big.shape[:2]
    np.testing.assert_allclose(shown[box].to_numpy(float), whole[box].to_numpy(float), atol=near)


# ------------------------------------------------------------------------- truncated video


def _faststart_mp4(path: Path, frames: list[np.ndarray]) -> Path:
    import av

    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        st = out.add_stream("libx264", rate=25)
        st.width, st.height, st.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for f in frames:
            for pkt in st.encode(av.VideoFrame.from_ndarray(f, format="bgr24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def test_a_truncated_mp4_says_how_many_frames_it_read(rec, tmp_path):
    frames = [f for _, _, f in iter_frames(CLIP)]
    whole = _faststart_mp4(tmp_path / "whole.mp4", frames)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 4 // 10])
    assert not rec.predict([whole]).attrs["notes"]
    with pytest.warns(UserWarning, match=r"cut.mp4: the file ends early.*only \d+ of the 75"):
        df = rec.predict([cut])
    assert 0 < df["frame"].nunique() < 75  # the frames read are kept
    res = _cli("predict", str(cut), "--detector", "haar")
    assert res.exit_code == 0
    assert "of the 75 frames its container announces decode" in res.output
    assert "the frames read are kept" in res.output


# ------------------------------------------------------------------------- native noise


def test_native_messages_stay_off_stderr(rec, frame, tmp_path, capfd):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), frame)
    broken = tmp_path / "broken.png"
    data = bytearray(good.read_bytes())
    data[20] ^= 0xFF  # inside the header chunk: libpng reports a CRC error on stderr
    broken.write_bytes(bytes(data))
    capfd.readouterr()
    df = rec.predict([broken, good])
    assert [s[0] for s in df.attrs["skipped"]] == [str(broken)]
    reason = df.attrs["skipped"][0][1]
    assert "not a readable image" in reason and "(the decoder says: libpng error" in reason
    rows = list(rec.stream(CLIP, every=30))
    assert len(rows) == 3
    err = capfd.readouterr().err
    assert "libpng" not in err and "[mpeg" not in err and "error" not in err.lower(), err
