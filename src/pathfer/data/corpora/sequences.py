"""Folders of frames as clips, and labels from a file beside each clip.

Many expression corpora ship each recording as a folder of frames (CK+
``cohn-kanade-images/S005/001/*.png``, MMI, Oulu-CASIA, BU-4DFE, AFEW frames). With
``sequences: true`` in a corpus spec, the images its glob matches are grouped by folder:
each folder is one clip (its id the folder's path relative to the root), its frames in
natural name order, sampled like a video's frames by the preparation's
:class:`~pathfer.data.video.FrameSampling`.

A per-clip label file (``label: {from: label_file, path: ...}``) holds a clip's code, as
CK+'s ``Emotion/S005/001/S005_001_00000011_emotion.txt`` holds ``3.0000000e+00``: the
``path`` pattern is relative to the corpus root, may use glob wildcards and these fields:
``{clip}`` the clip id (a file's without its extension), ``{name}`` the clip folder's (or
file's stem) name, ``{parent}`` the folder holding it, and any named group of the spec's
regex. A number written as a float (``3.0000000e+00``) is the code ``3``.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pathfer.data.corpora.base import ERROR, IGNORED, CorpusError, Problem, natural_key
from pathfer.data.video import FrameSampling, VideoError, decode_frames, is_image
from pathfer.data.video.read import DecodedClip, sample_indices

_FIELD = re.compile(r"\{(\w+)\}")


def group_frames(files: dict[str, Path]) -> dict[str, tuple[Path, ...]]:
    """Matched image files (relative path -> path) grouped by folder: folder id -> its
    frames in natural name order. Files directly under the root form the clip ``"."``."""
    groups: dict[str, list[tuple[str, Path]]] = {}
    for rel, path in files.items():
        folder, _, name = rel.rpartition("/")
        groups.setdefault(folder or ".", []).append((name, path))
    return {
        folder: tuple(p for _, p in sorted(frames, key=lambda f: natural_key(f[0])))
        for folder, frames in groups.items()
    }


def decode_sequence(frames: Sequence[Path], sampling: FrameSampling | None = None) -> DecodedClip:
    """The sampled frames of a folder-of-frames clip, as :func:`decode_frames` gives a
    video's: frame ``i`` is the ``i``-th file in name order. An unreadable frame file
    raises :class:`VideoError` naming it."""
    sampling = sampling or FrameSampling()
    wanted = sample_indices(len(frames), sampling)
    out = [(i, decode_frames(frames[i]).frames[0][1]) for i in wanted]
    shapes = {f.shape for _, f in out}
    if len(shapes) > 1:
        raise VideoError(
            f"{Path(frames[0]).parent}: its frames differ in size ({len(shapes)} sizes, e.g. "
            f"{', '.join('x'.join(map(str, s[1::-1])) for s in list(shapes)[:2])}); "
            "a sequence's frames must come from one camera"
        )
    return DecodedClip(out, len(frames), len(frames), wanted=wanted)


@dataclass(frozen=True)
class ClipLabelFile:
    """``label: {from: label_file, path: PATTERN}``: one small file per clip holding its
    code (see the module docstring)."""

    pattern: str

    @classmethod
    def from_spec(cls, value: dict, source: str, groups: Sequence[str]) -> ClipLabelFile:
        pattern = value.get("path")
        if not isinstance(pattern, str) or not pattern.strip():
            raise CorpusError(
                f"{source}: label: {{from: label_file}} needs a path pattern, e.g. "
                "{from: label_file, path: '../Emotion/{clip}/*_emotion.txt'}"
            )
        known = {"clip", "name", "parent", *groups}
        unknown = sorted(set(_FIELD.findall(pattern)) - known)
        if unknown:
            raise CorpusError(
                f"{source}: label path {pattern!r} uses {{{unknown[0]}}}; allowed fields: "
                f"{', '.join('{' + k + '}' for k in sorted(known))} (the regex's named groups)"
            )
        return cls(pattern.strip())

    def code(
        self, root: Path, clip_id: str, path: Path, groups: dict[str, str]
    ) -> tuple[str | None, Problem | None]:
        """The code of one clip, or the problem that leaves it out."""
        stem = clip_id if path.is_dir() or not path.suffix else clip_id[: -len(path.suffix)]
        fields = {"clip": stem, "name": path.stem if path.is_file() else path.name}
        fields.update(parent=path.parent.name, **{k: v or "" for k, v in groups.items()})
        rel = _FIELD.sub(lambda m: glob.escape(fields[m.group(1)]), self.pattern)
        found = sorted(glob.glob(str(root / rel)))
        if not found:
            return None, Problem(
                clip_id,
                f"no label file matches {rel!r}; left out (an unlabelled clip)",
                "",
                IGNORED,
            )
        if len(found) > 1:
            return None, Problem(
                clip_id,
                f"{len(found)} label files match {rel!r} "
                f"({', '.join(Path(f).name for f in found[:2])})",
                "keep one label file per clip",
                ERROR,
            )
        try:
            text = Path(found[0]).read_text(encoding="utf-8-sig").strip()
        except (OSError, UnicodeDecodeError) as exc:
            return None, Problem(
                clip_id, f"label file {found[0]} cannot be read ({exc})", "", ERROR
            )
        if not text:
            return None, Problem(clip_id, f"label file {found[0]} is empty", "", ERROR)
        return numeric_code(text.split()[0]), None


def numeric_code(text: str) -> str:
    """``3.0000000e+00`` -> ``3``; any other text as it is."""
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if np.isfinite(value) and value == int(value) else text


def images_only(files: dict[str, Path]) -> tuple[dict[str, Path], dict[str, Path]]:
    """Split matched files into images (frames) and the rest (videos, clips of their own)."""
    images = {r: p for r, p in files.items() if is_image(p)}
    return images, {r: p for r, p in files.items() if r not in images}
