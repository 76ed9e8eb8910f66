"""Every registered face detector on real GRID frames: boxes, scores, landmarks, tracking,
the default choice and its fallback, the whole-image detector, and eye alignment."""

from __future__ import annotations

import sys
import warnings

import cv2
import numpy as np
import pytest
import torch
from conftest import GRID

from pathfer.data.faces import (
    DETECTORS,
    CropSettings,
    DetectorFallbackWarning,
    Face,
    TrackingDetector,
    clip_rolls,
    crop_face,
    default_detector,
    face_roll,
    get_detector,
    locate_faces,
    refine_roll,
    resize_face,
    video_detector,
    yunet_available,
)
from pathfer.data.faces import detect as detect_module
from pathfer.data.video import FrameSampling, read_frames

NO_YUFACE = pytest.mark.skipif(not yunet_available(), reason="yuface is not installed")


def _param(name: str):
    return pytest.param(name, marks=NO_YUFACE) if name == "yunet" else name


ALL = [_param(n) for n in DETECTORS.list()]
FINDERS = [_param(n) for n in DETECTORS.list() if n != "none"]  # detectors that search
TRACKABLE = [_param(n) for n in DETECTORS.list() if DETECTORS.meta(n).get("trackable", True)]
WITH_LANDMARKS = [_param(n) for n in DETECTORS.list() if DETECTORS.meta(n).get("landmarks")]


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [f for _, f in read_frames(GRID[0], FrameSampling(n=6))]


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    return ix * iy / (aw * ah + bw * bh - ix * iy)


@pytest.mark.parametrize("name", FINDERS)
def test_detector_finds_the_grid_face_in_bgr_and_grey(name: str, frames) -> None:
    det = get_detector(name)
    assert det.name == name
    bgr = frames[0]
    [face] = det.detect(bgr)
    x, y, w, h = face.box
    # GRID: one speaker, face ~140 px wide, in the upper middle of a 360x288 frame
    assert 90 < w < 200 and 90 < h < 220
    assert 60 < x + w / 2 < 300 and 40 < y + h / 2 < 200
    [grey_face] = det.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    assert _iou(face.box, grey_face.box) > 0.8
    meta = DETECTORS.meta(name)
    if meta.get("landmarks"):
        assert 0.5 <= face.score <= 1.0
        lm = face.landmarks
        assert lm is not None and lm.shape == (5, 2) and lm.dtype == np.float32
        right_eye, left_eye, nose, mouth_right, mouth_left = lm
        assert right_eye[0] < nose[0] < left_eye[0]  # subject's right eye on the image left
        assert mouth_right[0] < mouth_left[0]
        assert max(right_eye[1], left_eye[1]) < nose[1] < min(mouth_right[1], mouth_left[1])
        assert ((lm >= [x, y]) & (lm <= [x + w, y + h])).all()
    else:
        assert np.isnan(face.score) and face.landmarks is None


@pytest.mark.parametrize("name", FINDERS)
def test_detector_finds_nothing_in_an_empty_scene_and_survives_tiny_images(name: str) -> None:
    det = get_detector(name)
    rng = np.random.default_rng(0)
    wall = np.clip(120 + rng.normal(0, 6, (240, 320)), 0, 255).astype(np.uint8)
    assert det.detect(cv2.cvtColor(wall, cv2.COLOR_GRAY2BGR)) == []
    for shape in ((1, 1, 3), (8, 8, 3), (8, 8), (30, 17, 3)):
        assert det.detect(np.full(shape, 90, np.uint8)) == []


@pytest.mark.parametrize("name", ALL)
def test_every_detector_works_on_a_48px_face_crop(name: str, frames) -> None:
    crop = crop_face(frames[0], get_detector("haar").detect(frames[0])[0], CropSettings(size=96))
    faces = get_detector(name).detect(crop)
    if name == "none":
        assert faces == [Face((0, 0, 96, 96))]
    elif name == "yunet":  # finds the face in the crop (Haar misses some such crops)
        assert len(faces) == 1 and faces[0].area > 0.25 * 96 * 96


def test_whole_image_detector_and_crop_settings() -> None:
    settings = CropSettings(detector="none", margin=0.4, align=True, equalize=True)
    assert (settings.detector, settings.margin, settings.align) == ("none", 0.0, False)
    image = np.random.default_rng(1).integers(0, 255, (96, 64, 3), dtype=np.uint8)
    [face] = get_detector("none").detect(image)
    assert face.box == (0, 0, 64, 96)
    want = cv2.equalizeHist(
        cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (48, 48), interpolation=cv2.INTER_AREA)
    )
    assert np.array_equal(crop_face(image, face, settings), want)
    assert np.array_equal(resize_face(image, settings), want)
    assert CropSettings(detector="HAAR").detector == "haar"
    assert not isinstance(video_detector("none"), TrackingDetector)
    with pytest.raises(ValueError, match="cannot be tracked"):
        TrackingDetector(get_detector("none"))


def test_crop_settings_from_dict_round_trips_and_checks() -> None:
    settings = CropSettings(size=32, margin=0.25, equalize=True, detector="haar", align=True)
    assert CropSettings.from_dict(settings.as_dict()) == settings
    # bundles written before alignment existed have no "align"; an int margin is a number
    old = {"size": 64, "margin": 0, "equalize": False, "detector": "haar"}
    assert CropSettings.from_dict(old) == CropSettings(size=64, margin=0.0, detector="haar")
    assert isinstance(CropSettings.from_dict(old).margin, float)
    bad = [
        ({"size": 64, "zoom": 2}, "unknown crop setting.*'zoom'"),
        ({"size": "64"}, "'size': an integer"),
        ({"size": True}, "'size': an integer"),
        ({"size": 64.0}, "'size': an integer"),
        ({"margin": "0.1"}, "'margin': a number"),
        ({"equalize": 1}, "'equalize': true or false"),
        ({"detector": 3}, "'detector': a detector name"),
        ({"size": 4}, "between 8 and 512"),
        ({"margin": float("nan")}, "between 0 and 1"),
    ]
    for data, message in bad:
        with pytest.raises(ValueError, match=message):
            CropSettings.from_dict(data)
    with pytest.raises(ValueError, match="must be a mapping"):
        CropSettings.from_dict([64])  # type: ignore[arg-type]


@pytest.mark.parametrize("name", TRACKABLE)
def test_tracking_agrees_with_full_frame_detection(name: str, frames) -> None:
    full = locate_faces(frames, get_detector(name))
    tracker = video_detector(name)
    assert isinstance(tracker, TrackingDetector)
    assert tracker.window_side == DETECTORS.meta(name)["window_side"]
    tracked = locate_faces(frames, tracker)
    assert all(src == "detected" for _, src in full + tracked)
    assert tracker.full_searches == 1
    for (a, _), (b, _) in zip(full, tracked, strict=True):
        assert _iou(a.box, b.box) > 0.7
        if a.landmarks is not None:  # landmarks come back in frame pixels
            iod = np.linalg.norm(a.landmarks[1] - a.landmarks[0])
            assert np.abs(a.landmarks - b.landmarks).max() < 0.35 * iod


def test_default_is_yunet_where_installed_else_haar_with_one_notice(monkeypatch) -> None:
    if yunet_available():
        assert default_detector() == "yunet" and CropSettings().detector == "yunet"
    monkeypatch.setattr(detect_module, "yunet_available", lambda: False)
    monkeypatch.setattr(detect_module, "_warned_fallback", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert CropSettings().detector == "haar"
        assert default_detector() == "haar"
    notes = [w for w in caught if issubclass(w.category, DetectorFallbackWarning)]
    assert len(notes) == 1 and "yuface" in str(notes[0].message)
    assert CropSettings(detector="haar").detector == "haar"  # chosen: no notice needed


def test_yunet_without_yuface_says_how_to_fix(monkeypatch) -> None:
    from pathfer.data.faces import yunet

    monkeypatch.setitem(sys.modules, "yuface", None)  # import yuface -> ImportError
    yunet._import_yuface.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"pip install yuface.*--detector haar"):
            get_detector("yunet")
    finally:
        yunet._import_yuface.cache_clear()


@NO_YUFACE
def test_yunet_leaves_torch_threads_alone(frames) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        get_detector("yunet").detect(frames[0])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def _rotate(image: np.ndarray, centre, degrees: float) -> np.ndarray:
    m = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    return cv2.warpAffine(image, m, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("name", WITH_LANDMARKS)
def test_alignment_levels_the_eyes(name: str, frames) -> None:
    det = get_detector(name)
    frame = frames[0]
    [upright] = det.detect(frame)
    x, y, w, h = upright.box
    centre = (x + w / 2.0, y + h / 2.0)
    level = refine_roll(frame, upright, det)
    assert abs(level) < 6  # GRID speakers face the camera
    for turn in (-20.0, 20.0):  # counter-clockwise on screen for positive angles
        tilted = _rotate(frame, centre, turn)
        [face] = det.detect(tilted)
        first, roll = face_roll(face), refine_roll(tilted, face, det)
        # YuNet reads a turned face as partly level; measured again, it gets most of the way
        assert abs(roll - (level - turn)) < 0.5 * abs(turn)
        assert abs(roll - (level - turn)) < abs(first - (level - turn))
        plain = CropSettings(detector=name, size=64, equalize=False)
        aligned = CropSettings(detector=name, size=64, equalize=False, align=True)
        reference = crop_face(frame, upright, aligned, roll=level).astype(np.float32)

        def error(crop: np.ndarray, reference=reference) -> float:
            return float(np.abs(crop.astype(np.float32) - reference)[8:-8, 8:-8].mean())

        turned_back = crop_face(tilted, face, aligned, roll=roll)
        assert error(turned_back) < 0.75 * error(crop_face(tilted, face, plain))
        # without landmarks, or with level eyes, align changes nothing
        assert np.array_equal(crop_face(tilted, face.box, aligned), crop_face(tilted, face, plain))
        no_turn = crop_face(tilted, face, aligned, roll=0.0)
        assert np.array_equal(no_turn, crop_face(tilted, face, plain))


def test_clip_rolls_are_a_running_median() -> None:
    def face(roll: float | None) -> Face:
        if roll is None:
            return Face((0, 0, 10, 10))
        t = np.radians(roll)
        lm = np.array([[0, 0], [10 * np.cos(t), 10 * np.sin(t)], [5, 5], [2, 8], [8, 8]])
        return Face((0, 0, 10, 10), 0.9, lm.astype(np.float32))

    rolls = clip_rolls([face(0), face(12), face(0), face(None), face(2), face(4)])
    assert rolls[0] == pytest.approx(6.0)  # median of (0, 12) at the edge
    assert rolls[1] == pytest.approx(0.0)  # one outlier among (0, 12, 0) is dropped
    assert rolls[2] == pytest.approx(6.0)  # (12, 0) and a face with no landmarks
    assert rolls[3] is None
    assert rolls[4] == pytest.approx(3.0) and rolls[5] == pytest.approx(3.0)
