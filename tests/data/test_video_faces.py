"""Decoding, face location and the tracking detector on real GRID footage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import GRID, write_blank_clip

from pathfer.data.faces import CropSettings, Face, crop_face, get_detector, locate_faces, to_grey
from pathfer.data.faces.track import TrackingDetector
from pathfer.data.video import FrameSampling, VideoError, probe, read_frames, sample_indices


def test_grid_clips_probe_and_sample() -> None:
    assert len(GRID) >= 4
    info = probe(GRID[0])
    assert (info.n_frames, info.width, info.height) == (75, 360, 288)
    frames = read_frames(GRID[0], FrameSampling(n=4))
    assert [i for i, _ in frames] == sample_indices(75, FrameSampling(n=4)) == [9, 28, 46, 65]
    assert frames[0][1].shape == (288, 360, 3)


def test_bad_files_raise_video_error(tmp_path: Path) -> None:
    empty = tmp_path / "e.avi"
    empty.write_bytes(b"")
    text = tmp_path / "t.avi"
    text.write_text("hello")
    for path, msg in ((empty, "empty file"), (text, "cannot be decoded"), (tmp_path / "m", "not")):
        with pytest.raises(VideoError, match=msg) as err:
            read_frames(path)
        assert str(path) in str(err.value)


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / (aw * ah + bw * bh - inter)


@pytest.mark.parametrize("clip", GRID[:2], ids=lambda p: p.stem)
def test_tracker_agrees_with_full_frame_detection(clip: Path) -> None:
    frames = [f for _, f in read_frames(clip, FrameSampling(n=8))]
    haar = get_detector("haar")
    full = locate_faces(frames, haar)
    tracker = TrackingDetector(haar)
    tracked = locate_faces(frames, tracker)
    assert all(src == "detected" for _, src in full)
    assert all(src == "detected" for _, src in tracked)
    assert tracker.full_searches == 1  # the face was found near the previous one each time
    for (a, _), (b, _) in zip(full, tracked, strict=True):
        assert _iou(a.box, b.box) > 0.75
    crops = [crop_face(f, b.box, CropSettings()) for f, (b, _) in zip(frames, tracked, strict=True)]
    assert all(c.shape == (48, 48) and c.dtype == np.uint8 for c in crops)


def test_blank_clip_has_no_face(tmp_path: Path) -> None:
    clip = write_blank_clip(tmp_path / "blank.avi")
    frames = [f for _, f in read_frames(clip, FrameSampling(n=4))]
    assert len(frames) == 4
    tracker = TrackingDetector(get_detector())
    assert all(src == "none" for _, src in locate_faces(frames, tracker))
    assert tracker.detect(to_grey(frames[0])) == []


def test_tracker_recovers_when_the_face_moves() -> None:
    frames = [f for _, f in read_frames(GRID[0], FrameSampling(n=2))]
    tracker = TrackingDetector(get_detector())
    [first] = tracker.detect(to_grey(frames[0]))
    x, y, w, h = first.box
    # the face jumps: shift the frame content far to the left
    moved = np.roll(to_grey(frames[1]), -x + 2, axis=1)
    moved[:, -x:] = 128
    tracker.previous = Face((x + 150, y, w, h))
    [face] = tracker.detect(moved)
    assert face.box[0] < 20 and tracker.full_searches == 2
