"""YuNet, the face detector of libfacedetection (Shiqi Yu et al., BSD-3-Clause), through the
``yuface`` wheel: its weights are compiled into the wheel's library, so nothing is downloaded.

One call on a BGR image returns, per face, a confidence, a box and five landmarks. It finds
three-quarter faces and tight close-ups that the frontal Haar cascade misses, and costs
~0.4 ms on a 64 px tracking window (see ``docs/data.md`` for the measurements).

libfacedetection parallelises with OpenMP. On small images the threads only spin (several
times the CPU time for the same result), and when torch is loaded its OpenMP runtime, not the one in
the wheel, serves the calls. Each call therefore runs with one OpenMP thread in the calling
thread, restoring the previous setting afterwards (so torch keeps its own).
"""

from __future__ import annotations

import ctypes
import glob
import os
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from pathfer.data.faces.detect import Face

#: libfacedetection loses accuracy on large inputs (and warns above 960 px): bigger images
#: are searched on a copy whose longer side is this many pixels
MAX_SIDE = 640


class DetectorUnavailableError(ValueError):
    """A registered detector whose package is not installed; the message says what to do."""


@cache
def _import_yuface():
    """The compiled ``detect`` of yuface, imported with OpenMP limited to one thread."""
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # read once, when the wheel's OpenMP runtime loads
    try:
        from yuface import yuface as compiled
    except ImportError as exc:
        raise DetectorUnavailableError(
            f"face detector 'yunet' needs the yuface package ({exc}); install it with "
            "'pip install yuface' (wheels exist for CPython <= 3.11 on x86_64 Linux and "
            "Windows) or choose --detector haar"
        ) from None
    finally:
        if old is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = old
    return compiled.detect


@cache
def _openmp_runtimes() -> tuple[ctypes.CDLL, ...]:
    """The OpenMP runtimes that may serve libfacedetection: the process-global one (torch's,
    when torch is loaded, takes precedence) and the one bundled in the wheel."""
    libs: list[ctypes.CDLL] = []
    try:
        libs.append(ctypes.CDLL(None))
    except OSError:  # no global symbol table (Windows)
        pass
    import yuface

    bundled = Path(yuface.__file__).resolve().parent.parent / "yuface.libs"
    for path in sorted(glob.glob(str(bundled / "libgomp*"))):
        try:
            libs.append(ctypes.CDLL(path))
        except OSError:
            continue
    out = []
    for lib in libs:
        try:
            lib.omp_get_max_threads.restype = ctypes.c_int
            lib.omp_set_num_threads.argtypes = [ctypes.c_int]
        except AttributeError:  # this one has no OpenMP symbols
            continue
        out.append(lib)
    return tuple(out)


class YuNetDetector:
    """YuNet faces: ``score`` in [0, 1] and landmarks in :data:`~pathfer.data.faces.LANDMARKS`
    order (right eye, left eye, nose, right and left mouth corner: for a frontal face the
    subject's right eye is on the image's left).

    ``min_score``: faces below this confidence are dropped (libfacedetection's own default).
    """

    name = "yunet"

    def __init__(self, min_score: float = 0.5, max_side: int = MAX_SIDE) -> None:
        self.min_score = min_score
        self.max_side = max_side
        self._detect = _import_yuface()
        self._omp = _openmp_runtimes()

    def _run(self, image: np.ndarray) -> np.ndarray:
        """The compiled detector on ``image`` with one OpenMP thread in this thread."""
        saved = [lib.omp_get_max_threads() for lib in self._omp]
        changed = [lib for lib, n in zip(self._omp, saved, strict=True) if n != 1]
        for lib in changed:
            lib.omp_set_num_threads(1)
        try:
            return self._detect(image)
        finally:
            for lib, n in zip(self._omp, saved, strict=True):
                if n != 1:
                    lib.omp_set_num_threads(n)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in a BGR (or grey, or BGRA) ``uint8`` image, in its pixels."""
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        scale = 1.0
        if max(image.shape[:2]) > self.max_side:
            scale = self.max_side / max(image.shape[:2])
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        # int16 (N, 16): confidence in percent, x y w h, five (x, y) points, unused
        rows = self._run(np.ascontiguousarray(image)).reshape(-1, 16).tolist()
        faces = []
        for row in rows:
            score = row[0] / 100.0
            if score < self.min_score:
                continue
            p = row[5:15]
            if p[0] > p[2]:  # eyes, then mouth corners, left to right in the image
                p[0:2], p[2:4] = p[2:4], p[0:2]
            if p[6] > p[8]:
                p[6:8], p[8:10] = p[8:10], p[6:8]
            points = np.array(p, np.float32).reshape(5, 2)
            face = Face((row[1], row[2], row[3], row[4]), score, points)
            faces.append(face if scale == 1.0 else face.moved(scale))
        return faces
