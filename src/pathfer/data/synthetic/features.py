"""The expressive face: eye sockets, nose, cheeks, eyes, brows, mouth (and SAVEE's markers).

:func:`draw_head` places every feature from one :class:`FaceLayout` (where things are for
this subject and these actions), then draws them in a fixed order on the subject's cached
:func:`~pathfer.data.synthetic.head.head_base`. Each feature is one function; the drawn
luminance structure (dark sockets and brows over bright cheeks, a bright nose bridge, a
darker mouth) is what OpenCV's frontal Haar cascade finds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pathfer.data.synthetic.canvas import (
    C,
    U,
    curve,
    dots_mask,
    ellipse_mask,
    line_mask,
    paint,
    poly_mask,
    shade,
)
from pathfer.data.synthetic.expression import ACTIONS
from pathfer.data.synthetic.head import head_base
from pathfer.data.synthetic.params import SubjectParams


@dataclass(frozen=True)
class FaceLayout:
    """Where the features of one face lie on the canvas (px), for one subject and action."""

    subject: SubjectParams
    act: dict[str, float]  # action name -> value (see ACTIONS)
    cx: float  # face centre
    cy: float
    fw: float  # face half-width and half-height
    fh: float
    skin: np.ndarray  # BGR float32
    hair: np.ndarray
    ey: float  # eye line
    eye_dx: float  # eye centre offset from the midline
    ew: float  # eye half-width
    nose_y: float  # nose tip
    by: float  # brow line at rest
    brow_lift: float  # both brows up (px)
    brow_inner: float  # inner brow ends up (px)
    my: float  # mouth line
    mw: float  # mouth half-width
    corner: float  # mouth-corner offset (negative = up)


def face_layout(subject: SubjectParams, act: np.ndarray) -> FaceLayout:
    a = {name: float(act[i]) for i, name in enumerate(ACTIONS)}
    cx, cy = C
    fh = U
    fw = U * subject.face_w
    ey = cy + subject.eye_y * fh
    mw = subject.mouth_w * fw * (1.0 + 0.22 * a["mouth_width"] + 0.12 * max(a["smile"], 0))
    mw *= 1.0 - 0.12 * max(a["lip_press"], 0)
    return FaceLayout(
        subject=subject,
        act=a,
        cx=cx,
        cy=cy,
        fw=fw,
        fh=fh,
        skin=np.asarray(subject.skin, np.float32),
        hair=np.asarray(subject.hair, np.float32),
        ey=ey,
        eye_dx=subject.eye_dx * fw,
        ew=0.19 * fw * subject.eye_size,
        nose_y=cy + subject.nose_len * fh,
        by=ey - subject.brow_gap * fh,
        brow_lift=0.15 * fh * a["brow_raise"],
        brow_inner=0.12 * fh * a["brow_inner"],
        my=cy + subject.mouth_y * fh,
        mw=mw,
        corner=-0.13 * fh * a["smile"],  # positive smile lifts the corners (smaller y)
    )


def draw_head(
    subject: SubjectParams, act: np.ndarray, blink: float, markers: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the head (hair, face, neck, shoulders) in the canonical canvas: (BGR, alpha)."""
    base, alpha = head_base(
        subject.face_w, subject.skin, subject.hair, subject.hair_style, subject.shirt
    )
    img = base.copy()
    f = face_layout(subject, act)
    _eye_sockets(img, f)
    _nose(img, f)
    _cheeks(img, f)
    _eyes(img, f, blink)
    _brows(img, f)
    _mouth(img, f)
    if markers:
        _markers(img, f)
    return img, alpha


def _eye_sockets(img: np.ndarray, f: FaceLayout) -> None:
    """The dark band under the brows that Haar relies on."""
    a, fh = f.act, f.fh
    socket_lift = 0.05 * fh * a["brow_raise"]
    for side in (-1, 1):
        sock = ellipse_mask(
            (f.cx + side * f.eye_dx, f.ey - 0.04 * fh - socket_lift * 0.5),
            (1.3 * f.ew, 0.6 * f.ew + 0.03 * fh * max(a["eye_open"], 0)),
            blur=2.2,
        )
        shade(img, sock, 0.75)


def _nose(img: np.ndarray, f: FaceLayout) -> None:
    """Bright bridge and tip, shaded sides, dark nostrils, under-nose shadow, sneer creases."""
    a, cx, ey, fw, fh, nose_y = f.act, f.cx, f.ey, f.fw, f.fh, f.nose_y
    bridge = poly_mask(
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
    shade(img, bridge, 1.16)
    for side in (-1, 1):
        flank = ellipse_mask(
            (cx + side * 0.2 * fw, (ey + nose_y) * 0.5 + 0.05 * fh), (0.06 * fw, 0.2 * fh), blur=2.2
        )
        shade(img, flank, 0.86)
        nostril = ellipse_mask(
            (cx + side * 0.1 * fw, nose_y + 0.02 * fh - 0.03 * fh * a["sneer"]),
            (0.055 * fw, 0.028 * fh),
            blur=0.7,
        )
        shade(img, nostril, 0.45)
    under = ellipse_mask((cx, nose_y + 0.07 * fh), (0.18 * fw, 0.04 * fh), blur=1.5)
    shade(img, under, 0.8)
    if a["sneer"] > 0.05:
        # Nose wrinkle: short dark creases on the bridge.
        for k in range(2):
            yy = ey + (0.03 + 0.06 * k) * fh
            crease = line_mask(
                curve(cx - 0.12 * fw, cx + 0.12 * fw, lambda x, yy=yy: yy + 0.02 * fh), 1.2, 0.6
            )
            shade(img, crease, 1.0 - 0.35 * min(a["sneer"], 1.0))


def _cheeks(img: np.ndarray, f: FaceLayout) -> None:
    """Cheek highlights, and nasolabial folds when the cheeks rise (smile) or the lip sneers."""
    a, cx, ey, fw, fh, s = f.act, f.cx, f.ey, f.fw, f.fh, f.subject
    cheek = max(a["cheek_raise"], 0.0)
    for side in (-1, 1):
        apple = ellipse_mask(
            (cx + side * 0.48 * fw, ey + 0.32 * fh - 0.06 * fh * cheek),
            (0.22 * fw, 0.13 * fh),
            blur=3.0,
        )
        shade(img, apple, 1.06 + 0.08 * cheek)
    fold = min(cheek + 0.5 * max(a["sneer"], 0.0), 1.3)
    if fold > 0.05:
        for side in (-1, 1):
            x0 = cx + side * 0.2 * fw
            x1 = cx + side * (s.mouth_w + 0.12) * fw
            pts = curve(
                x0,
                x1,
                lambda x, x0=x0, x1=x1: (
                    f.nose_y
                    - 0.02 * fh
                    + (s.mouth_y - s.nose_len + 0.05) * fh * ((x - x0) / (x1 - x0)) ** 1.6
                ),
            )
            shade(img, line_mask(pts, 1.5, 0.9), 1.0 - 0.3 * fold)


def _eyes(img: np.ndarray, f: FaceLayout, blink: float) -> None:
    """Sclera, iris, upper lid; a lid crease when wide, the lower-lid bulge of a smile."""
    a, ey, ew, fh, s = f.act, f.ey, f.ew, f.fh, f.subject
    cheek = max(a["cheek_raise"], 0.0)
    wide = a["eye_open"]
    for side in (-1, 1):
        ex = f.cx + side * f.eye_dx
        up = 0.075 * fh * s.eye_size * (1.0 + 0.7 * wide) * (1.0 - blink)
        lo = 0.045 * fh * s.eye_size * (1.0 + 0.35 * wide - 0.5 * cheek) * (1.0 - blink)
        up = max(up, 0.006 * fh)
        lo = max(lo, 0.004 * fh)
        upper = curve(
            ex - ew, ex + ew, lambda x, ex=ex, up=up: ey - up * (1 - ((x - ex) / ew) ** 2)
        )
        lower = curve(
            ex + ew, ex - ew, lambda x, ex=ex, lo=lo: ey + lo * (1 - ((x - ex) / ew) ** 2)
        )
        eye = poly_mask(np.concatenate([upper, lower]))
        paint(img, eye, f.skin * 0.3 + np.float32(215) * 0.7)  # sclera
        iris = ellipse_mask((ex, ey), (0.42 * ew, 0.42 * ew)) * eye
        paint(img, iris, f.hair * 0.3 + np.float32(25))
        # Upper lid + lashes: the darkest line of the eye.
        paint(img, line_mask(upper, 1.6 + 0.6 * (1 - wide * 0.5), 0.4), (20, 20, 25), 0.9)
        if wide > 0.3:
            # White above the iris when the eyes are wide: lid crease moves up.
            crease = curve(
                ex - ew,
                ex + ew,
                lambda x, ex=ex, up=up: ey - up - 0.04 * fh * wide * (1 - ((x - ex) / ew) ** 2),
            )
            shade(img, line_mask(crease, 1.0, 0.5), 0.8)
        if cheek > 0.2:
            # Lower-lid bulge of a Duchenne smile.
            bulge = curve(
                ex - ew,
                ex + ew,
                lambda x, ex=ex, lo=lo: (
                    ey + lo + 0.02 * fh + 0.015 * fh * (1 - ((x - ex) / ew) ** 2)
                ),
            )
            shade(img, line_mask(bulge, 1.0, 0.5), 1.0 - 0.25 * cheek)


def _brows(img: np.ndarray, f: FaceLayout) -> None:
    """Brows (raised, lowered, inner ends up or down, squeezed), glabella and forehead lines."""
    a, cx, fw, fh, by = f.act, f.cx, f.fw, f.fh, f.by
    raise_, inner = f.brow_lift, f.brow_inner
    squeeze = 0.06 * fw * max(a["brow_squeeze"], 0.0)
    thick = 3.2 * f.subject.brow_thick
    for side in (-1, 1):
        xi = cx + side * (f.eye_dx - 1.05 * f.ew + squeeze * 0.0) - side * squeeze
        xo = cx + side * (f.eye_dx + 1.25 * f.ew)
        yi = by - raise_ - inner
        yo = by - raise_ + 0.25 * inner + 0.02 * fh
        arch = 0.035 * fh * (1.0 - 0.5 * abs(a["brow_inner"]))

        def brow_y(x, xi=xi, xo=xo, yi=yi, yo=yo, arch=arch):
            s = (x - xi) / (xo - xi)
            return yi + (yo - yi) * s - arch * 4 * s * (1 - s)

        pts = curve(min(xi, xo), max(xi, xo), brow_y)
        paint(img, line_mask(pts, thick, 0.7), f.hair * 0.8 + f.skin * 0.05, 0.95)
    if a["brow_squeeze"] > 0.3 and a["brow_inner"] < 0:
        for side in (-1, 1):  # vertical glabella furrows (anger)
            pts = np.array(
                [[cx + side * 0.05 * fw, by - 0.02 * fh], [cx + side * 0.04 * fw, by + 0.1 * fh]],
                np.float32,
            )
            shade(img, line_mask(pts, 1.0, 0.5), 1.0 - 0.3 * min(-a["brow_inner"], 1.0))
    if a["brow_raise"] > 0.3:
        for k in range(3):  # horizontal forehead wrinkles (surprise, fear)
            yy = by - (0.12 + 0.07 * k) * fh - raise_
            pts = curve(
                cx - 0.4 * fw,
                cx + 0.4 * fw,
                lambda x, yy=yy: yy - 0.02 * fh * (1 - (x - cx) ** 2 / (0.4 * fw) ** 2),
            )
            shade(img, line_mask(pts, 1.0, 0.6), 1.0 - 0.22 * min(a["brow_raise"], 1.0))


def _mouth(img: np.ndarray, f: FaceLayout) -> None:
    """Lips (smile, open, stretched, pressed, sneer), the inside and teeth, the lip seam."""
    a, cx, fh, my, mw, corner = f.act, f.cx, f.fh, f.my, f.mw, f.corner
    opening = 0.22 * fh * max(a["mouth_open"], 0.0)
    lip = 0.035 * fh * f.subject.lip_thick * (1.0 - 0.7 * max(a["lip_press"], 0.0))
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
    lips = np.concatenate([curve(cx - mw, cx + mw, up_out, n), curve(cx + mw, cx - mw, lo_out, n)])
    lip_col = f.skin * np.array([0.72, 0.66, 0.85], np.float32)
    paint(img, poly_mask(lips, 0.5), lip_col)
    if opening > 0.4:
        inside = np.concatenate(
            [curve(cx - mw, cx + mw, up_in, n), curve(cx + mw, cx - mw, lo_in, n)]
        )
        inner_mask = poly_mask(inside, 0.3)
        paint(img, inner_mask, (25, 20, 35))
        if a["smile"] > 0.3 or a["mouth_width"] > 0.5:
            teeth_h = min(opening * 0.45, 0.06 * fh)
            teeth = np.concatenate(
                [
                    curve(cx - 0.8 * mw, cx + 0.8 * mw, up_in, n),
                    curve(cx + 0.8 * mw, cx - 0.8 * mw, lambda x: up_in(x) + teeth_h, n),
                ]
            )
            paint(img, poly_mask(teeth, 0.3) * inner_mask, (185, 195, 200), 0.9)
    # Dark line between the lips.
    seam = curve(
        cx - mw, cx + mw, lambda x: 0.5 * (up_in(x) + lo_in(x)) if opening <= 0.4 else up_in(x)
    )
    paint(img, line_mask(seam, 1.4, 0.4), (30, 25, 40), 0.8)
    # Shadow under the lower lip / chin highlight.
    shade(img, ellipse_mask((cx, lo_out(cx) + 0.07 * fh), (0.5 * mw, 0.03 * fh), blur=1.5), 0.85)


def _markers(img: np.ndarray, f: FaceLayout) -> None:
    """Blue dots like the facial markers painted on the real SAVEE actors."""
    a, cx, cy, fw, fh, ey, by = f.act, f.cx, f.cy, f.fw, f.fh, f.ey, f.by
    raise_, my = f.brow_lift, f.my
    blue = (200.0, 110.0, 40.0)
    pts = [
        (cx, by - 0.28 * fh - raise_),
        (cx - 0.35 * fw, by - 0.22 * fh - raise_),
        (cx + 0.35 * fw, by - 0.22 * fh - raise_),
        (cx, ey + 0.05 * fh),
        (cx, cy + f.subject.nose_len * fh - 0.04 * fh),
        (cx, my + 0.2 * fh + 0.1 * fh * max(a["mouth_open"], 0)),
    ]
    for side in (-1, 1):
        pts += [
            (cx + side * (f.eye_dx - 0.1 * fw), by - 0.06 * fh - raise_ - f.brow_inner),
            (cx + side * (f.eye_dx + 0.12 * fw), by - 0.05 * fh - raise_),
            (cx + side * 0.45 * fw, ey + 0.28 * fh),
            (cx + side * 0.62 * fw, ey + 0.45 * fh),
            (cx + side * (f.mw + 0.06 * fw), my + f.corner - 0.01 * fh),
            (cx + side * 0.3 * fw, my + 0.12 * fh + 0.08 * fh * max(a["mouth_open"], 0)),
        ]
    paint(img, dots_mask(pts, 1.3), blue, 0.9)
