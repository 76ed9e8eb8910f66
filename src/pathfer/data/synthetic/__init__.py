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
:data:`ENTERFACE_STYLE`); the emotion cues are shared, so knowledge transfers, but the
domain shift is real. Everything is a pure function of ``seed``: the same seed gives
byte-identical video files.

The package, in the order a frame is made:

- :mod:`.expression`: actions, emotion prototypes, :func:`expression_at` over clip time;
- :mod:`.params`, :mod:`.styles`: subjects and clips (:class:`SubjectParams`,
  :class:`ClipParams`) drawn for a corpus style (:class:`Style`);
- :mod:`.canvas`, :mod:`.head`, :mod:`.features`, :mod:`.render`: drawing masks, the
  subject's head, the expressive features, and the posed, lit, noisy frame;
- :mod:`.layouts`: the corpora on disk (:func:`make_savee`, :func:`make_enterface`,
  :func:`make_blank_clip`); :mod:`.cli`: ``python -m pathfer.data.synthetic OUT_DIR``.
"""

from pathfer.data.synthetic.cli import main
from pathfer.data.synthetic.expression import ACTIONS, PROTOTYPES, expression_at
from pathfer.data.synthetic.layouts import (
    ENTERFACE_FOLDERS,
    Irregularity,
    enterface_irregularities,
    make_blank_clip,
    make_enterface,
    make_savee,
)
from pathfer.data.synthetic.params import ClipParams, SubjectParams
from pathfer.data.synthetic.render import render_clip, render_face
from pathfer.data.synthetic.styles import (
    ENTERFACE_STYLE,
    SAVEE_STYLE,
    Style,
    get_style,
    sample_clip,
    sample_subject,
)
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
    "main",
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
