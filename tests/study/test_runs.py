"""A run folder is one resolved config: resume refuses another config, the folder records the
software that computed it, and failed jobs make the commands exit non-zero."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import pathfer
from pathfer.cli import app
from pathfer.data import synthetic
from pathfer.runtime import formats
from pathfer.study.experiments.config import config_from_dict
from pathfer.study.experiments.methods import METHODS, register_method
from pathfer.study.experiments.provenance import RunMismatchError
from pathfer.study.experiments.runner import run_experiment
from pathfer.study.run import run_and_report


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    ent = synthetic.make_enterface(root / "enterface", subjects=4, sentences=1, frames=4, seed=3)
    return {"enterface": ent, "cache": root / "cache"}


def _raw(corpus, **over) -> dict:
    raw = {
        "name": "tiny",
        "kind": "single",
        "target": {"corpus": "enterface", "path": str(corpus["enterface"])},
        "cache": str(corpus["cache"]),
        "methods": ["mini_xception_zeroshot"],  # no training: these tests are about the folder
        "preparation": {"frames": 2},
        "split": {"kind": "group_kfold", "k": 2},
        "train": {"max_steps": 6},
        "executor": "inline",
    }
    raw.update(over)
    return raw


def _files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run / "results").iterdir())}


def test_resume_with_another_config_is_refused_naming_what_differs(corpus, tmp_path):
    run = tmp_path / "run"
    run_experiment(config_from_dict(_raw(corpus)), run, log=quiet)
    results, recorded = _files(run), (run / "config.yaml").read_text()

    changed = config_from_dict(_raw(corpus, preparation={"frames": 3}, train={"max_steps": 7}))
    with pytest.raises(RunMismatchError) as info:
        run_experiment(changed, run, log=quiet)
    msg = str(info.value)
    assert "preparation.frames: 2 -> 3" in msg and "train.max_steps: 6 -> 7" in msg
    assert str(run) in msg and "--new-run" in msg and "\n" not in msg
    assert _files(run) == results and (run / "config.yaml").read_text() == recorded

    # asked for: a new run folder beside it, the old one untouched
    new = run_experiment(changed, run, log=quiet, new_run=True)
    assert new == tmp_path / "run-2"
    assert yaml.safe_load((new / "config.yaml").read_text())["preparation"]["frames"] == 3
    assert len(_files(new)) == 2
    assert _files(run) == results and (run / "config.yaml").read_text() == recorded

    # where jobs run is not part of the identity, and the grid may grow: same run, resumed
    logs: list[str] = []
    grown = config_from_dict(_raw(corpus, workers=3, seeds=[0, 1]))
    assert run_experiment(grown, run, log=logs.append) == run
    assert "resuming: 2 finished runs kept" in logs
    assert {k: v for k, v in _files(run).items() if k in results} == results
    assert len(_files(run)) == 4
    # but not shrink: the folder's results of seed 1 would be reported under seeds [0]
    with pytest.raises(RunMismatchError, match=r"seeds: \[0, 1\] -> \[0\]"):
        run_experiment(config_from_dict(_raw(corpus)), run, log=quiet)


def test_cli_resume_refuses_or_starts_a_new_run(corpus, tmp_path):
    path = tmp_path / "exp.yaml"
    out = tmp_path / "r"
    path.write_text(yaml.safe_dump(_raw(corpus)))
    runner = CliRunner()
    assert runner.invoke(app, ["experiment", "run", str(path), "-o", str(out)]).exit_code == 0
    path.write_text(yaml.safe_dump(_raw(corpus, preparation={"frames": 3})))
    res = runner.invoke(app, ["experiment", "run", str(path), "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert "holds results of another config (preparation.frames: 2 -> 3)" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["experiment", "run", str(path), "-o", str(out), "--new-run"])
    assert res.exit_code == 0, res.output
    assert f"starting a new run in {out}-2" in " ".join(res.output.split())
    assert (tmp_path / "r-2" / "report.md").is_file()


def test_run_folder_records_package_versions_and_commit(corpus, tmp_path):
    run = tmp_path / "run"
    cfg = config_from_dict(_raw(corpus))
    run_experiment(cfg, run, log=quiet, command="pathfer test one")
    run_experiment(cfg, run, log=quiet, command="pathfer test two")
    sessions = json.loads((run / "environment.json").read_text())["sessions"]
    assert [s["command"] for s in sessions] == ["pathfer test one", "pathfer test two"]
    packages = sessions[0]["packages"]
    assert packages["pathfer"] == pathfer.__version__
    for name in ("torch", "numpy", "safetensors", "pydantic"):
        assert packages[name] == metadata.version(name)
    assert "opencv-python-headless" in packages or "opencv-python" in packages
    src = Path(pathfer.__file__).resolve().parent
    root = next((p for p in [src, *src.parents] if (p / ".git").exists()), None)
    if root is None:  # an installed copy: no commit to record
        assert sessions[0]["git"] is None
    else:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        assert sessions[0]["git"]["commit"] == head
    # the recorded config is the resolved one: every default written out
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    assert recorded == formats.stamp(cfg.to_dict())
    assert recorded["pathnet"]["layers"] == cfg.pathnet.layers and recorded["threads"] == 1


def test_failed_jobs_exit_non_zero_after_saving_the_rest(corpus, tmp_path):
    path = tmp_path / "exp.yaml"
    out = tmp_path / "r"
    runner = CliRunner()
    with METHODS.scoped():

        @register_method("flaky")
        def flaky(d):
            raise ValueError(f"no luck on {d.tag}")

        path.write_text(yaml.safe_dump(_raw(corpus, methods=["mini_xception_zeroshot", "flaky"])))
        res = runner.invoke(app, ["experiment", "run", str(path), "-o", str(out)])
        assert res.exit_code == 1, res.output
        text = " ".join(res.output.split())
        assert "2 job(s) failed" in text
        assert "run flaky fold1of2 seed 0, run flaky fold2of2 seed 0" in text
        assert "first error: ValueError: no luck on flaky__fold" in text
        assert "Traceback" not in res.output
        # what succeeded is saved and reported
        assert (
            sorted(p.name.split("__")[0] for p in (out / "results").iterdir())
            == ["mini_xception_zeroshot"] * 2
        )
        assert "mini_xception_zeroshot" in (out / "report.md").read_text()
        failed = json.loads((out / "failures.json").read_text())["failed"]
        jobs = [f["job"] for f in failed]
        assert jobs == ["run flaky fold1of2 seed 0", "run flaky fold2of2 seed 0"]

        # `report` writes the report, then exits 1 naming the failed jobs
        (out / "report.md").unlink()
        res = runner.invoke(app, ["report", str(out)])
        assert res.exit_code == 1 and (out / "report.md").is_file()
        assert "run flaky fold1of2 seed 0" in " ".join(res.output.split())

        # fixed: the resume runs only the two missing jobs, and everything exits 0
        METHODS.register("flaky", METHODS.get("mini_xception_zeroshot"), needs_source=None, cost=0)
        res = runner.invoke(app, ["experiment", "run", str(path), "-o", str(out)])
        assert res.exit_code == 0, res.output
        assert "resuming: 2 finished runs kept" in res.output
        assert not (out / "failures.json").exists()
        assert runner.invoke(app, ["report", str(out)]).exit_code == 0


def _transfer_raw(corpus, tmp_path) -> dict:
    """A transfer config: a method on a CNN source and one that needs none."""
    ent2 = synthetic.make_enterface(tmp_path / "e2", subjects=4, sentences=1, frames=4, seed=9)
    return _raw(
        corpus,
        kind="transfer",
        sources=[{"corpus": "enterface", "path": str(ent2)}],
        methods=["feature_extraction", "mini_xception_zeroshot"],
    )


def test_a_failed_source_model_fails_its_methods(corpus, tmp_path, monkeypatch):
    raw = _transfer_raw(corpus, tmp_path)
    from pathfer.study.experiments import runner as R
    from pathfer.study.experiments.provenance import JobsFailedError

    def broken(job):
        raise RuntimeError("source training broke")

    monkeypatch.setattr(R.SourceJob, "run", broken)
    with pytest.raises(JobsFailedError) as info:
        run_and_report(config_from_dict(raw), tmp_path / "run", log=quiet)
    failed = {f["job"]: f["error"] for f in info.value.failed}
    assert failed["source cnn seed 0"].startswith("RuntimeError: source training broke")
    no_source = "its source model (cnn, seed 0) failed"
    assert failed["run feature_extraction fold1of2 seed 0"] == no_source
    assert len(failed) == 3
    assert str(info.value).startswith(f"3 job(s) failed in {tmp_path / 'run'}: source cnn seed 0")
    # the method that needs no source ran and is reported
    assert len(list((tmp_path / "run" / "results").iterdir())) == 2
    assert (tmp_path / "run" / "report.md").is_file()


def test_runs_without_a_source_share_the_first_stage_with_the_source_models(
    corpus, tmp_path, monkeypatch
):
    """The source model trains beside the runs that need none (no worker waits for it); the
    runs built on it come after it, in a stage of their own."""
    raw = _transfer_raw(corpus, tmp_path)
    from pathfer.study.experiments import runner as R

    calls: list[str] = []

    def source(job):
        calls.append(f"source {job.family}")
        return {}

    def fold(job):
        calls.append(job.method)
        return {"method": job.method, "fold": job.split.name, "seed": 0}

    monkeypatch.setattr(R.SourceJob, "run", source)
    monkeypatch.setattr(R.FoldJob, "run", fold)
    # the inline executor runs a stage's jobs in order; the source model "exists" once built
    real_exists = Path.exists
    monkeypatch.setattr(
        Path,
        "exists",
        lambda p: ("source cnn" in calls and p.name == "cnn_seed0.json") or real_exists(p),
    )
    lines: list[str] = []
    run_experiment(config_from_dict(raw), tmp_path / "run", log=lines.append)
    assert calls == ["source cnn", *["mini_xception_zeroshot"] * 2, *["feature_extraction"] * 2]
    stage1 = [x for x in lines if x.startswith("[") and "/3]" in x]
    stage2 = [x for x in lines if x.startswith("[") and "/2]" in x]
    assert [x.split()[1:3] for x in stage1] == [
        ["source", "cnn"],
        ["run", "mini_xception_zeroshot"],
        ["run", "mini_xception_zeroshot"],
    ]
    assert [x.split()[2] for x in stage2] == ["feature_extraction"] * 2


def test_numbers_do_not_depend_on_workers_or_job_order(corpus, tmp_path):
    """Inline (one job after another) and a process pool of two (jobs in any order, in
    processes that ran other jobs before) give the same probabilities, bit for bit."""
    common = {
        "methods": ["pathnet_target", "cnn_scratch"],
        "pathnet": {"modules": 4, "max_active": 2, "channels": [4, 8, 8, 8]},
        "evolution": {"population": 2, "generations": 2, "steps_per_path": 2, "finish_steps": 0},
        "train": {"max_steps": 6, "lrs": [0.003], "batch_size": 16},
    }
    inline = run_experiment(
        config_from_dict(_raw(corpus, **common)), tmp_path / "inline", log=quiet
    )
    pooled = run_experiment(
        config_from_dict(_raw(corpus, **common, executor="local", workers=2)),
        tmp_path / "pool",
        log=quiet,
    )
    a, b = _files(inline), _files(pooled)
    assert sorted(a) == sorted(b) and len(a) == 4
    for name in a:
        assert json.loads(a[name])["proba"] == json.loads(b[name])["proba"], name


def test_readme_tables_are_generated_from_run_folders(corpus, tmp_path):
    import importlib.util

    from pathfer.study.report.metrics import summarize
    from pathfer.study.results import load_results

    script = Path(__file__).parents[2] / "scripts" / "readme_tables.py"
    spec = importlib.util.spec_from_file_location("readme_tables", script)
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)

    runs = []
    for k in (2, 3):
        runs.append(
            run_experiment(
                config_from_dict(_raw(corpus, split={"kind": "group_kfold", "k": k})),
                tmp_path / f"k{k}",
                log=quiet,
                command=f"pathfer experiment run k{k}.yaml",
            )
        )
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results:demo -->\ntyped by hand\n<!-- /results:demo -->\nend\n")
    argv = [*map(str, runs), "--titles", "two folds", "three folds", "--readme", str(readme)]
    assert tables.main([*argv, "--check"]) == 1  # the hand-typed table is not the runs'
    assert tables.main(argv) == 0
    text = readme.read_text()
    assert "typed by hand" not in text and text.endswith("<!-- /results:demo -->\nend\n")
    s = summarize(load_results(runs[1])).iloc[0]
    row = next(line for line in text.splitlines() if line.startswith("| mini_xception_zeroshot"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == f"{s['clip_acc_mean']:.2f} ± {s['clip_acc_std']:.2f}"
    assert cells[4] == f"{s['frame_acc_mean']:.2f} ± {s['frame_acc_std']:.2f}"
    assert "`pathfer experiment run k3.yaml`" in text
    assert "three folds: 3 fold(s) x 1 seed(s)" in text
    assert tables.main([*argv, "--check"]) == 0


def test_a_key_only_one_side_has_is_a_change_and_the_format_version_is_none():
    """Settings are compared key by key: one the recorded config lacks is a change (a
    folder of an older format is refused before any comparison); the recorded
    ``format_version`` is the folder's, not a setting."""
    from pathfer.runtime import formats
    from pathfer.study.experiments.provenance import config_changes

    recorded = formats.stamp({"name": "x", "pathnet": {"layers": 4}})
    assert config_changes(recorded, {"name": "x", "pathnet": {"layers": 4}}) == []
    assert config_changes(recorded, {"name": "x", "pathnet": {"layers": 4, "new": 1}}) == [
        'pathnet.new: "(absent)" -> 1'
    ]


def test_the_first_trained_method_added_to_a_pathnet_only_run_resumes_it():
    """A run of PathNet methods only has no per-method budgets; adding ``cnn_scratch``
    gives it one: a method added to the grid, not a changed setting."""
    from pathfer.study.experiments.provenance import config_changes

    budget = {"cnn_scratch": {"lrs": [0.001], "max_epochs": 30, "patience": 6}}
    assert config_changes({"name": "x", "budgets": {}}, {"name": "x", "budgets": budget}) == []
    # a method's budget that disappears is a change
    assert config_changes({"name": "x", "budgets": budget}, {"name": "x", "budgets": {}}) == [
        'budgets.cnn_scratch.lrs: [0.001] -> "(absent)"',
        'budgets.cnn_scratch.max_epochs: 30 -> "(absent)"',
        'budgets.cnn_scratch.patience: 6 -> "(absent)"',
    ]


def test_methods_left_out_of_a_resume_are_named_once_and_listing_them_resumes():
    """A config that names only a new method, run into a folder holding others, is refused
    with one line naming the methods left out (not one per budget and crop they kept);
    listing them, then the new one, resumes the folder."""
    from pathfer.study.experiments.provenance import config_changes

    budget = {"lrs": [0.001], "max_epochs": 30, "patience": 6}
    recorded = {
        "name": "x",
        "methods": ["pathnet_transfer", "cnn_scratch", "finetune"],
        "budgets": {"cnn_scratch": budget, "finetune": budget},
        "crops": {"cnn_scratch": {"size": 48}, "finetune": {"size": 48}},
    }
    only_new = {
        "name": "x",
        "methods": ["reference_cnn"],
        "budgets": {"reference_cnn": {**budget, "patience": 8}},
        "crops": {"reference_cnn": {"size": 48}},
    }
    changes = config_changes(recorded, only_new)
    assert len(changes) == 1
    assert changes[0].startswith("methods: pathnet_transfer, cnn_scratch, finetune left out")
    both = {
        "name": "x",
        "methods": [*recorded["methods"], "reference_cnn"],
        "budgets": {**recorded["budgets"], **only_new["budgets"]},
        "crops": {**recorded["crops"], **only_new["crops"]},
    }
    assert config_changes(recorded, both) == []
    # another setting still shows beside the methods left out
    changed = {**only_new, "pathnet": {"relu": "module"}}
    assert config_changes({**recorded, "pathnet": {"relu": "layer"}}, changed)[1:] == [
        "pathnet.relu: layer -> module"
    ]


def _descendants(pid: int) -> set[int]:
    """The processes below ``pid`` (Linux /proc): the pool's forkserver and its workers."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended while we looked
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found.update(kids)
        todo.extend(kids)
    return found


def _running(pid: int) -> bool:
    try:  # a zombie (state Z) no longer computes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_sigterm_stops_the_workers_keeps_finished_runs_and_exits_130(corpus, tmp_path):
    """As a batch scheduler or `timeout` stops a run: the worker processes stop with it
    (they do not go on computing), the finished runs stay, and the same command resumes."""
    endless = {"max_steps": 10**6, "max_epochs": 10**6, "patience": 10**6}
    raw = _raw(
        corpus,
        methods=["cnn_scratch", "mini_xception_zeroshot"],  # the dear runs start first
        executor="local",
        workers=3,
        train=endless,
    )
    path, out = tmp_path / "exp.yaml", tmp_path / "r"
    path.write_text(yaml.safe_dump(raw))
    cmd = [sys.executable, "-c", "from pathfer.cli import main; main()"]
    proc = subprocess.Popen(
        [*cmd, "experiment", "run", str(path), "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 240
        while len(list(out.glob("results/mini_xception_zeroshot__*.json"))) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the zero-shot runs never finished"
            time.sleep(0.5)
        workers = _descendants(proc.pid)
        assert len(workers) >= 2  # the forkserver and the workers training cnn_scratch
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stdout + stderr
        assert "run the same command again to resume" in " ".join(stderr.split())
        assert "Traceback" not in stderr
        deadline = time.monotonic() + 30
        while any(map(_running, workers)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(map(_running, workers)), "a worker process outlived the run"
        kept = sorted(p.name.split("__")[0] for p in (out / "results").iterdir())
        assert kept == ["mini_xception_zeroshot"] * 2
    finally:  # leave no process behind when an assertion failed
        proc.kill()
        for pid in filter(_running, workers):
            os.kill(pid, signal.SIGKILL)
