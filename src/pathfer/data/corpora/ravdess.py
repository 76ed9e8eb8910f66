"""RAVDESS: files named ``MM-VV-EE-II-SS-RR-AA.mp4`` (24 actors, 8 emotions).

Fields: modality (01 full audio-video, 02 video-only, 03 audio-only), vocal channel,
emotion (``emotions.RAVDESS_CODES``), intensity, statement, repetition, actor. The actor
is the subject. Audio-only files (modality 03, and any ``.wav``) are ignored and reported
as such. The video-only (02) file of a take holds the same frames as its full-AV (01)
twin, so when both are present only the 01 file is used (the 02 file is reported as
ignored); a lone 02 file is used.
"""

from __future__ import annotations

import re
from pathlib import Path

from pathfer.data import emotions
from pathfer.data.corpora.base import (
    CORPORA,
    ERROR,
    IGNORED,
    Clip,
    CorpusError,
    CorpusScan,
    Problem,
    check_root,
    is_junk,
    relative_id,
    sort_scan,
    walk_files,
)
from pathfer.data.video import MEDIA_EXTENSIONS

LAYOUT = (
    "video files named MM-VV-EE-II-SS-RR-AA.mp4 in any folders (e.g. "
    "Actor_01/01-01-03-01-01-01-01.mp4); MM modality 01/02, EE emotion 01-08, AA actor"
)
_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_AUDIO = {".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac"}


@CORPORA.register("ravdess")
class RavdessCorpus:
    name = "ravdess"
    description = "Ryerson Audio-Visual Database of Emotional Speech and Song (24 actors)"
    layout = LAYOUT

    def scan(self, root: str | Path) -> CorpusScan:
        root = check_root(root, self.name, LAYOUT)
        scan = CorpusScan(self.name, root)
        takes: dict[tuple[str, ...], dict[str, Clip]] = {}
        for path in walk_files(root, scan.problems):
            suffix = path.suffix.lower()
            if is_junk(path) or suffix not in MEDIA_EXTENSIONS | _AUDIO:
                continue
            rel = relative_id(path, root)
            m = _NAME.match(path.stem.strip())
            if suffix in _AUDIO or (m and m.group(1) == "03"):
                scan.problems.append(
                    Problem(rel, "audio-only file", "no video to prepare", IGNORED)
                )
                continue
            if not m:
                scan.problems.append(
                    Problem(
                        rel,
                        "file name is not a RAVDESS code MM-VV-EE-II-SS-RR-AA",
                        "keep the original RAVDESS file names or remove the file",
                        ERROR,
                    )
                )
                continue
            modality, _, code, _, _, _, actor = m.groups()
            if modality not in {"01", "02"}:
                scan.problems.append(
                    Problem(
                        rel,
                        f"unknown RAVDESS modality {modality!r}",
                        "modality must be 01 (audio-video), 02 (video) or 03 (audio)",
                        ERROR,
                    )
                )
                continue
            if code not in emotions.RAVDESS_CODES:
                scan.problems.append(
                    Problem(
                        rel,
                        f"unknown RAVDESS emotion code {code!r}",
                        "RAVDESS emotion codes are 01-08; rename or remove the file",
                        ERROR,
                    )
                )
                continue
            clip = Clip(rel, path, emotions.RAVDESS_CODES[code], f"actor{actor}", self.name, code)
            takes.setdefault(m.groups()[1:], {})[modality] = clip
        for versions in takes.values():
            scan.clips.append(versions.get("01") or versions["02"])
            if "01" in versions and "02" in versions:
                scan.problems.append(
                    Problem(
                        versions["02"].clip_id,
                        f"video-only twin of {versions['01'].clip_id} (same frames)",
                        "used once, from the audio-video file",
                        IGNORED,
                    )
                )
        if not scan.clips:
            raise CorpusError(
                f"ravdess: no RAVDESS video clips found under {root}; expected {LAYOUT}"
            )
        return sort_scan(scan)
