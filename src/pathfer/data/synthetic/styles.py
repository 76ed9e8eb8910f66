"""The two corpora's looks (:class:`Style`) and the subjects and clips drawn for each.

SAVEE-like clips are a fixed studio shot (blue backdrop, warm light, close-up, blue face
markers as on the real SAVEE actors, little motion, low noise); eNTERFACE-like clips are
farther away, with varied office backgrounds, cold side lighting, more head motion, more
noise and blur and a more varied subject population. The emotion cues are shared, so
knowledge transfers, but the domain shift is real.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from pathfer.data.synthetic.expression import ACTIONS, PROTOTYPES
from pathfer.data.synthetic.params import ClipParams, SubjectParams


@dataclass(frozen=True)
class Style:
    """Everything that differs between the two generated corpora (the "domain")."""

    name: str
    size: tuple[int, int]  # frame (width, height)
    fps: float
    face_height: tuple[float, float]  # face (forehead-chin) height as a fraction of frame
    face_center: tuple[float, float]  # mean head centre (x, y) as fractions of the frame
    center_jitter: float  # per-subject head-centre jitter, fraction of frame height
    drift_px: float  # head translation amplitude within a clip, fraction of frame height
    roll_deg: float  # head roll amplitude within a clip
    scale_jitter: float  # relative head-scale amplitude within a clip
    noise: tuple[float, float]  # sensor noise sigma range (grey levels)
    blur: tuple[float, float]  # Gaussian blur sigma range (pixels)
    light_side: tuple[float, float]  # left/right lighting gradient strength range
    tint: tuple[float, float, float]  # BGR gain of the light colour
    gain: tuple[float, float]  # overall exposure range
    markers: bool  # blue face markers (SAVEE)
    skin_tone: tuple[float, float]  # range of the skin-tone parameter (0 light, 1 dark)
    long_hair_p: float  # share of subjects with long hair framing the face
    jpeg_quality: int  # MJPG quality
    expressiveness: tuple[float, float]  # subjects' expressiveness range (actors vs not)


SAVEE_STYLE = Style(
    name="savee",
    size=(160, 128),
    fps=30.0,
    face_height=(0.56, 0.64),
    face_center=(0.5, 0.5),
    center_jitter=0.03,
    drift_px=0.015,
    roll_deg=2.0,
    scale_jitter=0.02,
    noise=(1.5, 3.0),
    blur=(0.4, 0.7),
    light_side=(-0.06, 0.06),
    tint=(0.88, 1.0, 1.1),
    gain=(0.95, 1.05),
    markers=True,
    skin_tone=(0.0, 0.3),
    long_hair_p=0.0,
    jpeg_quality=95,
    expressiveness=(0.75, 1.15),
)

ENTERFACE_STYLE = Style(
    name="enterface",
    size=(176, 144),
    fps=25.0,
    face_height=(0.36, 0.46),
    face_center=(0.5, 0.45),
    center_jitter=0.07,
    drift_px=0.05,
    roll_deg=7.0,
    scale_jitter=0.06,
    noise=(4.0, 7.0),
    blur=(0.7, 1.2),
    light_side=(-0.22, 0.22),
    tint=(1.08, 1.02, 0.9),
    gain=(0.85, 1.12),
    markers=False,
    skin_tone=(0.0, 0.65),
    long_hair_p=0.35,
    jpeg_quality=75,
    expressiveness=(0.55, 1.05),
)

_STYLES = {"savee": SAVEE_STYLE, "enterface": ENTERFACE_STYLE}


def get_style(style: str | Style) -> Style:
    """Return a :class:`Style` given one or its name (``"savee"`` or ``"enterface"``)."""
    if isinstance(style, Style):
        return style
    try:
        return _STYLES[style.lower()]
    except KeyError:
        raise ValueError(f"unknown style {style!r}; expected one of {sorted(_STYLES)}") from None


def _bgr(a: Sequence[float]) -> tuple[float, float, float]:
    return (float(a[0]), float(a[1]), float(a[2]))


_SKIN_LIGHT = np.array([150.0, 175.0, 225.0])
_SKIN_DARK = np.array([55.0, 80.0, 125.0])


def sample_subject(rng: np.random.Generator, style: str | Style) -> SubjectParams:
    """Draw one subject's appearance for ``style`` from ``rng``."""
    st = get_style(style)
    tone = rng.uniform(*st.skin_tone)
    skin = (1 - tone) * _SKIN_LIGHT + tone * _SKIN_DARK + rng.normal(0, 6, 3)
    hair_lum = rng.uniform(15, 70) if rng.random() < 0.85 else rng.uniform(70, 120)
    hair = np.array([0.7, 0.85, 1.0]) * hair_lum + rng.normal(0, 4, 3)
    if st.name == "savee":
        # Studio: saturated blue backdrop, same room for every speaker.
        bg = np.array([165.0, 105.0, 55.0]) + rng.normal(0, 8, 3)
        bg2 = bg * rng.uniform(0.75, 0.9)
        layout = 0
        hair_style = "short" if rng.random() < 0.9 else "bald"
    else:
        # Offices and labs: greys, beiges, greens; sometimes darker than the face.
        base = rng.uniform(90, 205)
        hue = rng.normal(0, 18, 3)
        bg = np.clip(base + hue, 20, 240)
        bg2 = np.clip(bg * rng.uniform(0.5, 1.4) + rng.normal(0, 15, 3), 10, 250)
        layout = int(rng.integers(1, 4))
        hair_style = "long" if rng.random() < st.long_hair_p else "short"
    quirks = {
        emo: tuple(float(x) for x in rng.normal(0.0, 0.22, len(ACTIONS)))
        for emo in PROTOTYPES
        if emo != "neutral"
    }
    return SubjectParams(
        face_w=float(rng.uniform(0.70, 0.82)),
        eye_dx=float(rng.uniform(0.38, 0.46)),
        eye_y=float(rng.uniform(-0.12, -0.02)),
        eye_size=float(rng.uniform(1.1, 1.35)),
        brow_gap=float(rng.uniform(0.15, 0.21)),
        brow_thick=float(rng.uniform(0.8, 1.3)),
        nose_len=float(rng.uniform(0.33, 0.42)),
        mouth_y=float(rng.uniform(0.55, 0.63)),
        mouth_w=float(rng.uniform(0.34, 0.44)),
        lip_thick=float(rng.uniform(0.7, 1.3)),
        skin=_bgr(np.clip(skin, 30, 250)),
        hair=_bgr(np.clip(hair, 5, 200)),
        hair_style=hair_style,
        shirt=_bgr(rng.uniform(20, 200, 3)),
        background=_bgr(bg),
        background2=_bgr(bg2),
        bg_layout=layout,
        center=(float(rng.normal(0, st.center_jitter)), float(rng.normal(0, st.center_jitter))),
        face_height=float(rng.uniform(*st.face_height)),
        light_side=float(rng.uniform(*st.light_side)),
        expressiveness=float(rng.uniform(*st.expressiveness)),
        quirks=quirks,
    )


def sample_clip(rng: np.random.Generator, style: str | Style) -> ClipParams:
    """Draw one clip's timing, motion, speech, blinks and camera settings."""
    st = get_style(style)
    onset = float(rng.uniform(0.0, 0.15))
    apex = float(min(onset + rng.uniform(0.1, 0.3), 0.95))
    n_blinks = int(rng.integers(0, 3))
    return ClipParams(
        onset=onset,
        apex=apex,
        release=float(rng.uniform(0.0, 0.4)) if rng.random() < 0.4 else 0.0,
        jitter=tuple(float(x) for x in rng.normal(0.0, 0.12, len(ACTIONS))),
        motion=tuple(float(x) for x in rng.uniform(0.0, 2 * math.pi, 8)),
        speech=(float(rng.uniform(3.0, 7.0)), float(rng.uniform(0, 2 * math.pi))),
        speech_amp=float(rng.uniform(0.1, 0.3)),
        blinks=tuple(float(x) for x in rng.uniform(0.0, 1.0, n_blinks)),
        noise=float(rng.uniform(*st.noise)),
        blur=float(rng.uniform(*st.blur)),
        gain=float(rng.uniform(*st.gain)),
    )


def style_with_size(style: Style, size: tuple[int, int] | None) -> Style:
    """``style`` with another frame ``(width, height)`` (at least 48x48); None keeps it."""
    if size is None:
        return style
    w, h = int(size[0]), int(size[1])
    if w < 48 or h < 48:
        raise ValueError(f"frame size {size} too small (need at least 48x48)")
    return replace(style, size=(w, h))
