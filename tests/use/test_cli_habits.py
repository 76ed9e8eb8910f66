"""The command line as a whole (``pathfer.cli.app``): --version, defaults in --help, one
meaning per short flag, listed choices, exit 130 on Ctrl-C, and predict's flags on GRID clips."""

from __future__ import annotations

import io
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import typer.main
from conftest import build_savee
from typer.testing import CliRunner

import pathfer
from pathfer.cli import app
from pathfer.use.predict import Recognizer
from pathfer.use.predict import recognizer as recognizer_mod

GRID = Path(__file__).parents[1] / "media" / "grid"
CLIPS = sorted(GRID.glob("*.mpg"))


def run(*args, **env):
    runner = CliRunner()
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "300", **env})


def _commands() -> dict[str, object]:
    group = typer.main.get_command(app)
    out = {}
    for name, cmd in group.commands.items():
        subs = getattr(cmd, "commands", None)
        if subs:
            out.update({f"{name} {s}": c for s, c in subs.items()})
        else:
            out[name] = cmd
    return out


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_version():
    r = run("--version")
    assert r.exit_code == 0 and r.output.strip() == f"pathfer {pathfer.__version__}"


@pytest.mark.parametrize("command", sorted(_commands()))
def test_help_shows_every_default(command):
    r = run(*command.split(), "--help")
    assert r.exit_code == 0, r.output
    text = _flat(r.output)
    for p in _commands()[command].params:
        if p.param_type_name != "option" or p.name == "help" or p.show_default is False:
            continue
        if isinstance(p.show_default, str):
            expected = f"({p.show_default})"
        elif p.default is None or (p.is_flag and p.default is False and not p.secondary_opts):
            continue  # optional with no default, or an off-by-default switch
        elif p.secondary_opts:
            expected = (p.opts if p.default else p.secondary_opts)[0].lstrip("-")
        else:
            expected = str(p.default)
        assert f"[default: {expected}]" in text, (command, p.name, expected)
    # nothing swallowed as rich markup ("Results folder [default: x]." once showed "folder .")
    assert "[default: ]" not in text and not re.search(r"\w \.( |$)", text)


def test_one_meaning_per_short_flag():
    meanings: dict[str, set[str]] = {}
    for cmd in _commands().values():
        for p in cmd.params:
            longs = [o for o in p.opts if o.startswith("--")]
            for short in (o for o in p.opts if re.fullmatch(r"-[a-zA-Z]", o)):
                meanings.setdefault(short, set()).update(longs)
    clashes = {s: m for s, m in meanings.items() if len(m) > 1}
    assert not clashes
    assert meanings["-m"] == {"--model"} and meanings["-o"] == {"--out"}
    assert meanings["-j"] == {"--workers"} and meanings["-q"] == {"--quiet"}


def test_fixed_values_list_their_choices(tmp_path):
    help_text = _flat(run("prepare", "--help").output)
    assert "<uniform|every|all>" in help_text and "<local|inline|ray>" in help_text
    assert re.search(r"<[a-z_|]*haar[a-z_|]*>", help_text)
    assert "<pathnet_transfer|" in _flat(run("train", "--help").output)
    assert "<local|inline|ray>" in _flat(run("experiment", "run", "--help").output)
    assert "<cpu|cuda|mps>" in _flat(run("predict", "--help").output)
    cases = [
        (("prepare", "savee", "--sampling", "often"), "'uniform', 'every', 'all'"),
        (("prepare", "savee", "--detector", "nosuch"), "'haar'"),
        (("prepare", "savee", "--executor", "cloud"), "'local', 'inline', 'ray'"),
        (("experiment", "run", "c.yaml", "--executor", "cloud"), "'local', 'inline', 'ray'"),
        (("train", "c.yaml", "-o", tmp_path / "b.safetensors", "--method", "x"), "'cnn_scratch'"),
        (("predict", CLIPS[0], "--detector", "nosuch"), "'haar'"),
        (("predict", CLIPS[0], "--device", "tpu"), "'cpu', 'cuda', 'mps'"),
    ]
    for args, listed in cases:
        r = run(*args)
        assert r.exit_code == 2, (args, r.output)
        assert listed in _flat(r.output).replace(" │ ", " "), (args, r.output)


def test_ctrl_c_exits_130_in_every_command(monkeypatch, tmp_path):
    import pathfer.data.datasets as datasets
    import pathfer.study.experiments.config as config
    import pathfer.study.experiments.train  # noqa: F401 - imported before the patch below,
    # so that its modules keep the real prepare_corpus for the tests that follow

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets, "prepare_corpus", interrupt)
    root = build_savee(tmp_path / "savee")
    r = run("prepare", "savee", root, "-o", tmp_path / "cache", "-q")
    assert r.exit_code == 130 and "run the same command again" in _flat(r.output)
    monkeypatch.setattr(config, "load_config", interrupt)
    assert run("experiment", "run", "c.yaml").exit_code == 130


def _interrupt_after(n: int, monkeypatch) -> None:
    real = recognizer_mod.iter_frames

    def frames(path, every=1, **kwargs):
        for k, item in enumerate(real(path, every=every, **kwargs)):
            if k == n:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(recognizer_mod, "iter_frames", frames)


def test_predict_ctrl_c_writes_partial_results(monkeypatch, tmp_path):
    _interrupt_after(30, monkeypatch)
    out, summary = tmp_path / "r.csv", tmp_path / "s.csv"
    r = run("predict", CLIPS[0], CLIPS[1], "-o", out, "--summary", summary)
    assert r.exit_code == 130, r.output
    assert "interrupted" in r.output and "partial" in r.output
    df = pd.read_csv(out)
    assert df["frame"].tolist() == list(range(30)) and set(df["file"]) == {str(CLIPS[0])}
    assert pd.read_csv(summary)["frames"].tolist() == [30]


def test_unwritable_out_fails_before_any_frame(monkeypatch, tmp_path):
    loads = []
    monkeypatch.setattr(
        Recognizer, "from_bundle", classmethod(lambda cls, *a, **k: loads.append(1))
    )
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    for flag, target in [
        ("--out", blocker / "r.csv"),
        ("--summary", blocker / "s.json"),
        ("--timeline", blocker / "t.png"),
        ("--annotate", blocker / "videos"),
    ]:
        r = run("predict", CLIPS[0], flag, target)
        assert r.exit_code == 2, (flag, r.output)
        assert "file.txt is a file, not a folder" in _flat(r.output)
    assert loads == []  # failed before the model was even loaded


def test_predict_outputs_quiet_workers_no_track(tmp_path):
    out, summary, timeline = tmp_path / "r.csv", tmp_path / "s.json", tmp_path / "t.png"
    r = run(
        "predict",
        *CLIPS[:3],
        "-k",
        15,
        "-j",
        2,
        "--no-track",
        "--detector",
        "haar",
        "--device",
        "cpu",
        "-o",
        out,
        "--summary",
        summary,
        "--timeline",
        timeline,
        "-q",
    )
    assert r.exit_code == 0, r.output
    assert r.output.strip() == ""  # --quiet: no table, no progress, no chatter
    df = pd.read_csv(out)
    ref = Recognizer.from_bundle(detector="haar", track=False).predict(list(CLIPS[:3]), every=15)
    np.testing.assert_allclose(df[ref.labels].to_numpy(), ref[ref.labels].to_numpy(), atol=1e-6)
    s = pd.read_json(summary)
    assert s["file"].tolist() == [str(c) for c in CLIPS[:3]] and (s["frames"] == 5).all()
    img = cv2.imread(str(timeline))
    assert img is not None and img.shape[0] > 600  # three panels


def test_predict_table_keeps_full_headers_when_piped():
    r = run("predict", CLIPS[0], "-k", 25, COLUMNS="80")
    assert r.exit_code == 0
    assert "happiness" in r.output and "surprise" in r.output and "…" not in r.output


def test_predict_camera_without_display_streams_csv_rows(monkeypatch, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    r = run(
        "predict", "--camera", CLIPS[2], "--every", 5, "--max-frames", 4, "-o", tmp_path / "c.csv"
    )
    assert r.exit_code == 0, r.output
    rows = pd.read_csv(io.StringIO(r.stdout))
    assert rows["frame"].tolist() == [0, 5, 10, 15] and rows["face"].all()
    assert pd.read_csv(tmp_path / "c.csv")["frame"].tolist() == [0, 5, 10, 15]
    bad = run("predict", CLIPS[0], "--camera", "0")
    assert bad.exit_code == 2 and "not both" in bad.output
    missing = run("predict", "--camera", "7")  # no such camera here
    assert missing.exit_code == 2 and "camera 7: cannot be opened" in _flat(missing.output)
    assert "Traceback" not in missing.output


def test_export_takes_out(tmp_path):
    pytest.importorskip("onnx")
    r = run("export", "--out", tmp_path / "m.onnx")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m.onnx").stat().st_size > 100_000
    assert run("export").exit_code == 2
