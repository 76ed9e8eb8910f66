"""Labels from an annotation file (CSV or TSV) instead of folders or file names.

In a corpus spec::

    labels_file: legend.csv                       # columns 'image' and 'label'
    labels_file: {path: legend.csv, image: image, label: emotion, subject: person}

``path`` is relative to the spec file. ``image`` names the column holding each image's
path relative to the corpus root, or just its file name when names are unique;
``label`` the column with the corpus' label (mapped like any other code); ``subject``
(optional) the column with the person (otherwise the spec's ``subject`` rule applies).
The file is read as UTF-8 (with or without a byte-order mark) unless ``encoding`` names
another (``latin-1``, ``cp1252``, ...); a file that does not decode is an error naming
its line and byte offset.

Nothing here is fatal for single rows: a row naming an image that is not there, an image
with no row, a row with an empty label and an image given two different labels are each
reported as a :class:`~pathfer.data.corpora.base.Problem` and left out.
"""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pathfer.data.corpora.base import ERROR, IGNORED, CorpusError, Problem

_KEYS = {"path", "image", "label", "subject", "sep", "encoding"}


@dataclass(frozen=True)
class Annotation:
    label: str  # the corpus' own label, as written
    subject: str | None  # from the subject column, if there is one
    row: int  # line number in the file (the header is line 1)


@dataclass(frozen=True)
class LabelsFile:
    """Where the labels are, and which columns hold what."""

    path: Path
    image: str = "image"
    label: str = "label"
    subject: str | None = None
    sep: str | None = None  # None: tab for .tsv/.tab files, comma otherwise
    encoding: str | None = None  # None: UTF-8, with or without a byte-order mark

    @classmethod
    def from_spec(cls, value: Any, base: Path, source: str) -> LabelsFile:
        """From the spec's ``labels_file`` value: a path, or a mapping with ``path``."""
        data = {"path": value} if isinstance(value, str) else value
        if not isinstance(data, dict) or not data.get("path"):
            raise CorpusError(
                f"{source}: labels_file must be a file name or {{path: ..., image: ..., "
                f"label: ..., subject: ...}}, not {value!r}"
            )
        unknown = set(data) - _KEYS
        if unknown:
            raise CorpusError(
                f"{source}: labels_file: unknown key(s) {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(_KEYS))}"
            )
        path = Path(str(data["path"])).expanduser()
        if not path.is_absolute():
            path = base / path
        subject = data.get("subject")
        encoding = data.get("encoding")
        if encoding is not None:
            try:
                encoding = codecs.lookup(str(encoding)).name
            except LookupError:
                raise CorpusError(
                    f"{source}: labels_file: unknown encoding {data['encoding']!r}; use a "
                    "Python codec name such as utf-8, latin-1 or cp1252"
                ) from None
        return cls(
            path=path,
            image=str(data.get("image", "image")),
            label=str(data.get("label", "label")),
            subject=None if subject is None else str(subject),
            sep=None if data.get("sep") is None else str(data["sep"]),
            encoding=encoding,
        )

    def text(self, source: str) -> str:
        """The file's text; a byte that does not decode is a :class:`CorpusError` naming the
        line and the byte offset."""
        data = self.path.read_bytes()
        encoding = self.encoding or "utf-8-sig"
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1)
            name = "UTF-8" if self.encoding is None else self.encoding
            raise CorpusError(
                f"{source}: labels_file {self.path} is not {name} text: byte "
                f"0x{data[exc.start]:02x} at offset {exc.start} (line {line}, byte {column + 1} "
                "of the line) does not decode; give its encoding, e.g. labels_file: "
                f"{{path: {self.path.name}, encoding: latin-1}} (or cp1252)"
            ) from None

    def read(self, source: str) -> tuple[dict[str, list[Annotation]], list[Problem]]:
        """Rows by normalised image reference, and the problems of single rows."""
        if not self.path.is_file():
            raise CorpusError(f"{source}: labels_file {self.path} does not exist; check the path")
        sep = self.sep or ("\t" if self.path.suffix.lower() in {".tsv", ".tab"} else ",")
        try:
            table = pd.read_csv(
                io.StringIO(self.text(source)),
                sep=sep,
                dtype=str,
                keep_default_na=False,
                skipinitialspace=True,
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise CorpusError(f"{source}: labels_file {self.path} cannot be read: {exc}") from None
        table.columns = [str(c).strip() for c in table.columns]
        wanted = [self.image, self.label] + ([self.subject] if self.subject else [])
        missing = [c for c in wanted if c not in table.columns]
        if missing:
            raise CorpusError(
                f"{source}: labels_file {self.path.name} has no column "
                f"{', '.join(repr(c) for c in missing)} (its columns: "
                f"{', '.join(repr(c) for c in table.columns)}); set image:, label: and "
                "subject: to its column names"
            )
        rows: dict[str, list[Annotation]] = {}
        problems: list[Problem] = []
        for i, rec in enumerate(table.to_dict("records")):
            line = i + 2
            ref = normalise(rec[self.image])
            label = str(rec[self.label]).strip()
            where = f"{self.path.name}:{line}"
            if not ref:
                problems.append(Problem(where, "the row names no image", "", IGNORED))
                continue
            if not label:
                problems.append(
                    Problem(where, f"the row gives {ref!r} no label; skipped", "", ERROR)
                )
                continue
            subject = str(rec[self.subject]).strip() if self.subject else None
            rows.setdefault(ref, []).append(Annotation(label, subject or None, line))
        return rows, problems

    def match(
        self, media: dict[str, Path], source: str
    ) -> tuple[dict[str, Annotation], list[Problem]]:
        """The annotation of each media file (by its path relative to the root), and every
        problem: rows naming no file, files with no row, conflicting rows."""
        rows, problems = self.read(source)
        by_name: dict[str, list[str]] = {}
        for rel in media:
            by_name.setdefault(rel.rsplit("/", 1)[-1], []).append(rel)
        found: dict[str, Annotation] = {}
        conflicting: set[str] = set()  # reported already, not again as "no row"
        for ref, notes in rows.items():
            where = f"{self.path.name}:{notes[0].row}"
            if ref in media:
                rel = ref
            elif "/" not in ref and len(by_name.get(ref, [])) == 1:
                rel = by_name[ref][0]
            elif "/" not in ref and len(by_name.get(ref, [])) > 1:
                problems.append(
                    Problem(
                        where,
                        f"image {ref!r} is ambiguous: {len(by_name[ref])} files have that "
                        f"name ({', '.join(by_name[ref][:3])})",
                        "give the path relative to the corpus root in the image column",
                        ERROR,
                    )
                )
                continue
            else:
                problems.append(
                    Problem(
                        where,
                        f"the row names image {ref!r}, which is not under the corpus root "
                        "(or not matched by the spec's glob)",
                        "fix the name or the glob, or drop the row",
                        ERROR,
                    )
                )
                continue
            labels = {n.label.lower() for n in notes}
            if len(labels) > 1:
                lines = ", ".join(str(n.row) for n in notes)
                problems.append(
                    Problem(
                        rel,
                        f"{self.path.name} gives it {len(labels)} different labels "
                        f"({', '.join(sorted(labels))}; lines {lines}); skipped",
                        "keep one row per image",
                        ERROR,
                    )
                )
                conflicting.add(rel)
                continue
            found[rel] = notes[0]
        for rel in media:
            if rel not in found and rel not in conflicting:
                problems.append(
                    Problem(
                        rel,
                        f"no row of {self.path.name} names this image; skipped",
                        f"add a row to {self.path.name} or exclude the file",
                        ERROR,
                    )
                )
        return found, problems


def normalise(ref: Any) -> str:
    """An image reference as written in a labels file, as a relative POSIX path."""
    text = str(ref).strip().replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return text
