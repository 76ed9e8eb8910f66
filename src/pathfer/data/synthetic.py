"""Procedurally generated emotion corpora in the SAVEE and eNTERFACE'05 layouts.

The real corpora cannot be downloaded in every environment, so pathfer's demo and tests use
generated stand-ins: real MJPG ``.avi`` files laid out exactly like the real corpora, showing
procedurally drawn faces whose brows, eyes, mouth, cheeks and nose depend on the emotion.

Faces are drawn with a realistic *luminance structure* (shaded skin oval, dark eye sockets
and brows over brighter cheeks, a bright nose bridge, a darker mouth, hair and background
contrast) so that OpenCV's frontal Haar cascade finds them in practically every frame.

What makes the task learnable but not trivial:

* every emotion is a prototype vector of facial "action" parameters (:data:`PROTOTYPES`);
  each subject expresses every emotion with a personal twist and expressiveness, and each
  clip has its own apex intensity (some clips are weak and ambiguous);
* expressions evolve over the clip: neutral onset, a ramp to the apex, sometimes a partial
  offset, plus speech-like mouth motion and blinks in every clip (neutral included);
* subjects differ in face geometry (face width/height, eye spacing, brow height, mouth
  width), skin tone, hair and clothing; heads drift, scale and roll by a few degrees;
  frames get lighting gradients, blur, sensor noise and JPEG compression.

The two corpora have clearly different *styles* (:data:`SAVEE_STYLE`,
:data:`ENTERFACE_STYLE`): SAVEE-like clips are a fixed studio shot (blue backdrop, warm
light, close-up, blue face markers as on the real SAVEE actors, little motion, low noise);
eNTERFACE-like clips are farther away, with varied office backgrounds, cold side lighting,
more head motion, more noise and blur and a more varied subject population. The emotion
cues are shared, so knowledge transfers, but the domain shift is real.

Everything is a pure function of ``seed``: the same seed gives identical decoded frames.

Entry points: :func:`make_savee`, :func:`make_enterface`, :func:`make_blank_clip`,
:func:`render_face`, :func:`write_video`; ``python -m pathfer.data.synthetic OUT_DIR`` writes both
demo corpora.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from pathfer.data.emotions import ENTERFACE_CODES, SAVEE_CODES
from pathfer.data.video.write import read_all_frames as read_video
from pathfer.data.video.write import write_video

__all__ = [
    "ACTIONS",
    "ENTERFACE_FOLDERS",
    "ENTERFACE_STYLE",
    "PROTOTYPES",
    "SAVEE_STYLE",
    "ClipParams",
    "Irregularity",
    "Style",
    "SubjectParams",
    "enterface_irregularities",
    "expression_at",
    "get_style",
    "make_blank_clip",
    "make_enterface",
    "make_savee",
    "read_video",
    "render_clip",
    "render_face",
    "sample_clip",
    "sample_subject",
    "write_video",
]

# --------------------------------------------------------------------------------------
# Expression model
# --------------------------------------------------------------------------------------

#: Facial action parameters, each roughly in [-1, 1] (0 = neutral face).
ACTIONS: tuple[str, ...] = (
    "brow_raise",  # both brows up (+) / down (-)
    "brow_inner",  # inner ends up relative to outer (+, sad/fear) or down (-, anger "V")
    "brow_squeeze",  # brows pulled together
    "eye_open",  # eyes wide (+) / narrowed (-)
    "cheek_raise",  # cheeks up, lower lids pushed up, nasolabial folds (smile, disgust)
    "smile",  # mouth corners up (+) / down (-)
    "mouth_open",  # jaw drop
    "mouth_width",  # lips stretched (+) / narrowed, rounded (-)
    "lip_press",  # lips pressed thin
    "sneer",  # asymmetric upper-lip raise with nose wrinkle (disgust)
)
_A = {name: i for i, name in enumerate(ACTIONS)}


def _proto(**kw: float) -> np.ndarray:
    v = np.zeros(len(ACTIONS), np.float32)
    for k, x in kw.items():
        v[_A[k]] = x
    return v


# fmt: off
#: Prototype action vector of each canonical emotion at full intensity.
PROTOTYPES: dict[str, np.ndarray] = {
    "anger": _proto(
        brow_raise=-0.8, brow_inner=-1.0, brow_squeeze=0.9, eye_open=-0.25,
        smile=-0.25, mouth_width=-0.35, lip_press=1.0,
    ),
    "disgust": _proto(
        brow_raise=-0.45, brow_inner=-0.3, brow_squeeze=0.5, eye_open=-0.55,
        cheek_raise=0.45, smile=-0.45, mouth_open=0.12, sneer=1.0,
    ),
    "fear": _proto(
        brow_raise=0.65, brow_inner=0.8, brow_squeeze=0.6, eye_open=1.0,
        smile=-0.3, mouth_open=0.4, mouth_width=0.8,
    ),
    "happiness": _proto(
        brow_raise=0.1, eye_open=-0.3, cheek_raise=0.9, smile=1.0,
        mouth_open=0.3, mouth_width=0.6,
    ),
    "sadness": _proto(
        brow_raise=-0.05, brow_inner=1.0, brow_squeeze=0.35, eye_open=-0.5,
        smile=-0.9, lip_press=0.25, mouth_width=-0.1,
    ),
    "surprise": _proto(
        brow_raise=1.0, brow_inner=0.15, eye_open=1.0, mouth_open=1.0, mouth_width=-0.6,
    ),
    "neutral": _proto(),
}
# fmt: on


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


# --------------------------------------------------------------------------------------
# Styles, subjects, clips
# --------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class SubjectParams:
    """Per-subject appearance and expression idiosyncrasies."""

    face_w: float  # face half-width / face half-height
    eye_dx: float  # eye centre offset from the midline, in face half-widths
    eye_y: float  # eye height, in face half-heights (negative = above centre)
    eye_size: float
    brow_gap: float  # brow height above the eyes
    brow_thick: float
    nose_len: float
    mouth_y: float
    mouth_w: float
    lip_thick: float
    skin: tuple[float, float, float]  # BGR
    hair: tuple[float, float, float]
    hair_style: str  # "short" | "long" | "bald"
    shirt: tuple[float, float, float]
    background: tuple[float, float, float]
    background2: tuple[float, float, float]  # second colour (gradient / furniture)
    bg_layout: int
    center: tuple[float, float]  # head-centre offset (fraction of frame height)
    face_height: float  # fraction of frame height
    light_side: float
    expressiveness: float
    quirks: dict[str, tuple[float, ...]] = field(default_factory=dict)  # emotion -> delta


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


@dataclass(frozen=True)
class ClipParams:
    """Per-clip timing, motion and speech parameters (everything that varies over ``t``)."""

    onset: float = 0.2  # clip time where the expression starts
    apex: float = 0.55  # clip time where it reaches full intensity
    release: float = 0.0  # how much it relaxes again by the end (0..1)
    jitter: tuple[float, ...] = ()  # clip-specific offset of the action vector
    motion: tuple[float, ...] = ()  # phases/frequencies of head motion
    speech: tuple[float, float] = (0.0, 0.0)  # syllable rate (cycles/clip), phase
    speech_amp: float = 0.0
    blinks: tuple[float, ...] = ()  # blink centres (clip time)
    noise: float = 2.0
    blur: float = 0.5
    gain: float = 1.0


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


def expression_at(
    emotion: str,
    subject: SubjectParams,
    intensity: float,
    t: float,
    clip: ClipParams | None = None,
) -> np.ndarray:
    """Action vector (see :data:`ACTIONS`) of ``emotion`` at clip time ``t`` in [0, 1].

    ``intensity`` is the clip's apex intensity; the expression rises from neutral at
    ``clip.onset`` to ``intensity`` at ``clip.apex`` and may partly relax towards the end.
    Speech-like mouth motion is added in every clip, neutral ones included.
    """
    clip = clip or ClipParams()
    proto = PROTOTYPES[emotion]
    if emotion != "neutral":
        vec = proto + np.asarray(subject.quirks.get(emotion, ()), np.float32).reshape(-1)[
            : len(ACTIONS)
        ] * (np.abs(proto) + 0.3)
    else:
        vec = proto.copy()
    if clip.jitter:
        vec = vec + np.asarray(clip.jitter, np.float32) * (0.3 + np.abs(proto))
    ramp = _smoothstep((t - clip.onset) / max(clip.apex - clip.onset, 1e-3))
    if clip.release > 0 and t > clip.apex:
        ramp *= 1.0 - clip.release * _smoothstep((t - clip.apex) / max(1.0 - clip.apex, 1e-3))
    level = intensity * subject.expressiveness * ramp
    out = vec * level if emotion != "neutral" else vec * 0.0
    if emotion == "neutral" and clip.jitter:
        # Neutral faces are not perfectly still: tiny idiosyncratic deviations.
        out = np.asarray(clip.jitter, np.float32) * 0.5 * intensity
    rate, phase = clip.speech
    if clip.speech_amp > 0:
        talk = 0.5 + 0.5 * math.sin(2 * math.pi * rate * t + phase)
        out = out.copy()
        out[_A["mouth_open"]] += clip.speech_amp * talk * talk
    return np.clip(out, -1.3, 1.3).astype(np.float32)


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------

# The head is drawn in a canonical canvas (face half-height _U pixels, centre _C), then
# warped into the frame with the head's scale, roll and translation.
_U = 44.0
_CW, _CH = 176, 208
_C = (88.0, 92.0)
_SH = 4  # fixed-point shift for sub-pixel drawing
_F = 1 << _SH


def _p(x: float, y: float) -> tuple[int, int]:
    return (int(round(x * _F)), int(round(y * _F)))


class _Mask:
    """A coverage mask in [0, 1] stored only over its bounding box (``a`` at ``y0, x0``)."""

    __slots__ = ("a", "y0", "x0")

    def __init__(self, a: np.ndarray, y0: int = 0, x0: int = 0) -> None:
        self.a, self.y0, self.x0 = a, y0, x0

    def full(self) -> np.ndarray:
        out = np.zeros((_CH, _CW), np.float32)
        h, w = self.a.shape
        out[self.y0 : self.y0 + h, self.x0 : self.x0 + w] = self.a
        return out

    def __mul__(self, other: _Mask) -> _Mask:
        h, w = self.a.shape
        oh, ow = other.a.shape
        y0, x0 = max(self.y0, other.y0), max(self.x0, other.x0)
        y1, x1 = min(self.y0 + h, other.y0 + oh), min(self.x0 + w, other.x0 + ow)
        if y1 <= y0 or x1 <= x0:
            return _Mask(np.zeros((1, 1), np.float32))
        a = self.a[y0 - self.y0 : y1 - self.y0, x0 - self.x0 : x1 - self.x0]
        b = other.a[y0 - other.y0 : y1 - other.y0, x0 - other.x0 : x1 - other.x0]
        return _Mask(a * b, y0, x0)


def _finish(m: np.ndarray, blur: float) -> _Mask:
    x, y, w, h = cv2.boundingRect(m)
    if w == 0 or h == 0:
        return _Mask(np.zeros((1, 1), np.float32))
    pad = int(math.ceil(4 * blur)) + 1 if blur > 0 else 0
    x0, y0 = max(x - pad, 0), max(y - pad, 0)
    x1, y1 = min(x + w + pad, _CW), min(y + h + pad, _CH)
    a = m[y0:y1, x0:x1].astype(np.float32) * (1.0 / 255.0)
    if blur > 0:
        a = cv2.GaussianBlur(a, (0, 0), blur)
    return _Mask(a, y0, x0)


def _ellipse_mask(
    center: tuple[float, float], axes: tuple[float, float], angle: float = 0.0, blur: float = 0.0
) -> _Mask:
    m = np.zeros((_CH, _CW), np.uint8)
    cv2.ellipse(
        m,
        _p(*center),
        (max(int(round(axes[0] * _F)), 1), max(int(round(axes[1] * _F)), 1)),
        angle,
        0,
        360,
        255,
        -1,
        cv2.LINE_AA,
        _SH,
    )
    return _finish(m, blur)


def _poly_mask(points: np.ndarray, blur: float = 0.0) -> _Mask:
    m = np.zeros((_CH, _CW), np.uint8)
    pts = np.round(points * _F).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(m, [pts], 255, cv2.LINE_AA, _SH)
    return _finish(m, blur)


def _line_mask(points: np.ndarray, thickness: float, blur: float = 0.0) -> _Mask:
    m = np.zeros((_CH, _CW), np.uint8)
    pts = np.round(points * _F).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(m, [pts], False, 255, max(int(round(thickness)), 1), cv2.LINE_AA, _SH)
    return _finish(m, blur)


def _dots_mask(points: Iterable[tuple[float, float]], radius: float) -> _Mask:
    m = np.zeros((_CH, _CW), np.uint8)
    r = max(int(round(radius * _F)), 1)
    for x, y in points:
        cv2.circle(m, _p(x, y), r, 255, -1, cv2.LINE_AA, _SH)
    return _finish(m, 0.0)


def _roi(img: np.ndarray, mask: _Mask | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(mask, np.ndarray):
        return img, mask
    h, w = mask.a.shape
    return img[mask.y0 : mask.y0 + h, mask.x0 : mask.x0 + w], mask.a


def _paint(
    img: np.ndarray, mask: _Mask | np.ndarray, color: Sequence[float], alpha: float = 1.0
) -> None:
    sub, a = _roi(img, mask)
    m = (a * alpha)[..., None]
    sub += m * (np.asarray(color, np.float32) - sub)


def _shade(img: np.ndarray, mask: _Mask | np.ndarray, factor: float) -> None:
    sub, a = _roi(img, mask)
    sub *= (1.0 + (factor - 1.0) * a)[..., None]


def _curve(x0: float, x1: float, f, n: int = 12) -> np.ndarray:
    xs = np.linspace(x0, x1, n, dtype=np.float32)
    return np.stack([xs, np.array([f(x) for x in xs], np.float32)], axis=1)


_YY, _XX = np.mgrid[0:_CH, 0:_CW].astype(np.float32)


@functools.lru_cache(maxsize=64)
def _base_layer(
    face_w: float,
    skin_t: tuple[float, float, float],
    hair_t: tuple[float, float, float],
    hair_style: str,
    shirt: tuple[float, float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Expression-independent part of the head (shoulders, neck, hair, shaded face oval)."""
    cx, cy = _C
    fh = _U
    fw = _U * face_w
    skin = np.asarray(skin_t, np.float32)
    hair = np.asarray(hair_t, np.float32)
    img = np.zeros((_CH, _CW, 3), np.float32)
    alpha = np.zeros((_CH, _CW), np.float32)

    # Shoulders and neck.
    sh = _ellipse_mask((cx, cy + 2.55 * fh), (2.3 * fw, 1.2 * fh))
    _paint(img, sh, shirt)
    alpha = np.maximum(alpha, sh.full())
    neck = _poly_mask(
        np.array(
            [
                [cx - 0.55 * fw, cy + 0.5 * fh],
                [cx + 0.55 * fw, cy + 0.5 * fh],
                [cx + 0.6 * fw, cy + 1.55 * fh],
                [cx - 0.6 * fw, cy + 1.55 * fh],
            ],
            np.float32,
        )
    )
    _paint(img, neck, skin * 0.72)
    alpha = np.maximum(alpha, neck.full())

    # Hair behind the head.
    if hair_style == "long":
        back = _poly_mask(
            np.array(
                [
                    [cx - 1.22 * fw, cy - 0.3 * fh],
                    [cx + 1.22 * fw, cy - 0.3 * fh],
                    [cx + 1.3 * fw, cy + 1.25 * fh],
                    [cx - 1.3 * fw, cy + 1.25 * fh],
                ],
                np.float32,
            ),
            blur=1.0,
        ).full()
        top = _ellipse_mask((cx, cy - 0.22 * fh), (1.22 * fw, 0.95 * fh)).full()
        back = np.maximum(back, top)
        _paint(img, back, hair)
        alpha = np.maximum(alpha, back)
    elif hair_style == "short":
        top = _ellipse_mask((cx, cy - 0.17 * fh), (1.1 * fw, 0.97 * fh), blur=0.8)
        _paint(img, top, hair)
        alpha = np.maximum(alpha, top.full())

    # Face oval with shading: brighter centre, darker rim.
    face = _ellipse_mask((cx, cy), (fw, fh)).full()
    u = (_XX - cx) / fw
    v = (_YY - cy) / fh
    shading = np.clip(1.08 - 0.42 * (u * u) ** 1.3 - 0.12 * np.maximum(v, 0) ** 2, 0.45, 1.2)
    face_col = skin[None, None, :] * shading[..., None]
    m = face[..., None]
    img *= 1.0 - m
    img += m * face_col
    alpha = np.maximum(alpha, face)
    # Shadow under the jaw on the neck.
    jaw = _ellipse_mask((cx, cy + 1.02 * fh), (0.75 * fw, 0.22 * fh), blur=2.5).full()
    _shade(img, jaw * (1.0 - face), 0.55)

    # Hairline / fringe over the forehead.
    if hair_style != "bald":
        fringe = _ellipse_mask((cx, cy - 0.98 * fh), (1.02 * fw, 0.42 * fh), blur=1.2).full()
        _paint(img, fringe * np.minimum(face * 3.0, 1.0), hair)
    if hair_style == "long":
        for side in (-1, 1):
            lock = _ellipse_mask((cx + side * 1.02 * fw, cy + 0.05 * fh), (0.2 * fw, 1.0 * fh))
            _paint(img, lock, hair)
    img.setflags(write=False)
    alpha = np.clip(alpha, 0.0, 1.0)
    alpha.setflags(write=False)
    return img, alpha


def _draw_head(
    subject: SubjectParams, act: np.ndarray, blink: float, markers: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the head (hair, face, neck, shoulders) in the canonical canvas: (BGR, alpha)."""
    a = {name: float(act[i]) for i, name in enumerate(ACTIONS)}
    cx, cy = _C
    fh = _U
    fw = _U * subject.face_w
    skin = np.asarray(subject.skin, np.float32)
    hair = np.asarray(subject.hair, np.float32)
    base, alpha = _base_layer(
        subject.face_w, subject.skin, subject.hair, subject.hair_style, subject.shirt
    )
    img = base.copy()

    ey = cy + subject.eye_y * fh
    eye_dx = subject.eye_dx * fw
    ew = 0.19 * fw * subject.eye_size

    # Eye sockets: the dark band Haar relies on.
    socket_lift = 0.05 * fh * a["brow_raise"]
    for side in (-1, 1):
        sock = _ellipse_mask(
            (cx + side * eye_dx, ey - 0.04 * fh - socket_lift * 0.5),
            (1.3 * ew, 0.6 * ew + 0.03 * fh * max(a["eye_open"], 0)),
            blur=2.2,
        )
        _shade(img, sock, 0.75)

    # Nose: bright bridge and tip, shaded sides, dark nostrils and under-nose shadow.
    nose_y = cy + subject.nose_len * fh
    bridge = _poly_mask(
        np.array(
            [
                [cx - 0.07 * fw, ey - 0.1 * fh],
                [cx + 0.07 * fw, ey - 0.1 * fh],
                [cx + 0.13 * fw, nose_y - 0.05 * fh],
                [cx - 0.13 * fw, nose_y - 0.05 * fh],
            ],
            np.float32,
        ),
        blur=2.0,
    )
    _shade(img, bridge, 1.16)
    for side in (-1, 1):
        flank = _ellipse_mask(
            (cx + side * 0.2 * fw, (ey + nose_y) * 0.5 + 0.05 * fh), (0.06 * fw, 0.2 * fh), blur=2.2
        )
        _shade(img, flank, 0.86)
        nostril = _ellipse_mask(
            (cx + side * 0.1 * fw, nose_y + 0.02 * fh - 0.03 * fh * a["sneer"]),
            (0.055 * fw, 0.028 * fh),
            blur=0.7,
        )
        _shade(img, nostril, 0.45)
    under = _ellipse_mask((cx, nose_y + 0.07 * fh), (0.18 * fw, 0.04 * fh), blur=1.5)
    _shade(img, under, 0.8)
    if a["sneer"] > 0.05:
        # Nose wrinkle: short dark creases on the bridge.
        for k in range(2):
            yy = ey + (0.03 + 0.06 * k) * fh
            crease = _line_mask(
                _curve(cx - 0.12 * fw, cx + 0.12 * fw, lambda x, yy=yy: yy + 0.02 * fh), 1.2, 0.6
            )
            _shade(img, crease, 1.0 - 0.35 * min(a["sneer"], 1.0))

    # Cheeks: highlight and nasolabial folds when raised.
    cheek = max(a["cheek_raise"], 0.0)
    for side in (-1, 1):
        apple = _ellipse_mask(
            (cx + side * 0.48 * fw, ey + 0.32 * fh - 0.06 * fh * cheek),
            (0.22 * fw, 0.13 * fh),
            blur=3.0,
        )
        _shade(img, apple, 1.06 + 0.08 * cheek)
    fold = min(cheek + 0.5 * max(a["sneer"], 0.0), 1.3)
    if fold > 0.05:
        for side in (-1, 1):
            x0 = cx + side * 0.2 * fw
            x1 = cx + side * (subject.mouth_w + 0.12) * fw
            pts = _curve(
                x0,
                x1,
                lambda x, x0=x0, x1=x1: (
                    nose_y
                    - 0.02 * fh
                    + (subject.mouth_y - subject.nose_len + 0.05)
                    * fh
                    * ((x - x0) / (x1 - x0)) ** 1.6
                ),
            )
            _shade(img, _line_mask(pts, 1.5, 0.9), 1.0 - 0.3 * fold)

    # Eyes.
    wide = a["eye_open"]
    for side in (-1, 1):
        ex = cx + side * eye_dx
        up = 0.075 * fh * subject.eye_size * (1.0 + 0.7 * wide) * (1.0 - blink)
        lo = 0.045 * fh * subject.eye_size * (1.0 + 0.35 * wide - 0.5 * cheek) * (1.0 - blink)
        up = max(up, 0.006 * fh)
        lo = max(lo, 0.004 * fh)
        upper = _curve(
            ex - ew, ex + ew, lambda x, ex=ex, up=up: ey - up * (1 - ((x - ex) / ew) ** 2)
        )
        lower = _curve(
            ex + ew, ex - ew, lambda x, ex=ex, lo=lo: ey + lo * (1 - ((x - ex) / ew) ** 2)
        )
        eye = _poly_mask(np.concatenate([upper, lower]))
        _paint(img, eye, skin * 0.3 + np.float32(215) * 0.7)  # sclera
        iris = _ellipse_mask((ex, ey), (0.42 * ew, 0.42 * ew)) * eye
        _paint(img, iris, hair * 0.3 + np.float32(25))
        # Upper lid + lashes: the darkest line of the eye.
        _paint(img, _line_mask(upper, 1.6 + 0.6 * (1 - wide * 0.5), 0.4), (20, 20, 25), 0.9)
        if wide > 0.3:
            # White above the iris when the eyes are wide: lid crease moves up.
            crease = _curve(
                ex - ew,
                ex + ew,
                lambda x, ex=ex, up=up: ey - up - 0.04 * fh * wide * (1 - ((x - ex) / ew) ** 2),
            )
            _shade(img, _line_mask(crease, 1.0, 0.5), 0.8)
        if cheek > 0.2:
            # Lower-lid bulge of a Duchenne smile.
            bulge = _curve(
                ex - ew,
                ex + ew,
                lambda x, ex=ex, lo=lo: (
                    ey + lo + 0.02 * fh + 0.015 * fh * (1 - ((x - ex) / ew) ** 2)
                ),
            )
            _shade(img, _line_mask(bulge, 1.0, 0.5), 1.0 - 0.25 * cheek)

    # Brows.
    by = ey - subject.brow_gap * fh
    raise_ = 0.15 * fh * a["brow_raise"]
    inner = 0.12 * fh * a["brow_inner"]
    squeeze = 0.06 * fw * max(a["brow_squeeze"], 0.0)
    thick = 3.2 * subject.brow_thick
    for side in (-1, 1):
        xi = cx + side * (eye_dx - 1.05 * ew + squeeze * 0.0) - side * squeeze
        xo = cx + side * (eye_dx + 1.25 * ew)
        yi = by - raise_ - inner
        yo = by - raise_ + 0.25 * inner + 0.02 * fh
        arch = 0.035 * fh * (1.0 - 0.5 * abs(a["brow_inner"]))

        def brow_y(x, xi=xi, xo=xo, yi=yi, yo=yo, arch=arch):
            s = (x - xi) / (xo - xi)
            return yi + (yo - yi) * s - arch * 4 * s * (1 - s)

        pts = _curve(min(xi, xo), max(xi, xo), brow_y)
        _paint(img, _line_mask(pts, thick, 0.7), hair * 0.8 + skin * 0.05, 0.95)
    if a["brow_squeeze"] > 0.3 and a["brow_inner"] < 0:
        for side in (-1, 1):  # vertical glabella furrows (anger)
            pts = np.array(
                [[cx + side * 0.05 * fw, by - 0.02 * fh], [cx + side * 0.04 * fw, by + 0.1 * fh]],
                np.float32,
            )
            _shade(img, _line_mask(pts, 1.0, 0.5), 1.0 - 0.3 * min(-a["brow_inner"], 1.0))
    if a["brow_raise"] > 0.3:
        for k in range(3):  # horizontal forehead wrinkles (surprise, fear)
            yy = by - (0.12 + 0.07 * k) * fh - raise_
            pts = _curve(
                cx - 0.4 * fw,
                cx + 0.4 * fw,
                lambda x, yy=yy: yy - 0.02 * fh * (1 - (x - cx) ** 2 / (0.4 * fw) ** 2),
            )
            _shade(img, _line_mask(pts, 1.0, 0.6), 1.0 - 0.22 * min(a["brow_raise"], 1.0))

    # Mouth.
    my = cy + subject.mouth_y * fh
    mw = subject.mouth_w * fw * (1.0 + 0.22 * a["mouth_width"] + 0.12 * max(a["smile"], 0))
    mw *= 1.0 - 0.12 * max(a["lip_press"], 0)
    corner = -0.13 * fh * a["smile"]  # positive smile lifts the corners (smaller y)
    opening = 0.22 * fh * max(a["mouth_open"], 0.0)
    lip = 0.035 * fh * subject.lip_thick * (1.0 - 0.7 * max(a["lip_press"], 0.0))
    sneer = 0.05 * fh * max(a["sneer"], 0.0)
    rounding = max(-a["mouth_width"], 0.0)
    sneer_side = 1.0

    def mid(x):
        s = (x - cx) / mw
        return my + corner * s * s

    def up_in(x):
        s = (x - cx) / mw
        bump = sneer * math.exp(-(((s - 0.35 * sneer_side) / 0.35) ** 2))
        return mid(x) - opening * 0.35 * max(1 - s * s, 0.0) ** (0.7 - 0.4 * rounding) - bump

    def lo_in(x):
        s = (x - cx) / mw
        return mid(x) + opening * 0.65 * max(1 - s * s, 0.0) ** (0.7 - 0.4 * rounding)

    def up_out(x):
        s = (x - cx) / mw
        return up_in(x) - lip * (0.35 + 0.65 * math.sqrt(max(1 - s * s, 0))) * (
            1 - 0.3 * math.cos(s * 6)
        )

    def lo_out(x):
        s = (x - cx) / mw
        return lo_in(x) + 1.2 * lip * (0.3 + 0.7 * math.sqrt(max(1 - s * s, 0)))

    n = 16
    lips = np.concatenate(
        [_curve(cx - mw, cx + mw, up_out, n), _curve(cx + mw, cx - mw, lo_out, n)]
    )
    lip_col = skin * np.array([0.72, 0.66, 0.85], np.float32)
    _paint(img, _poly_mask(lips, 0.5), lip_col)
    if opening > 0.4:
        inside = np.concatenate(
            [_curve(cx - mw, cx + mw, up_in, n), _curve(cx + mw, cx - mw, lo_in, n)]
        )
        inner_mask = _poly_mask(inside, 0.3)
        _paint(img, inner_mask, (25, 20, 35))
        if a["smile"] > 0.3 or a["mouth_width"] > 0.5:
            teeth_h = min(opening * 0.45, 0.06 * fh)
            teeth = np.concatenate(
                [
                    _curve(cx - 0.8 * mw, cx + 0.8 * mw, up_in, n),
                    _curve(cx + 0.8 * mw, cx - 0.8 * mw, lambda x: up_in(x) + teeth_h, n),
                ]
            )
            _paint(img, _poly_mask(teeth, 0.3) * inner_mask, (185, 195, 200), 0.9)
    # Dark line between the lips.
    seam = _curve(
        cx - mw, cx + mw, lambda x: 0.5 * (up_in(x) + lo_in(x)) if opening <= 0.4 else up_in(x)
    )
    _paint(img, _line_mask(seam, 1.4, 0.4), (30, 25, 40), 0.8)
    # Shadow under the lower lip / chin highlight.
    _shade(img, _ellipse_mask((cx, lo_out(cx) + 0.07 * fh), (0.5 * mw, 0.03 * fh), blur=1.5), 0.85)

    if markers:
        _draw_markers(
            img, subject, a, cx, cy, fw, fh, ey, eye_dx, by, raise_, inner, my, mw, corner
        )

    return img, alpha


def _draw_markers(img, subject, a, cx, cy, fw, fh, ey, eye_dx, by, raise_, inner, my, mw, corner):
    """Blue dots like the facial markers painted on the real SAVEE actors."""
    blue = (200.0, 110.0, 40.0)
    pts = [
        (cx, by - 0.28 * fh - raise_),
        (cx - 0.35 * fw, by - 0.22 * fh - raise_),
        (cx + 0.35 * fw, by - 0.22 * fh - raise_),
        (cx, ey + 0.05 * fh),
        (cx, cy + subject.nose_len * fh - 0.04 * fh),
        (cx, my + 0.2 * fh + 0.1 * fh * max(a["mouth_open"], 0)),
    ]
    for side in (-1, 1):
        pts += [
            (cx + side * (eye_dx - 0.1 * fw), by - 0.06 * fh - raise_ - inner),
            (cx + side * (eye_dx + 0.12 * fw), by - 0.05 * fh - raise_),
            (cx + side * 0.45 * fw, ey + 0.28 * fh),
            (cx + side * 0.62 * fw, ey + 0.45 * fh),
            (cx + side * (mw + 0.06 * fw), my + corner - 0.01 * fh),
            (cx + side * 0.3 * fw, my + 0.12 * fh + 0.08 * fh * max(a["mouth_open"], 0)),
        ]
    _paint(img, _dots_mask(pts, 1.3), blue, 0.9)


def _background(subject: SubjectParams, style: Style) -> np.ndarray:
    w, h = style.size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c1 = np.asarray(subject.background, np.float32)
    c2 = np.asarray(subject.background2, np.float32)
    if subject.bg_layout == 0:  # studio: radial vignette
        r = ((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2
        t = np.clip(r * 2.5, 0, 1)[..., None]
        return c1 * (1 - t) + c2 * t
    if subject.bg_layout == 1:  # wall with vertical gradient
        t = (yy / h)[..., None]
        return c1 * (1 - t) + c2 * t
    bg = np.empty((h, w, 3), np.float32)
    bg[:] = c1
    if subject.bg_layout == 2:  # a door / shelf on one side
        x0 = int(w * 0.72)
        bg[:, x0:] = c2
        bg[:, x0 : x0 + 2] = c2 * 0.6
    else:  # window-like bright block in a corner + horizontal line
        bg[: int(h * 0.35), : int(w * 0.3)] = np.clip(c2 * 1.2, 0, 255)
        bg[int(h * 0.6) : int(h * 0.6) + 2] = c1 * 0.7
    return cv2.GaussianBlur(bg, (0, 0), 1.5)


def _head_pose(
    subject: SubjectParams, clip: ClipParams, t: float, style: Style
) -> tuple[float, float, float, float]:
    """Head centre (px), scale (frame px per canonical px) and roll (degrees) at time t."""
    w, h = style.size
    ph = clip.motion or (0.0,) * 8
    wobble = 2 * math.pi * t
    dx = (
        style.drift_px * h * (math.sin(wobble * 0.7 + ph[0]) + 0.5 * math.sin(wobble * 1.9 + ph[1]))
    )
    dy = (
        style.drift_px * h * (math.sin(wobble * 0.5 + ph[2]) + 0.5 * math.sin(wobble * 1.3 + ph[3]))
    )
    roll = style.roll_deg * (
        0.7 * math.sin(wobble * 0.6 + ph[4]) + 0.3 * math.sin(wobble * 1.7 + ph[5])
    )
    scale = 1.0 + style.scale_jitter * math.sin(wobble * 0.4 + ph[6])
    cx = w * style.face_center[0] + subject.center[0] * h + dx
    cy = h * style.face_center[1] + subject.center[1] * h + dy
    s = subject.face_height * h / (2.0 * _U) * scale
    return cx, cy, s, roll


def render_face(
    emotion: str,
    subject_params: SubjectParams,
    intensity: float,
    t: float,
    rng: np.random.Generator,
    style: str | Style,
    clip: ClipParams | None = None,
) -> np.ndarray:
    """Render one BGR ``uint8`` frame of ``subject_params`` showing ``emotion``.

    ``intensity`` is the clip's apex intensity (0 = neutral face, 1 = full prototype) and
    ``t`` in [0, 1] the time within the clip (expression onset, head motion, speech and
    blinks depend on it; see :class:`ClipParams`, default: a still head, onset at 0.2).
    ``rng`` supplies the per-frame sensor noise; ``style`` is a :class:`Style` or its name.
    """
    st = get_style(style)
    clip = clip or ClipParams()
    act = expression_at(emotion, subject_params, intensity, t, clip)
    blink = 0.0
    for b in clip.blinks:
        blink = max(blink, max(0.0, 1.0 - abs(t - b) / 0.06))
    head, alpha = _draw_head(subject_params, act, min(blink, 0.95), st.markers)

    cx, cy, s, roll = _head_pose(subject_params, clip, t, st)
    w, h = st.size
    # Anti-alias before downscaling.
    pre = 0.45 / s if s < 1 else 0.0
    if pre > 0.3:
        head = cv2.GaussianBlur(head, (0, 0), pre)
        alpha = cv2.GaussianBlur(alpha, (0, 0), pre)
    m = cv2.getRotationMatrix2D(_C, roll, s)
    m[0, 2] += cx - _C[0]
    m[1, 2] += cy - _C[1]
    head_f = cv2.warpAffine(head, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    alpha_f = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    frame = _background(subject_params, st) * (1 - alpha_f) + head_f * alpha_f

    # Lighting: side gradient, colour temperature, exposure.
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None]
    light = 1.0 + subject_params.light_side * xx
    frame = frame * light * np.asarray(st.tint, np.float32) * clip.gain
    if clip.blur > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), clip.blur)
    frame += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(clip.noise)
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8)


def render_clip(
    emotion: str,
    subject: SubjectParams,
    intensity: float,
    clip: ClipParams,
    frames: int,
    rng: np.random.Generator,
    style: str | Style,
) -> list[np.ndarray]:
    """All ``frames`` frames of one clip (``t`` spread evenly over [0, 1])."""
    ts = np.linspace(0.0, 1.0, frames) if frames > 1 else np.array([1.0])
    return [render_face(emotion, subject, intensity, float(t), rng, style, clip) for t in ts]


# --------------------------------------------------------------------------------------
# Corpora
# --------------------------------------------------------------------------------------

_EMOTION_INDEX = {e: i for i, e in enumerate(PROTOTYPES)}
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


def _style_with_size(style: Style, size: tuple[int, int] | None) -> Style:
    if size is None:
        return style
    w, h = int(size[0]), int(size[1])
    if w < 48 or h < 48:
        raise ValueError(f"frame size {size} too small (need at least 48x48)")
    return replace(style, size=(w, h))


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
    style = _style_with_size(SAVEE_STYLE, size)
    n_neutral = clips_per_emotion if neutral_clips is None else neutral_clips
    base = root / "AudioVisualClip"
    for si, speaker in enumerate(speakers):
        subject = sample_subject(_rng(seed, _CORPUS_ID["savee"], si), style)
        for code, emotion in SAVEE_CODES.items():
            count = n_neutral if emotion == "neutral" else clips_per_emotion
            for k in range(1, count + 1):
                rng = _rng(seed, _CORPUS_ID["savee"], si, _EMOTION_INDEX[emotion], k)
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
    style = _style_with_size(ENTERFACE_STYLE, size)
    people = {
        s: sample_subject(_rng(seed, _CORPUS_ID["enterface"], s), style)
        for s in range(1, subjects + 1)
    }
    for s, emotion, k, rel in _enterface_entries(subjects, sentences, irregular):
        rng = _rng(seed, _CORPUS_ID["enterface"], s, _EMOTION_INDEX[emotion], k)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pathfer.data.synthetic",
        description="Write synthetic SAVEE- and eNTERFACE-style emotion corpora.",
    )
    parser.add_argument("out_dir", type=Path, help="folder to create 'savee' and 'enterface' in")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--speakers", nargs="+", default=["DC", "JE", "JK", "KL"])
    parser.add_argument("--clips-per-emotion", type=int, default=3)
    parser.add_argument("--neutral-clips", type=int, default=None)
    parser.add_argument("--subjects", type=int, default=8)
    parser.add_argument("--sentences", type=int, default=3)
    parser.add_argument("--irregular", action="store_true", help="add eNTERFACE irregularities")
    args = parser.parse_args(argv)
    savee = make_savee(
        args.out_dir / "savee",
        speakers=args.speakers,
        clips_per_emotion=args.clips_per_emotion,
        neutral_clips=args.neutral_clips,
        frames=args.frames,
        seed=args.seed,
    )
    ent = make_enterface(
        args.out_dir / "enterface",
        subjects=args.subjects,
        sentences=args.sentences,
        frames=args.frames,
        seed=args.seed,
        irregular=args.irregular,
    )
    print(f"SAVEE-style corpus: {savee}")
    print(f"eNTERFACE-style corpus: {ent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
