"""The expression model: facial actions, each emotion's prototype, and how it unfolds in a clip.

An expression is a vector of facial *action* parameters (:data:`ACTIONS`, each roughly in
[-1, 1], 0 = neutral). Every emotion has a prototype vector (:data:`PROTOTYPES`); a subject
adds a personal twist and expressiveness, a clip its own jitter, timing and apex intensity
(:func:`expression_at`).
"""

from __future__ import annotations

import math

import numpy as np

from pathfer.data.synthetic.params import ClipParams, SubjectParams

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
ACTION_INDEX = {name: i for i, name in enumerate(ACTIONS)}


def _proto(**kw: float) -> np.ndarray:
    v = np.zeros(len(ACTIONS), np.float32)
    for k, x in kw.items():
        v[ACTION_INDEX[k]] = x
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

#: Emotion -> index in :data:`PROTOTYPES` (part of every clip's random-stream key).
EMOTION_INDEX = {e: i for i, e in enumerate(PROTOTYPES)}


def smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


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
    ramp = smoothstep((t - clip.onset) / max(clip.apex - clip.onset, 1e-3))
    if clip.release > 0 and t > clip.apex:
        ramp *= 1.0 - clip.release * smoothstep((t - clip.apex) / max(1.0 - clip.apex, 1e-3))
    level = intensity * subject.expressiveness * ramp
    out = vec * level if emotion != "neutral" else vec * 0.0
    if emotion == "neutral" and clip.jitter:
        # Neutral faces are not perfectly still: tiny idiosyncratic deviations.
        out = np.asarray(clip.jitter, np.float32) * 0.5 * intensity
    rate, phase = clip.speech
    if clip.speech_amp > 0:
        talk = 0.5 + 0.5 * math.sin(2 * math.pi * rate * t + phase)
        out = out.copy()
        out[ACTION_INDEX["mouth_open"]] += clip.speech_amp * talk * talk
    return np.clip(out, -1.3, 1.3).astype(np.float32)
