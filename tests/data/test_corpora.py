"""Corpus adapters on real GRID footage laid out like each corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import build_enterface, build_savee, grid, place

from pathfer.data import emotions
from pathfer.data.corpora import (
    IGNORED,
    CorpusError,
    available_corpora,
    get_corpus,
    load_spec,
    scan_target,
)


def test_registry() -> None:
    assert {"savee", "enterface", "ravdess"} <= set(available_corpora())
    assert get_corpus("SAVEE").name == "savee"
    with pytest.raises(CorpusError, match="unknown corpus 'fer'.*savee"):
        get_corpus("fer")


def test_savee_layout(savee_root: Path) -> None:
    scan = get_corpus("savee").scan(savee_root)
    assert len(scan.clips) == 6
    assert scan.subjects == ["DC", "JE"]
    assert scan.labels == ["anger", "happiness", "sadness"]
    assert scan.problems == []  # notes.txt is not a clip
    by_id = {c.clip_id: c for c in scan.clips}
    clip = by_id["AudioVisualClip/DC/a01.avi"]
    assert (clip.label, clip.subject, clip.corpus, clip.code) == ("anger", "DC", "savee", "a")
    assert by_id["AudioVisualClip/JE/sa02.mpg"].label == "sadness"
    # the AudioVisualClip folder itself is accepted as the root too
    inner = get_corpus("savee").scan(savee_root / "AudioVisualClip")
    assert sorted(c.label for c in inner.clips) == sorted(c.label for c in scan.clips)


def test_savee_unknown_code_is_reported(savee_root: Path) -> None:
    place(grid(0), savee_root / "AudioVisualClip" / "DC" / "x03.avi")
    place(grid(0), savee_root / "AudioVisualClip" / "DC" / "take.avi")
    scan = get_corpus("savee").scan(savee_root)
    assert len(scan.clips) == 6
    msgs = {p.path: p.message() for p in scan.problems}
    assert "unknown SAVEE emotion code 'x'" in msgs["AudioVisualClip/DC/x03.avi"]
    assert "a d f h n sa su" in msgs["AudioVisualClip/DC/x03.avi"]
    assert "pattern" in msgs["AudioVisualClip/DC/take.avi"]


def test_missing_root_names_path_and_layout(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    for name, layout_word in (("savee", "AudioVisualClip"), ("enterface", "subject N")):
        with pytest.raises(CorpusError) as err:
            get_corpus(name).scan(missing)
        assert str(missing) in str(err.value)
        assert layout_word in str(err.value)


def test_wrong_layout_says_what_was_expected(tmp_path: Path) -> None:
    root = build_enterface(tmp_path / "ent")
    with pytest.raises(CorpusError) as err:
        scan_target("savee", root)
    text = str(err.value)
    assert str(root) in text and "AudioVisualClip/<speaker>" in text
    assert "looks like a 'enterface' corpus" in text
    sv = build_savee(tmp_path / "sv")
    with pytest.raises(CorpusError, match="subject N/<emotion>"):
        scan_target("enterface", sv)


def test_enterface_irregular_layout(enterface_root: Path) -> None:
    scan = get_corpus("enterface").scan(enterface_root)
    got = {c.clip_id: (c.label, c.subject) for c in scan.clips}
    assert got == {
        "subject 1/anger/sentence 1/s1_an_1.avi": ("anger", "s1"),
        "subject 1/happiness/sentence 1/s1_ha_1.avi": ("happiness", "s1"),
        "subject 1/sadness/sentence 2/s1_sa_2.avi": ("sadness", "s1"),
        "subject 2/fear/sentence 2/s2_fe_2.avi": ("fear", "s2"),
        "Subject 6/anger/s6_an_1.avi": ("anger", "s6"),
        "Subject 6/Happiness/s6_ha_1.avi": ("happiness", "s6"),
        "Subject 6/sadness/sentence  2 /s6_sa_2.avi": ("sadness", "s6"),
    }
    problems = {p.path: p.message() for p in scan.problems}
    assert set(problems) == {"subject 2/fear/sentence 1/s2_su_1.avi", "subject 2/misc/clip.avi"}
    assert "folder says fear" in problems["subject 2/fear/sentence 1/s2_su_1.avi"]
    assert "cannot tell its emotion" in problems["subject 2/misc/clip.avi"]


def test_ravdess_layout(ravdess_root: Path) -> None:
    scan = get_corpus("ravdess").scan(ravdess_root)
    assert len(scan.clips) == 6
    assert scan.subjects == ["actor01", "actor02"]
    assert scan.labels == ["anger", "happiness", "neutral"]
    assert all(c.path.suffix == ".mp4" and c.clip_id.split("/")[1][:2] == "01" for c in scan.clips)
    assert scan.errors == []
    ignored = {p.path: p.reason for p in scan.ignored}
    assert all(p.kind == IGNORED for p in scan.ignored)
    assert ignored["Actor_01/03-01-01-01-01-01-01.wav"] == "audio-only file"
    assert ignored["Actor_02/03-01-03-01-01-01-02.mp4"] == "audio-only file"
    assert "video-only twin" in ignored["Actor_01/02-01-01-01-01-01-01.mp4"]


def test_ravdess_bad_code_and_lone_video_only(ravdess_root: Path) -> None:
    place(grid(0), ravdess_root / "Actor_03" / "02-01-08-02-01-01-03.mp4")
    place(grid(0), ravdess_root / "Actor_03" / "01-01-09-01-01-01-03.mp4")
    scan = get_corpus("ravdess").scan(ravdess_root)
    lone = [c for c in scan.clips if c.subject == "actor03"]
    assert [(c.label, c.code) for c in lone] == [("surprise", "08")]
    [err] = scan.errors
    assert err.path == "Actor_03/01-01-09-01-01-01-03.mp4" and "'09'" in err.reason


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_spec_parent_labels(tmp_path: Path) -> None:
    for i, (subject, folder) in enumerate(
        [("ann", "ang"), ("ann", "hap"), ("bob", "ang"), ("bob", "Happy"), ("bob", "xyz")]
    ):
        place(grid(i), tmp_path / "data" / subject / folder / f"take{i}.mpg")
    (tmp_path / "data" / "ann" / "ang" / "Thumbs.db").write_bytes(b"x")
    spec = _write(
        tmp_path / "mine.yaml",
        "name: mine\nroot: data\nglob: '**/*.mpg'\nlabel: {from: parent}\n"
        "subject: {from: grandparent}\nlabels: {ang: anger, hap: happiness}\n",
    )
    scan = scan_target(str(spec))
    assert scan.name == "mine"
    assert sorted((c.subject, c.label) for c in scan.clips) == [
        ("ann", "anger"),
        ("ann", "happiness"),
        ("bob", "anger"),
        ("bob", "happiness"),
    ]
    [p] = scan.problems
    assert p.path == "bob/xyz/take4.mpg" and "'xyz'" in p.reason and "mine.yaml" in p.fix


def test_spec_regex_and_filters(tmp_path: Path) -> None:
    names = ["p1_an_1.mpg", "p1_ha_2.mpg", "p2_an_1.mpg", "p2_ha_1.mpg", "p2_ha_9.mpg"]
    for i, n in enumerate(names):
        place(grid(i), tmp_path / "flat" / n)
    spec = load_spec(
        _write(
            tmp_path / "flat.yml",
            f"root: {tmp_path / 'flat'}\nglob: '*.mpg'\nlabel: {{from: regex}}\n"
            "regex: '(?P<subject>p\\d+)_(?P<label>[a-z]+)_\\d'\n"
            "labels: {an: anger, ha: happiness}\nexclude: ['*_9.mpg']\n",
        )
    )
    assert spec.subject_from == "regex" and spec.name == "flat"
    scan = spec.scan()
    assert [(c.clip_id, c.subject, c.label) for c in scan.clips] == [
        ("p1_an_1.mpg", "p1", "anger"),
        ("p1_ha_2.mpg", "p1", "happiness"),
        ("p2_an_1.mpg", "p2", "anger"),
        ("p2_ha_1.mpg", "p2", "happiness"),
    ]


def test_spec_regex_matching_nothing_is_a_clear_error(tmp_path: Path) -> None:
    place(grid(0), tmp_path / "v" / "anger" / "a.mpg")
    spec = _write(
        tmp_path / "bad.yaml",
        "root: v\nglob: '**/*.mpg'\nlabel: {from: regex}\nregex: '(?P<label>[A-Z]{5})_'\n",
    )
    with pytest.raises(CorpusError) as err:
        scan_target(str(spec))
    assert "bad.yaml" in str(err.value) and "(?P<label>[A-Z]{5})_" in str(err.value)
    with pytest.raises(CorpusError, match="no 'regex'"):
        scan_target(str(_write(tmp_path / "b2.yaml", "root: v\nglob: '*'\nlabel: regex\n")))
    with pytest.raises(CorpusError, match="matches no video"):
        scan_target(str(_write(tmp_path / "b3.yaml", "root: v\nglob: '*.mp4'\n")))
    with pytest.raises(CorpusError, match="does not exist"):
        scan_target(str(tmp_path / "absent.yaml"))


def test_restrict_to_shared_labels(savee_root: Path, ravdess_root: Path) -> None:
    savee = get_corpus("savee").scan(savee_root)
    ravdess = get_corpus("ravdess").scan(ravdess_root)
    shared = emotions.shared_labels(savee.labels, ravdess.labels)
    assert shared == ["anger", "happiness"]
    sub = savee.restrict(shared)
    assert sub.labels == shared and len(sub.clips) == 4
    with pytest.raises(CorpusError, match="none of the labels"):
        savee.restrict(["fear"])


def test_synthetic_enterface_irregularities_are_all_handled(tmp_path: Path) -> None:
    synthetic = pytest.importorskip("pathfer.data.synthetic")
    root = synthetic.make_enterface(
        tmp_path / "ent", subjects=6, sentences=1, frames=2, size=(88, 72), irregular=True
    )
    scan = get_corpus("enterface").scan(root)
    # every clip placed except the one whose code disagrees with its folder
    assert len(scan.clips) == 6 * 6 - 1
    [p] = scan.problems
    assert "folder says fear" in p.reason
    assert set(scan.subjects) == {f"s{i}" for i in range(1, 7)}
