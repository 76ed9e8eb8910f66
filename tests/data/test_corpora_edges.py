"""A spec's odd inputs: labels files in other encodings, links that loop or dangle."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import grid, place

from pathfer.data.corpora import CorpusError, scan_target
from pathfer.data.datasets import prepare_corpus
from pathfer.data.faces import CropSettings


def _photos(root: Path, names: list[str]) -> None:
    for i, name in enumerate(names):
        place(grid(i), root / name)  # real faces; the glob takes them as clips


def _spec(tmp_path: Path, labels_file: str, root: Path) -> str:
    spec = tmp_path / "wild.yaml"
    spec.write_text(
        f"root: {root}\nglob: '*.mpg'\nlabels_file: {labels_file}\nsubject: {{from: none}}\n"
    )
    return str(spec)


def test_latin1_labels_file_names_line_and_offset(tmp_path: Path) -> None:
    root = tmp_path / "media"
    _photos(root, ["ana.mpg", "bea.mpg", "josé.mpg"])
    rows = "image,label\nana.mpg,anger\nbea.mpg,happiness\njosé.mpg,sadness\n"
    (tmp_path / "legend.csv").write_bytes(rows.encode("latin-1"))
    offset = rows.encode("latin-1").index(b"\xe9")
    with pytest.raises(CorpusError) as err:
        scan_target(_spec(tmp_path, "legend.csv", root))
    msg = str(err.value)
    assert "legend.csv is not UTF-8 text" in msg and "0xe9" in msg
    assert f"at offset {offset} (line 4," in msg and "encoding: latin-1" in msg
    assert "\n" not in msg
    scan = scan_target(_spec(tmp_path, "{path: legend.csv, encoding: latin-1}", root))
    assert {c.clip_id: c.label for c in scan.clips} == {
        "ana.mpg": "anger",
        "bea.mpg": "happiness",
        "josé.mpg": "sadness",
    }
    # UTF-8 with a byte-order mark (as Excel writes it) needs no key
    (tmp_path / "bom.csv").write_bytes(rows.encode("utf-8-sig"))
    assert len(scan_target(_spec(tmp_path, "bom.csv", root)).clips) == 3
    with pytest.raises(CorpusError, match="unknown encoding 'latin-9x'"):
        scan_target(_spec(tmp_path, "{path: legend.csv, encoding: latin-9x}", root))


def test_spec_reports_links_that_loop_or_dangle(tmp_path: Path) -> None:
    root = tmp_path / "c"
    for i, sub in enumerate(["p1/anger", "p1/happiness", "p2/anger", "p2/happiness"]):
        place(grid(i), root / sub / f"clip{i}.mpg")
    os.symlink("..", root / "p1" / "anger" / "loop")  # a folder link back up
    os.symlink(tmp_path / "gone.mpg", root / "p2" / "anger" / "gone.mpg")  # dangles
    os.symlink("self.mpg", root / "p2" / "happiness" / "self.mpg")  # loops on itself
    spec = tmp_path / "c.yaml"
    spec.write_text(f"root: {root}\nglob: '**/*.mpg'\n")
    scan = scan_target(str(spec))
    assert [p.path for p in scan.ignored] == ["p1/anger/loop"]
    assert "folder link loop" in scan.ignored[0].reason
    assert len(scan.clips) == 6  # the two bad links are clips preparation reports
    report = prepare_corpus(
        scan, tmp_path / "cache", crop=CropSettings(detector="haar"), workers=1, progress=False
    )
    reasons = {p.path: p.reason for p in report.skipped}
    assert set(reasons) == {"p2/anger/gone.mpg", "p2/happiness/self.mpg"}
    assert "broken link" in reasons["p2/anger/gone.mpg"]
    assert "symbolic link loop" in reasons["p2/happiness/self.mpg"]
    assert report.n_clips == 4
