"""Any other corpus, described by a small YAML spec.

.. code-block:: yaml

    name: mycorpus                 # cache folder prefix (default: the file's stem)
    root: videos                   # relative to this file, or absolute
    glob: "**/*.mp4"               # one pattern or a list; videos or still images
    label: {from: parent}          # or {from: regex}: the regex's (?P<label>...) group
    regex: '(?P<subject>[a-z]+)_(?P<label>[a-z]+)_\\d+'   # searched in the relative path
    subject: {from: grandparent}   # parent | grandparent | regex | none
    labels: {ang: anger, hap: happiness}   # corpus code -> canonical emotion
    include: ["**/take1/*"]        # optional: keep only matching relative paths
    exclude: ["**/practice/*"]     # optional: drop matching relative paths
    labels_file: {path: legend.csv, image: image, label: emotion, subject: person}
                                   # optional: labels (and subjects) from a CSV instead
    detector: none                 # optional: the files are face crops already (CK+48);
                                   # any registered detector name; default: the preparation's
    sequences: true                # optional: each folder of matched images is one clip
                                   # (frames in name order; see corpora.sequences)
    label: {from: label_file, path: '../Emotion/{clip}/*_emotion.txt'}
                                   # or: each clip's code from a file of its own (CK+)

A regex that matches no file at all is an error naming the spec and the pattern; a
file it does not match, or whose label maps to no emotion, is reported and skipped.
With ``labels_file`` (see :mod:`~pathfer.data.corpora.annotations`) the label of each
file is its row's; rows naming missing images and images with no row are reported.
The same file reached twice (through folder links) is used once; a folder link loop is
reported (and not followed), and a file link that dangles or loops is a clip that
preparation reports as skipped, as for the built-in adapters. ``detector`` is a property
of the corpus (``none`` for folders of face crops): every preparation of the corpus uses it,
whatever detector the command or experiment gives the other corpora.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pathfer.data import emotions
from pathfer.data.corpora.annotations import LabelsFile
from pathfer.data.corpora.base import (
    ERROR,
    IGNORED,
    Clip,
    CorpusError,
    CorpusScan,
    Problem,
    check_root,
    folder_loops,
    is_junk,
    relative_id,
    sort_scan,
)
from pathfer.data.corpora.sequences import ClipLabelFile, group_frames, images_only
from pathfer.data.faces.detect import available_detectors
from pathfer.data.video import MEDIA_EXTENSIONS

_LABEL_FROM = {"parent", "regex", "label_file"}
_SUBJECT_FROM = {"parent", "grandparent", "parent_of_parent", "regex", "none"}
_KEYS = {
    "name",
    "root",
    "glob",
    "label",
    "regex",
    "subject",
    "labels",
    "include",
    "exclude",
    "labels_file",
    "detector",
    "sequences",
}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _from(value: Any, key: str, where: str) -> str:
    if isinstance(value, dict):
        value = value.get("from")
    if not isinstance(value, str):
        raise CorpusError(f"{where}: '{key}' must be like {{from: ...}}, not {value!r}")
    return value.strip().lower()


@dataclass
class SpecCorpus:
    """A corpus described by a YAML spec (see the module docstring)."""

    name: str
    root: Path
    glob: list[str]
    label_from: str = "parent"
    regex: str | None = None
    subject_from: str = "grandparent"
    labels: dict[str, str] = field(default_factory=dict)
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    source: str = "<spec>"
    labels_file: LabelsFile | None = None
    #: the face detector this corpus needs (``none``: the files are face crops), or None
    detector: str | None = None
    #: each folder of matched images is one clip (see :mod:`~pathfer.data.corpora.sequences`)
    sequences: bool = False
    #: ``label: {from: label_file, path: ...}``: a file per clip holds its code
    label_file: ClipLabelFile | None = None

    layout = "the files matched by the spec's glob"

    @classmethod
    def from_yaml(cls, path: str | Path) -> SpecCorpus:
        path = Path(path).expanduser()
        if not path.is_file():
            raise CorpusError(f"corpus spec {path} does not exist; check the path")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise CorpusError(f"corpus spec {path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise CorpusError(f"corpus spec {path}: expected a mapping of keys (name, root, ...)")
        return cls.from_dict(data, base=path.parent, source=str(path), default_name=path.stem)

    @classmethod
    def from_dict(
        cls,
        data: dict,
        base: str | Path = ".",
        source: str = "<spec>",
        default_name: str = "corpus",
    ) -> SpecCorpus:
        unknown = set(data) - _KEYS
        if unknown:
            raise CorpusError(
                f"{source}: unknown key(s) {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(_KEYS))}"
            )
        for key in ("root", "glob"):
            if not data.get(key):
                raise CorpusError(f"{source}: missing '{key}'")
        name = re.sub(r"[^\w.-]+", "-", str(data.get("name") or default_name)).strip("-")
        root = Path(str(data["root"])).expanduser()
        if not root.is_absolute():
            root = Path(base) / root
        labels_file = None
        if data.get("labels_file") is not None:
            labels_file = LabelsFile.from_spec(data["labels_file"], Path(base), source)
            if "label" in data:
                raise CorpusError(
                    f"{source}: give either 'label' or 'labels_file' (the labels come from "
                    "the file's label column)"
                )
            if labels_file.subject and "subject" in data:
                raise CorpusError(
                    f"{source}: the subject comes from labels_file's subject column "
                    f"{labels_file.subject!r}; drop the 'subject' key (or that column)"
                )
            label_from = "file"
        else:
            label_from = _from(data.get("label", "parent"), "label", source)
        if label_from not in _LABEL_FROM | {"file"}:
            raise CorpusError(
                f"{source}: label.from must be parent, regex or label_file, not {label_from!r}"
            )
        sequences = data.get("sequences", False)
        if not isinstance(sequences, bool):
            raise CorpusError(
                f"{source}: sequences must be true (each folder of frames is one clip) or "
                f"false, not {sequences!r}"
            )
        regex = data.get("regex")
        if regex is not None:
            try:
                compiled = re.compile(str(regex))
            except re.error as exc:
                raise CorpusError(f"{source}: invalid regex {regex!r}: {exc}") from None
        else:
            compiled = None
        if labels_file is not None and labels_file.subject:
            subject_from = "file"
        elif "subject" in data:
            subject_from = _from(data["subject"], "subject", source)
        elif compiled is not None and "subject" in compiled.groupindex:
            subject_from = "regex"
        else:
            subject_from = "grandparent" if label_from == "parent" else "parent"
        label_file = None
        if label_from == "label_file":
            groups = list(compiled.groupindex) if compiled is not None else []
            label_file = ClipLabelFile.from_spec(data["label"], source, groups)
        if subject_from not in _SUBJECT_FROM | {"file"}:
            raise CorpusError(
                f"{source}: subject.from must be one of {', '.join(sorted(_SUBJECT_FROM))}, "
                f"not {subject_from!r}"
            )
        for what, frm in (("label", label_from), ("subject", subject_from)):
            if frm == "regex":
                if compiled is None:
                    raise CorpusError(f"{source}: {what}.from is regex but no 'regex' is given")
                if what not in compiled.groupindex:
                    raise CorpusError(
                        f"{source}: {what}.from is regex but the regex {regex!r} has no "
                        f"(?P<{what}>...) group"
                    )
        detector = data.get("detector")
        if detector is not None:
            names = available_detectors()
            detector = str(detector).strip().lower()
            if detector not in names:
                raise CorpusError(
                    f"{source}: unknown detector {data['detector']!r}; allowed: "
                    f"{', '.join(names)} (none: the files are face crops already)"
                )
        labels_map = data.get("labels") or {}
        if not isinstance(labels_map, dict):
            raise CorpusError(f"{source}: 'labels' must map corpus codes to emotions")
        labels = {}
        for code, emo in labels_map.items():
            try:
                labels[str(code).strip().lower()] = emotions.canonical(str(emo))
            except emotions.UnknownEmotionError as exc:
                raise CorpusError(f"{source}: labels[{code!r}]: {exc}") from None
        return cls(
            name=name or default_name,
            root=root,
            glob=_as_list(data["glob"]),
            label_from=label_from,
            regex=None if regex is None else str(regex),
            subject_from=subject_from,
            labels=labels,
            include=_as_list(data.get("include")),
            exclude=_as_list(data.get("exclude")),
            source=source,
            labels_file=labels_file,
            detector=detector,
            sequences=sequences,
            label_file=label_file,
        )

    def _label(self, raw: str) -> str:
        key = raw.strip().lower()
        return self.labels.get(key) or emotions.canonical(key)

    def scan(self, root: str | Path | None = None) -> CorpusScan:
        base = check_root(root or self.root, self.name, f"{self.layout} ({self.source})")
        scan = CorpusScan(self.name, base, detector=self.detector)
        pattern = re.compile(self.regex) if self.regex else None
        files: dict[str, Path] = {}
        real_seen: dict[str, str] = {}  # real path -> the relative path it was first seen as
        for g in self.glob:
            for path in sorted(base.glob(g)):
                if path.suffix.lower() not in MEDIA_EXTENSIONS or is_junk(path):
                    continue
                if not path.is_file() and not path.is_symlink():
                    continue  # a folder; a dangling or looping file link goes on, and
                    # preparation reports it as the adapters' scans do
                rel = relative_id(path, base)
                if rel in files:
                    continue
                # a file reached through two folder paths (a folder link) counts once
                real = os.path.join(os.path.realpath(path.parent), path.name)
                if real in real_seen:
                    scan.problems.append(
                        Problem(
                            rel,
                            f"the same file as {real_seen[real]!r} (through a folder link); "
                            "used once",
                            "",
                            IGNORED,
                        )
                    )
                    continue
                real_seen[real] = rel
                files[rel] = path
        media = {
            rel: p
            for rel, p in files.items()
            if p.suffix.lower() in MEDIA_EXTENSIONS
            and (not self.include or any(fnmatch.fnmatch(rel, pat) for pat in self.include))
            and not any(fnmatch.fnmatch(rel, pat) for pat in self.exclude)
        }
        if not media:
            raise CorpusError(
                f"{self.source}: the glob {self.glob} matches no video or image under {base}"
            )
        scan.problems.extend(folder_loops(base))
        frames: dict[str, tuple[Path, ...]] = {}
        if self.sequences:
            images, media = images_only(media)
            frames = group_frames(images)
            media.update({rel: base / rel for rel in frames})
        annotations = {}
        if self.labels_file is not None:
            annotations, problems = self.labels_file.match(media, self.source)
            scan.problems.extend(problems)
        matched = 0
        for rel, path in media.items():
            if self.labels_file is not None and rel not in annotations:
                continue  # reported by match()
            m = pattern.search(rel) if pattern else None
            if pattern is not None and m is None:
                scan.problems.append(
                    Problem(rel, f"does not match the spec's regex {self.regex!r}", "", ERROR)
                )
                continue
            matched += 1
            if self.label_file is not None:
                raw, problem = self.label_file.code(base, rel, path, m.groupdict() if m else {})
                if problem is not None:
                    scan.problems.append(problem)
                    continue
            elif self.label_from == "file":
                raw = annotations[rel].label
            elif self.label_from == "regex":
                raw = m.group("label")
            else:
                raw = path.parent.name
            try:
                label = self._label(raw or "")
            except emotions.UnknownEmotionError:
                scan.problems.append(
                    Problem(
                        rel,
                        f"label {raw!r} maps to no emotion",
                        f"add {raw.strip().lower()!r} to the 'labels' map of {self.source}",
                        ERROR,
                    )
                )
                continue
            if self.subject_from == "file":
                subject = annotations[rel].subject or ""
            elif self.subject_from == "regex":
                subject = m.group("subject") or ""
            elif self.subject_from == "parent":
                subject = path.parent.name
            elif self.subject_from in {"grandparent", "parent_of_parent"}:
                subject = path.parent.parent.name
            else:
                subject = "all"
            scan.clips.append(
                Clip(
                    rel, path, label, subject.strip() or "all", self.name, raw, frames.get(rel, ())
                )
            )
        if pattern is not None and matched == 0:
            raise CorpusError(
                f"{self.source}: the regex {self.regex!r} matches none of the {len(media)} "
                f"files (e.g. {next(iter(sorted(media)))!r}); fix the pattern"
            )
        if not scan.clips:
            raise CorpusError(
                f"{self.source}: no clip could be labelled ({len(scan.problems)} problems, "
                f"e.g. {scan.problems[0].message()})"
            )
        return sort_scan(scan)
