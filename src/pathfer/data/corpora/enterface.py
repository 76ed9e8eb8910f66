"""eNTERFACE'05: ``subject N/<emotion>/sentence K/sN_<code>_K.avi`` (6 emotions).

The label comes from the emotion folder and is cross-checked against the code in the
file name. The released corpus is irregular, and the adapter tolerates it:

- some subjects have no ``sentence K`` folders (clips sit directly in the emotion folder);
- folder names differ in case and spacing (``Subject 6``, ``Happiness``, ``sentence  2 ``);
- stray files (``Thumbs.db``, notes) sit beside the clips: non-media files are ignored;
- a clip outside any emotion folder is labelled from its file-name code.

A clip whose folder and file-name code disagree is skipped and reported (a mislabelled
clip does more harm than a missing one); so is every clip whose emotion or subject cannot
be told from its path.
"""

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
    relative_id,
    sort_scan,
    walk_files,
)
from pathfer.data.video import MEDIA_EXTENSIONS

LAYOUT = (
    "subject N/<emotion>/sentence K/sN_<code>_K.avi, emotions anger disgust fear "
    "happiness sadness surprise, codes an di fe ha sa su "
    "(e.g. 'subject 1/anger/sentence 1/s1_an_1.avi')"
)
_SUBJECT = re.compile(r"^subject\s*_?\s*(\d+)$")
_FILE = re.compile(r"^s\s*(\d+)\s*[_\- ]\s*([a-z]+)\s*[_\- ]\s*(\d+)", re.IGNORECASE)


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip().lower())


def _folder_emotion(name: str) -> str | None:
    try:
        return emotions.canonical(_norm(name))
    except emotions.UnknownEmotionError:
        return None


@CORPORA.register("enterface")
class EnterfaceCorpus:
    name = "enterface"
    description = "eNTERFACE'05 audio-visual emotion database (42-44 subjects, 6 emotions)"
    layout = LAYOUT

    def scan(self, root: str | Path) -> CorpusScan:
        root = check_root(root, self.name, LAYOUT)
        scan = CorpusScan(self.name, root)
        saw_subject_folder = False
        for path in walk_files(root, scan.problems):
            if is_junk(path) or path.suffix.lower() not in MEDIA_EXTENSIONS:
                continue
            rel = relative_id(path, root)
            folders = path.relative_to(root).parts[:-1]
            subject = folder_label = None
            for part in folders:
                m = _SUBJECT.match(_norm(part))
                if m:
                    subject = f"s{int(m.group(1))}"
                    saw_subject_folder = True
                label = _folder_emotion(part)
                if label is not None:
                    folder_label = label
            fm = _FILE.match(path.stem.strip())
            code = fm.group(2).lower() if fm else ""
            code_label = emotions.ENTERFACE_CODES.get(code)
            if subject is None and fm:
                subject = f"s{int(fm.group(1))}"
            if folder_label and code_label and folder_label != code_label:
                scan.problems.append(
                    Problem(
                        rel,
                        f"its folder says {folder_label} but its file-name code {code!r} "
                        f"says {code_label}; skipped",
                        "move the file to the right emotion folder or fix its name",
                        ERROR,
                    )
                )
                continue
            label = folder_label or code_label
            if label is None:
                scan.problems.append(
                    Problem(
                        rel,
                        "cannot tell its emotion: no emotion folder above it and no "
                        "eNTERFACE code (an di fe ha sa su) in its name",
                        "put it under subject N/<emotion>/ or name it sN_<code>_K",
                        ERROR,
                    )
                )
                continue
            if subject is None:
                scan.problems.append(
                    Problem(
                        rel,
                        "cannot tell its subject: no 'subject N' folder above it and no "
                        "sN_ prefix in its name",
                        "put it under a 'subject N' folder",
                        ERROR,
                    )
                )
                continue
            scan.clips.append(
                Clip(rel, path, label, subject, self.name, code if code_label else "")
            )
        if not scan.clips:
            hint = "" if saw_subject_folder else " (no 'subject N' folders were found)"
            raise CorpusError(
                f"enterface: no eNTERFACE'05 clips found under {root}{hint}; "
                f"expected layout {LAYOUT}"
            )
        return sort_scan(scan)
