"""Identity across frames: a ``track_id`` per face, by box overlap from frame to frame.

:class:`IouTracker` is the simple association py-feat and many video tools use: each face of
a frame takes the id of the track whose last box overlaps it most (intersection over union
at least ``min_iou``), pairs matched greedily from the largest overlap down; a face that
matches no track starts a new one (ids count up from 0 within a clip); a track unseen for
more than ``max_gap`` analysed frames ends. It knows nothing of faces' looks: two people
crossing paths may swap ids.
"""

from __future__ import annotations

from collections.abc import Sequence

Box = tuple[int, int, int, int]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes (0 when they do not touch)."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


class IouTracker:
    """Track ids for the boxes of successive frames of one clip (see the module)."""

    def __init__(self, min_iou: float = 0.3, max_gap: int = 10) -> None:
        self.min_iou = min_iou
        self.max_gap = max_gap
        self._tracks: dict[int, tuple[Box, int]] = {}  # id -> (last box, frame seen)
        self._next = 0
        self._frame = -1

    def update(self, boxes: Sequence[Box]) -> list[int]:
        """The track id of each box of the next frame, in the boxes' order."""
        self._frame += 1
        live = {
            k: box for k, (box, seen) in self._tracks.items() if self._frame - seen <= self.max_gap
        }
        pairs = sorted(
            ((iou(b, t), i, k) for i, b in enumerate(boxes) for k, t in live.items()),
            key=lambda p: (-p[0], p[1], p[2]),
        )
        ids: list[int | None] = [None] * len(boxes)
        taken: set[int] = set()
        for overlap, i, k in pairs:
            if overlap < self.min_iou:
                break
            if ids[i] is None and k not in taken:
                ids[i] = k
                taken.add(k)
        for i, box in enumerate(boxes):
            if ids[i] is None:
                ids[i] = self._next
                self._next += 1
            self._tracks[ids[i]] = (tuple(box), self._frame)  # type: ignore[index]
        return [int(k) for k in ids]  # type: ignore[arg-type]
