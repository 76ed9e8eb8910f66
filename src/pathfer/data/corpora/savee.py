"""SAVEE: ``AudioVisualClip/<speaker>/<code><n>.avi`` (4 male speakers, 7 emotions)."""

from __future__ import annotations

import re
from pathlib import Path

from pathfer.data import emotions
from pathfer.data.corpora.base import (
    CORPORA,
    ERROR,
    Clip,
    CorpusError,
    CorpusScan,
    Problem,
    check_root,
    is_junk,
    natural_key,
    relative_id,
    sort_scan,
)
from pathfer.data.video import MEDIA_EXTENSIONS

LAYOUT = (
    "AudioVisualClip/<speaker>/<code><n>.avi, speakers DC JE JK KL, "
    "codes a d f h n sa su (e.g. AudioVisualClip/DC/sa03.avi)"
)
_NAME = re.compile(r"^\s*([a-z]+?)\s*[_-]?\s*(\d+)\s*$", re.IGNORECASE)


def _clip_folder(root: Path) -> Path:
    """The AudioVisualClip folder: ``root`` itself or a child of it (any case)."""
    for child in sorted(root.iterdir(), key=lambda p: natural_key(p.name)):
        if child.is_dir() and child.name.strip().lower().replace(" ", "") in {
            "audiovisualclip",
            "audiovisualclips",
        }:
            return child
    return root


@CORPORA.register("savee")
class SaveeCorpus:
    name = "savee"
    description = "Surrey Audio-Visual Expressed Emotion (4 speakers, 7 emotions)"
    layout = LAYOUT

    def scan(self, root: str | Path) -> CorpusScan:
        root = check_root(root, self.name, LAYOUT)
        base = _clip_folder(root)
        scan = CorpusScan(self.name, root)
        speakers = sorted(base.iterdir(), key=lambda p: natural_key(p.name))
        for speaker_dir in speakers:
            if not speaker_dir.is_dir():
                continue
            speaker = speaker_dir.name.strip()
            for path in sorted(speaker_dir.iterdir(), key=lambda p: natural_key(p.name)):
                if path.is_dir() or is_junk(path):
                    continue
                if path.suffix.lower() not in MEDIA_EXTENSIONS:
                    continue  # stray notes, audio, spreadsheets: not clips
                rel = relative_id(path, root)
                m = _NAME.match(path.stem)
                if not m:
                    scan.problems.append(
                        Problem(
                            rel,
                            "file name does not follow SAVEE's <code><number> pattern",
                            "rename it like 'sa03.avi' (codes a d f h n sa su) or remove it",
                            ERROR,
                        )
                    )
                    continue
                code = m.group(1).lower()
                if code not in emotions.SAVEE_CODES:
                    scan.problems.append(
                        Problem(
                            rel,
                            f"unknown SAVEE emotion code {code!r}",
                            "SAVEE codes are a d f h n sa su; rename or remove the file",
                            ERROR,
                        )
                    )
                    continue
                scan.clips.append(
                    Clip(
                        clip_id=rel,
                        path=path,
                        label=emotions.SAVEE_CODES[code],
                        subject=speaker,
                        corpus=self.name,
                        code=code,
                    )
                )
        if not scan.clips:
            raise CorpusError(
                f"savee: no SAVEE clips found under {root}; expected layout {LAYOUT}"
                + (f" ({len(scan.problems)} files with unusable names)" if scan.problems else "")
            )
        return sort_scan(scan)
