"""The expression-independent head: shoulders, neck, hair and the shaded face oval.

It depends only on a subject's appearance, so it is drawn once per subject and cached.
"""

from __future__ import annotations

import functools

import numpy as np

from pathfer.data.synthetic.canvas import (
    CANVAS_H,
    CANVAS_W,
    XX,
    YY,
    C,
    U,
    ellipse_mask,
    paint,
    poly_mask,
    shade,
)


@functools.lru_cache(maxsize=64)
def head_base(
    face_w: float,
    skin_t: tuple[float, float, float],
    hair_t: tuple[float, float, float],
    hair_style: str,
    shirt: tuple[float, float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Expression-independent part of the head (shoulders, neck, hair, shaded face oval)."""
    cx, cy = C
    fh = U
    fw = U * face_w
    skin = np.asarray(skin_t, np.float32)
    hair = np.asarray(hair_t, np.float32)
    img = np.zeros((CANVAS_H, CANVAS_W, 3), np.float32)
    alpha = np.zeros((CANVAS_H, CANVAS_W), np.float32)

    # Shoulders and neck.
    sh = ellipse_mask((cx, cy + 2.55 * fh), (2.3 * fw, 1.2 * fh))
    paint(img, sh, shirt)
    alpha = np.maximum(alpha, sh.full())
    neck = poly_mask(
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
    paint(img, neck, skin * 0.72)
    alpha = np.maximum(alpha, neck.full())

    # Hair behind the head.
    if hair_style == "long":
        back = poly_mask(
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
        top = ellipse_mask((cx, cy - 0.22 * fh), (1.22 * fw, 0.95 * fh)).full()
        back = np.maximum(back, top)
        paint(img, back, hair)
        alpha = np.maximum(alpha, back)
    elif hair_style == "short":
        top = ellipse_mask((cx, cy - 0.17 * fh), (1.1 * fw, 0.97 * fh), blur=0.8)
        paint(img, top, hair)
        alpha = np.maximum(alpha, top.full())

    # Face oval with shading: brighter centre, darker rim.
    face = ellipse_mask((cx, cy), (fw, fh)).full()
    u = (XX - cx) / fw
    v = (YY - cy) / fh
    shading = np.clip(1.08 - 0.42 * (u * u) ** 1.3 - 0.12 * np.maximum(v, 0) ** 2, 0.45, 1.2)
    face_col = skin[None, None, :] * shading[..., None]
    m = face[..., None]
    img *= 1.0 - m
    img += m * face_col
    alpha = np.maximum(alpha, face)
    # Shadow under the jaw on the neck.
    jaw = ellipse_mask((cx, cy + 1.02 * fh), (0.75 * fw, 0.22 * fh), blur=2.5).full()
    shade(img, jaw * (1.0 - face), 0.55)

    # Hairline / fringe over the forehead.
    if hair_style != "bald":
        fringe = ellipse_mask((cx, cy - 0.98 * fh), (1.02 * fw, 0.42 * fh), blur=1.2).full()
        paint(img, fringe * np.minimum(face * 3.0, 1.0), hair)
    if hair_style == "long":
        for side in (-1, 1):
            lock = ellipse_mask((cx + side * 1.02 * fw, cy + 0.05 * fh), (0.2 * fw, 1.0 * fh))
            paint(img, lock, hair)
    img.setflags(write=False)
    alpha = np.clip(alpha, 0.0, 1.0)
    alpha.setflags(write=False)
    return img, alpha
