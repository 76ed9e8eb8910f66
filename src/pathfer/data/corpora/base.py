"""What every corpus adapter returns: clips with canonical labels, and the problems found.

An adapter never raises for one bad file: it reports a :class:`Problem` (naming the file,
the reason and the fix) and goes on. It raises :class:`CorpusError` only when the corpus as
a whole cannot be used (missing root, wrong layout, a spec whose pattern matches nothing).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from pathfer.data import emotions
from pathfer.runtime.registry import Registry

#: Problem kinds: ``error`` a clip that should have been used but could not be;
#: ``ignored`` a file deliberately left out (audio-only files, duplicates);
#: ``warning`` a clip that was used, with something worth knowing (decoder errors).
ERROR, IGNORED, WARNING = "error", "ignored", "warning"

#: Names that operating systems and archive tools leave in folders; never reported.
_JUNK = {"thumbs.db", "desktop.ini", ".ds_store"}


#: name -> corpus adapter class; each adapter module registers itself with
#: ``@CORPORA.register("name")``; aliases are other spellings users type
CORPORA: Registry = Registry(
    "corpus", aliases={"enterface05": "enterface", "enterface'05": "enterface"}
)


class CorpusError(ValueError):
    """The corpus cannot be used as a whole; the message names the path and the fix."""


@dataclass(frozen=True)
class Clip:
    """One video (or still image) with its canonical emotion label."""

    clip_id: str  # unique within the corpus: the path relative to the corpus root
    path: Path
    label: str  # canonical emotion name (pathfer.data.emotions)
    subject: str
    corpus: str
    code: str = ""  # the corpus' own label code, kept for reference
    #: a sequence clip (a folder of frames, ``path`` the folder): its frame files in name
    #: order, sampled like a video's frames; empty for a video or a still image
    frames: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Problem:
    """A file that was not used: why, and what to do about it."""

    path: str
    reason: str
    fix: str = ""
    kind: str = ERROR

    def message(self) -> str:
        text = f"{self.path}: {self.reason}"
        return f"{text} ({self.fix})" if self.fix else text

    def as_dict(self) -> dict:
        return {"path": self.path, "reason": self.reason, "fix": self.fix, "kind": self.kind}


@dataclass
class CorpusScan:
    """The result of scanning a corpus folder."""

    name: str
    root: Path
    clips: list[Clip] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: the face detector the corpus itself asks for (a spec's ``detector:``, e.g. ``none``
    #: for folders of face crops); None: whatever the preparation says
    detector: str | None = None

    @property
    def labels(self) -> list[str]:
        """Canonical labels present, in pathfer's class order."""
        return emotions.ordered(c.label for c in self.clips)

    @property
    def subjects(self) -> list[str]:
        return sorted({c.subject for c in self.clips}, key=natural_key)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == ERROR]

    @property
    def ignored(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == IGNORED]

    def restrict(self, labels: Iterable[str]) -> CorpusScan:
        """Only the clips whose label is in ``labels`` (e.g. ``emotions.shared_labels``)."""
        wanted = {emotions.canonical(x) for x in labels}
        unknown = wanted - set(self.labels)
        if not wanted:
            raise CorpusError("restrict: the label set is empty")
        if unknown == wanted:
            raise CorpusError(
                f"{self.name}: none of the labels {sorted(wanted)} occur in the corpus "
                f"(it has {', '.join(self.labels)})"
            )
        return replace(self, clips=[c for c in self.clips if c.label in wanted])

    def summary(self) -> str:
        return (
            f"{self.name}: {len(self.clips)} clips, {len(self.subjects)} subjects, "
            f"labels {', '.join(self.labels)}; {len(self.errors)} problems, "
            f"{len(self.ignored)} files ignored"
        )


def natural_key(text: str) -> tuple:
    """Sort key that orders "s2" before "s10"."""
    parts = re.split(r"(\d+)", text.lower())
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def is_junk(path: Path) -> bool:
    name = path.name.lower()
    return name in _JUNK or name.startswith("._") or name.startswith(".")


def walk_files(root: Path, problems: list[Problem] | None = None) -> Iterator[Path]:
    """Every file under ``root`` in natural order, following folder links, each real folder
    once (so each file once).

    A folder link to a folder already walked is not followed again; it is reported in
    ``problems`` (kind ``ignored``), once per link: as a loop when it leads back to a folder
    that holds it (``subject 1/anger/loop -> ..``), else as a second way into a folder.
    """
    walked: dict[str, str] = {os.path.realpath(root): "."}  # real folder -> first path
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = os.path.realpath(dirpath)
        keep = []
        for name in sorted((d for d in dirnames if not d.startswith(".")), key=natural_key):
            path = Path(dirpath) / name
            real = os.path.realpath(path)
            if real not in walked:
                walked[real] = relative_id(path, root)
                keep.append(name)
                continue
            if problems is not None:
                first = walked[real]
                if here == real or here.startswith(real.rstrip(os.sep) + os.sep):
                    reason = f"folder link loop: it leads back to {first!r}; not followed"
                else:
                    reason = f"a second way into folder {first!r} (a link); walked once"
                problems.append(Problem(relative_id(path, root), reason, "", IGNORED))
        dirnames[:] = keep
        for name in sorted(filenames, key=natural_key):
            yield Path(dirpath) / name


def folder_loops(root: Path) -> list[Problem]:
    """The folder links under ``root`` that lead back to a folder holding them, reported as
    :func:`walk_files` reports them (a pattern's walk drops them without a word)."""
    problems: list[Problem] = []
    for _ in walk_files(root, problems):
        pass
    return [p for p in problems if p.reason.startswith("folder link loop")]


def relative_id(path: Path, root: Path) -> str:
    """Clip id: the path relative to the corpus root, with forward slashes."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def check_root(root: str | Path, corpus: str, layout: str) -> Path:
    """Resolve ``root``; raise a clear :class:`CorpusError` when it is not a folder."""
    path = Path(root).expanduser()
    if not path.exists():
        raise CorpusError(
            f"{corpus}: corpus folder {path} does not exist; pass the folder that holds "
            f"the corpus (expected layout: {layout})"
        )
    if not path.is_dir():
        raise CorpusError(
            f"{corpus}: {path} is a file, not a folder; pass the corpus folder "
            f"(expected layout: {layout})"
        )
    return path.resolve()


def sort_scan(scan: CorpusScan) -> CorpusScan:
    """Clips and problems in a stable, natural order (the cache key depends on it)."""
    scan.clips.sort(key=lambda c: natural_key(c.clip_id))
    scan.problems.sort(key=lambda p: natural_key(p.path))
    return scan
