"""One frame: the head drawn on its canvas, posed into the frame over the background, then
lit, blurred and given sensor noise (:func:`render_face`); a clip is frames over ``t``."""

from __future__ import annotations

import math

import cv2
import numpy as np

from pathfer.data.synthetic.canvas import C, U
from pathfer.data.synthetic.expression import expression_at
from pathfer.data.synthetic.features import draw_head
from pathfer.data.synthetic.params import ClipParams, SubjectParams
from pathfer.data.synthetic.styles import Style, get_style


def background(subject: SubjectParams, style: Style) -> np.ndarray:
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


def head_pose(
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
    s = subject.face_height * h / (2.0 * U) * scale
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
    head, alpha = draw_head(subject_params, act, min(blink, 0.95), st.markers)

    cx, cy, s, roll = head_pose(subject_params, clip, t, st)
    w, h = st.size
    # Anti-alias before downscaling.
    pre = 0.45 / s if s < 1 else 0.0
    if pre > 0.3:
        head = cv2.GaussianBlur(head, (0, 0), pre)
        alpha = cv2.GaussianBlur(alpha, (0, 0), pre)
    m = cv2.getRotationMatrix2D(C, roll, s)
    m[0, 2] += cx - C[0]
    m[1, 2] += cy - C[1]
    head_f = cv2.warpAffine(head, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    alpha_f = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    frame = background(subject_params, st) * (1 - alpha_f) + head_f * alpha_f

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
