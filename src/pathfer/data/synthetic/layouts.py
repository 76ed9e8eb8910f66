"""The corpora on disk: SAVEE's and eNTERFACE'05's folder layouts and file names, one
random stream per clip, and the deliberate irregularities of the real eNTERFACE release.

Every clip's frames come from its own random stream keyed by ``(seed, corpus, subject,
emotion, clip)``, so a corpus is a pure function of ``seed`` and one clip does not change
when others are added.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pathfer.data.emotions import ENTERFACE_CODES, SAVEE_CODES
from pathfer.data.synthetic.expression import EMOTION_INDEX
from pathfer.data.synthetic.params import SubjectParams
from pathfer.data.synthetic.render import render_clip
from pathfer.data.synthetic.styles import (
    ENTERFACE_STYLE,
    SAVEE_STYLE,
    Style,
    sample_clip,
    sample_subject,
    style_with_size,
)
from pathfer.data.video.write import write_video

_CORPUS_ID = {"savee": 1, "enterface": 2, "blank": 3}


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *keys]))


def _clip_intensity(rng: np.random.Generator) -> float:
    """Apex intensity: most clips clear, about one in seven weak or ambiguous."""
    if rng.random() < 0.15:
        return float(rng.uniform(0.2, 0.45))
    return float(rng.uniform(0.5, 1.05))


def _make_clip(
    path: Path,
    emotion: str,
    subject: SubjectParams,
    style: Style,
    frames: int,
    rng: np.random.Generator,
) -> Path:
    intensity = _clip_intensity(rng)
    clip = sample_clip(rng, style)
    imgs = render_clip(emotion, subject, intensity, clip, frames, rng, style)
    return write_video(path, imgs, style.fps, style.jpeg_quality)


def make_savee(
    root: str | os.PathLike[str],
    speakers: Iterable[str] = ("DC", "JE", "JK", "KL"),
    clips_per_emotion: int = 3,
    frames: int = 20,
    size: tuple[int, int] | None = None,
    seed: int = 0,
    neutral_clips: int | None = None,
) -> Path:
    """Write a SAVEE-style corpus; return its root (the folder holding ``AudioVisualClip``).

    Layout: ``root/AudioVisualClip/<speaker>/<code><n>.avi`` with codes ``a d f h n sa su``
    (:data:`pathfer.data.emotions.SAVEE_CODES`) and ``n`` from 1. Every emotion gets
    ``clips_per_emotion`` clips, neutral ``neutral_clips`` (default: the same); the real
    corpus has ``clips_per_emotion=15, neutral_clips=30``. ``size`` is the frame
    ``(width, height)``, default :data:`SAVEE_STYLE` ``.size`` (160x128).
    """
    root = Path(root)
    style = style_with_size(SAVEE_STYLE, size)
    n_neutral = clips_per_emotion if neutral_clips is None else neutral_clips
    base = root / "AudioVisualClip"
    for si, speaker in enumerate(speakers):
        subject = sample_subject(_rng(seed, _CORPUS_ID["savee"], si), style)
        for code, emotion in SAVEE_CODES.items():
            count = n_neutral if emotion == "neutral" else clips_per_emotion
            for k in range(1, count + 1):
                rng = _rng(seed, _CORPUS_ID["savee"], si, EMOTION_INDEX[emotion], k)
                _make_clip(base / speaker / f"{code}{k}.avi", emotion, subject, style, frames, rng)
    return root


#: eNTERFACE'05 emotion folder names, by canonical emotion.
ENTERFACE_FOLDERS: dict[str, str] = {e: e for e in ENTERFACE_CODES.values()}
_ENTERFACE_CODE = {e: c for c, e in ENTERFACE_CODES.items()}


@dataclass(frozen=True)
class Irregularity:
    """One deliberate deviation from the regular eNTERFACE layout.

    ``kind`` is one of ``"no_sentence_folders"``, ``"stray_file"``, ``"code_mismatch"``,
    ``"case_mismatch"``; ``path`` is relative to the corpus root; ``detail`` explains it.
    """

    kind: str
    path: Path
    detail: str


def _irregular_plan(subjects: int) -> dict[str, int]:
    """Which subject carries which irregularity (distinct subjects when possible)."""

    def pick(preferred: int, taken: set[int]) -> int:
        if preferred <= subjects and preferred not in taken:
            return preferred
        for s in range(subjects, 0, -1):
            if s not in taken:
                return s
        return subjects

    taken: set[int] = set()
    plan = {}
    for kind, pref in (
        ("no_sentence_folders", 6),
        ("stray_file", 1),
        ("code_mismatch", 2),
        ("case_mismatch", 3),
    ):
        plan[kind] = pick(pref, taken)
        taken.add(plan[kind])
    return plan


def _enterface_entries(
    subjects: int, sentences: int, irregular: bool
) -> list[tuple[int, str, int, Path]]:
    """(subject, emotion, sentence, path relative to root) of every clip."""
    plan = _irregular_plan(subjects) if irregular else {}
    out = []
    for s in range(1, subjects + 1):
        for emotion, folder in ENTERFACE_FOLDERS.items():
            code = _ENTERFACE_CODE[emotion]
            if plan.get("case_mismatch") == s and emotion == "happiness":
                folder = folder.capitalize()
            for k in range(1, sentences + 1):
                file_code = code
                if plan.get("code_mismatch") == s and emotion == "fear" and k == 1:
                    file_code = "su"
                name = f"s{s}_{file_code}_{k}.avi"
                if plan.get("no_sentence_folders") == s:
                    rel = Path(f"subject {s}") / folder / name
                else:
                    rel = Path(f"subject {s}") / folder / f"sentence {k}" / name
                out.append((s, emotion, k, rel))
    return out


def enterface_irregularities(subjects: int = 8, sentences: int = 3) -> list[Irregularity]:
    """The irregularities :func:`make_enterface` creates with ``irregular=True``.

    Modelled on the real eNTERFACE'05 distribution: one subject whose clips sit directly in
    the emotion folders (no ``sentence K`` folders), a stray ``Thumbs.db``, a file whose
    code disagrees with its emotion folder (the video shows the folder's emotion, fear), and
    a differently-cased emotion folder (``Happiness``).
    """
    plan = _irregular_plan(subjects)
    s_none = plan["no_sentence_folders"]
    s_stray = plan["stray_file"]
    s_code = plan["code_mismatch"]
    s_case = plan["case_mismatch"]

    def clip_dir(s: int, folder: str, k: int) -> Path:
        base = Path(f"subject {s}") / folder
        return base if s == s_none else base / f"sentence {k}"

    anger_dir = clip_dir(s_stray, "anger", 1)
    fear_dir = clip_dir(s_code, "fear", 1)
    return [
        Irregularity(
            "no_sentence_folders",
            Path(f"subject {s_none}"),
            f"subject {s_none} has no 'sentence K' folders; clips lie in the emotion folders",
        ),
        Irregularity("stray_file", anger_dir / "Thumbs.db", "non-video file among the clips"),
        Irregularity(
            "code_mismatch",
            fear_dir / f"s{s_code}_su_1.avi",
            "file code 'su' (surprise) inside the 'fear' folder; the clip shows fear",
        ),
        Irregularity(
            "case_mismatch",
            Path(f"subject {s_case}") / "Happiness",
            "emotion folder 'Happiness' capitalised, unlike every other subject",
        ),
    ]


def make_enterface(
    root: str | os.PathLike[str],
    subjects: int = 8,
    sentences: int = 3,
    frames: int = 20,
    size: tuple[int, int] | None = None,
    seed: int = 0,
    irregular: bool = False,
) -> Path:
    """Write an eNTERFACE'05-style corpus under ``root`` and return ``root``.

    Layout: ``root/subject N/<emotion>/sentence K/sN_<code>_K.avi`` for N in 1..``subjects``,
    emotion folders ``anger disgust fear happiness sadness surprise`` and codes
    ``an di fe ha sa su`` (:data:`pathfer.data.emotions.ENTERFACE_CODES`), K in 1..``sentences``
    (at most 5, as in the real corpus). With ``irregular=True`` the corpus also reproduces
    the irregularities listed by :func:`enterface_irregularities` (same arguments).
    ``size`` is the frame ``(width, height)``, default 176x144.
    """
    if not 1 <= sentences <= 5:
        raise ValueError(f"sentences must be in 1..5 (eNTERFACE has 5), got {sentences}")
    if subjects < 1:
        raise ValueError(f"subjects must be >= 1, got {subjects}")
    root = Path(root)
    style = style_with_size(ENTERFACE_STYLE, size)
    people = {
        s: sample_subject(_rng(seed, _CORPUS_ID["enterface"], s), style)
        for s in range(1, subjects + 1)
    }
    for s, emotion, k, rel in _enterface_entries(subjects, sentences, irregular):
        rng = _rng(seed, _CORPUS_ID["enterface"], s, EMOTION_INDEX[emotion], k)
        _make_clip(root / rel, emotion, people[s], style, frames, rng)
    if irregular:
        for irr in enterface_irregularities(subjects, sentences):
            if irr.kind == "stray_file":
                target = root / irr.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(b"\xd0\xcf\x11\xe0 synthetic Windows thumbnail cache\n")
    return root


def make_blank_clip(
    path: str | os.PathLike[str],
    frames: int = 10,
    size: tuple[int, int] = (160, 128),
    seed: int = 0,
    fps: float = 25.0,
) -> Path:
    """Write a clip of an empty scene (smooth gradient wall + noise, no face) to ``path``."""
    w, h = int(size[0]), int(size[1])
    rng = _rng(seed, _CORPUS_ID["blank"])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c1 = rng.uniform(60, 200, 3).astype(np.float32)
    c2 = rng.uniform(60, 200, 3).astype(np.float32)
    t = np.clip((0.6 * xx / w + 0.4 * yy / h), 0, 1)[..., None]
    base = c1 * (1 - t) + c2 * t
    imgs = []
    for i in range(frames):
        f = base * (1.0 + 0.03 * math.sin(i * 0.7)) + rng.normal(0, 3.0, base.shape)
        imgs.append(np.clip(f, 0, 255).astype(np.uint8))
    return write_video(path, imgs, fps)
