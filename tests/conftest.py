"""Corpus layouts built from real GRID footage (CC BY 4.0, tests/media/grid).

Each builder links the GRID clips under a corpus' own file names, so the adapters and
the preparation run on real video with real faces.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

# One torch thread per test process: with OpenMP threads on a busy 2-core machine, tiny
# training steps spend most of their time spinning (measured 10-50x slower).
os.environ.setdefault("PATHFER_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _ieee_floats_after_each_test():
    """A job run inside the test process sets its numerics for the whole process
    (:func:`pathfer.models.nn.set_job_numerics` flushes subnormal floats to zero); undo
    that after each test, or the tests after it run in a process that cannot represent
    subnormals (hypothesis's float strategies refuse to draw there)."""
    yield
    torch.set_flush_denormal(False)
    torch.set_num_threads(1)


GRID_DIR = Path(__file__).parent / "media" / "grid"
GRID = sorted(GRID_DIR.glob("*.mpg"))


def place(src: Path, dst: Path) -> Path:
    """Link (or copy, where links are not allowed) a clip under a corpus file name."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(src.resolve(), dst)
    except OSError:
        shutil.copyfile(src, dst)
    return dst


def grid(i: int) -> Path:
    return GRID[i % len(GRID)]


def write_blank_clip(path: Path, frames: int = 12, size: tuple[int, int] = (160, 120)) -> Path:
    """An MJPG .avi of an empty scene (a lit wall with noise: no face)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (w, h))
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 80 + 100 * (xx / w) * 0.7 + 40 * (yy / h)
    for _ in range(frames):
        f = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


SAVEE_CODES = ("a", "h", "sa")


def build_savee(root: Path, speakers=("DC", "JE"), codes=SAVEE_CODES) -> Path:
    """``root/AudioVisualClip/<speaker>/<code>0<n>.<ext>``: zero-padded, mixed containers."""
    i = 0
    for s in speakers:
        for c in codes:
            ext = ".avi" if i % 2 == 0 else ".mpg"
            place(grid(i), root / "AudioVisualClip" / s / f"{c}0{1 + i % 2}{ext}")
            i += 1
    (root / "AudioVisualClip" / speakers[0] / "notes.txt").write_text("recording notes\n")
    return root


def build_enterface(root: Path) -> Path:
    """An eNTERFACE'05 layout with the real corpus' irregularities.

    - ``subject 1``: regular (sentence folders), plus Thumbs.db and a .txt;
    - ``Subject 6``: capitalised, no sentence folders, ``Happiness`` capitalised,
      an odd-spaced ``sentence  2 `` folder;
    - ``subject 2``: a clip whose file code (su) disagrees with its folder (fear),
      and a clip that cannot be placed (no emotion folder, no code).
    """
    i = 0

    def put(rel: str) -> None:
        nonlocal i
        place(grid(i), root / rel)
        i += 1

    put("subject 1/anger/sentence 1/s1_an_1.avi")
    put("subject 1/happiness/sentence 1/s1_ha_1.avi")
    put("subject 1/sadness/sentence 2/s1_sa_2.avi")
    (root / "subject 1/anger/sentence 1/Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (root / "subject 1/readme.txt").write_text("eNTERFACE subject 1\n")
    put("Subject 6/anger/s6_an_1.avi")
    put("Subject 6/Happiness/s6_ha_1.avi")
    put("Subject 6/sadness/sentence  2 /s6_sa_2.avi")
    put("subject 2/fear/sentence 1/s2_su_1.avi")  # code mismatch -> reported, skipped
    put("subject 2/fear/sentence 2/s2_fe_2.avi")
    put("subject 2/misc/clip.avi")  # unplaceable -> reported
    return root


def build_ravdess(root: Path) -> Path:
    """RAVDESS names for 2 actors x 3 emotions, with audio-only and video-only files."""
    i = 0
    for actor in ("01", "02"):
        for emo in ("01", "03", "05"):
            place(grid(i), root / f"Actor_{actor}" / f"01-01-{emo}-01-01-01-{actor}.mp4")
            i += 1
        (root / f"Actor_{actor}" / f"03-01-01-01-01-01-{actor}.wav").write_bytes(b"RIFF")
    # the video-only twin of a full-AV take (same frames): used once
    place(grid(0), root / "Actor_01" / "02-01-01-01-01-01-01.mp4")
    # an audio-only file with a video extension
    place(grid(1), root / "Actor_02" / "03-01-03-01-01-01-02.mp4")
    return root


@pytest.fixture
def savee_root(tmp_path: Path) -> Path:
    return build_savee(tmp_path / "SAVEE")


@pytest.fixture
def enterface_root(tmp_path: Path) -> Path:
    return build_enterface(tmp_path / "enterface database")


@pytest.fixture
def ravdess_root(tmp_path: Path) -> Path:
    return build_ravdess(tmp_path / "RAVDESS")


@pytest.fixture
def one_thread():
    """Torch on one thread for the test: numbers compared exactly (a resume equals an
    uninterrupted run, a frozen task stays bit-identical) need one summation order."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def plain_bundle(folder) -> Path:
    """A bundle of a network that is not a mini-Xception."""
    from pathfer.data.faces import CropSettings
    from pathfer.models.nn import PlainCNN
    from pathfer.use.bundle import save_bundle

    return save_bundle(
        PlainCNN(3).eval(),
        folder / "cnn.safetensors",
        architecture="plain_cnn",
        arch_kwargs={"n_classes": 3},
        labels=["anger", "happiness", "sadness"],
        crop=CropSettings(size=48),
    )
