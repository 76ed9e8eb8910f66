"""The Ray executor (on a local 2-CPU Ray instance) and lost-worker retries.

The Ray tests skip when Ray is not installed; the tests of the install hint and of the
local process pool's retries run everywhere.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import build_savee
from typer.testing import CliRunner

from pathfer.cli import app
from pathfer.data import synthetic
from pathfer.data.corpora import get_corpus
from pathfer.data.datasets import FaceDataset, prepare_corpus
from pathfer.data.video import FrameSampling
from pathfer.runtime import InlineExecutor, LocalExecutor, get_executor
from pathfer.study.experiments.config import config_from_dict
from pathfer.study.experiments.runner import run_experiment
from pathfer.study.results import load_results


# ----------------------------------------------------------------------------- jobs
def _times_ten(x: int) -> int:
    return x * 10


def _die_once(arg: tuple[str, int]) -> int:
    """Kill this worker process on the first attempt of job 1 (a marker file remembers)."""
    marker, x = arg
    if x == 1 and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    if x == 3:
        raise ValueError(f"bad clip {x}")
    time.sleep(0.2)
    return x * 10


def _always_die(x: int) -> int:
    if x == 0:
        os._exit(1)
    return x * 10


# ----------------------------------------------------------------------------- no Ray needed
def test_missing_ray_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ImportError, match=r"install the ray extra: pip install 'pathfer\[ray\]'"):
        get_executor("ray")


def test_pathfer_imports_without_ray():
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "import pathfer, pathfer.runtime, pathfer.runtime.ray, pathfer.cli\n"
        "import pathfer.study.experiments.runner, pathfer.data.datasets\n"
        "from pathfer.runtime import get_executor\n"
        "print(get_executor('local', 2).name, get_executor('inline').name)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["local", "inline"]


def test_local_executor_retries_a_killed_worker_on_a_fresh_pool(tmp_path):
    marker = str(tmp_path / "killed")
    jobs = [(x, (marker, x)) for x in range(6)]
    outcomes = {o.key: o for o in LocalExecutor(workers=2).run(_die_once, jobs)}
    assert sorted(outcomes) == list(range(6))
    assert Path(marker).exists()  # job 1 did kill its worker once
    for x, o in outcomes.items():
        if x == 3:  # an ordinary exception is the job's result: reported, never retried
            assert not o.ok and o.error.startswith("ValueError: bad clip 3") and o.attempts == 1
        else:
            assert o.ok and o.value == 10 * x, o.error
    assert outcomes[1].attempts == 2


def test_local_executor_gives_up_on_a_job_that_keeps_killing_its_worker():
    outcomes = {
        o.key: o for o in LocalExecutor(workers=2).run(_always_die, [(x, x) for x in range(4)])
    }
    assert not outcomes[0].ok and "worker failed" in outcomes[0].error
    assert all(outcomes[x].ok and outcomes[x].value == 10 * x for x in (1, 2, 3))


# ----------------------------------------------------------------------------- Ray
@pytest.fixture(scope="module")
def ray_ex():
    ray = pytest.importorskip("ray")
    from pathfer.runtime.ray import RayExecutor

    # "local": a fresh local instance even where RAY_ADDRESS names a cluster
    ex = RayExecutor(address="local", init_kwargs={"num_cpus": 2, "include_dashboard": False})
    ex.connect()  # starts the instance (and owns it: shutdown() stops it)
    # the job functions of this module are not importable on the workers: ship them by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        yield ex
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        ex.shutdown()
        assert not ray.is_initialized()


def test_ray_runs_jobs_and_reports_progress(ray_ex):
    from pathfer.runtime.ray import RayExecutor

    lines: list[str] = []
    ex = RayExecutor(progress=lines.append, progress_every=0.0)  # reuses the connection
    outcomes = list(ex.run(_times_ten, [(f"j{x}", x) for x in range(5)]))
    assert sorted((o.key, o.value, o.attempts) for o in outcomes) == [
        (f"j{x}", 10 * x, 1) for x in range(5)
    ]
    assert ex.workers == 2
    assert lines[-1] == "ray: 5/5 finished (0 failed), 0 running, 0 queued, 0 retried"
    assert any("running" in line for line in lines[:-1])  # a line per finished job here

    bar = RayExecutor(progress=True)  # a rich progress bar of the grid
    assert sorted(o.value for o in bar.run(_times_ten, [(1, 1), (2, 2)])) == [10, 20]


def test_ray_retries_a_killed_worker_and_reports_exceptions(ray_ex, tmp_path):
    marker = str(tmp_path / "killed")
    jobs = [(x, (marker, x)) for x in range(5)]
    outcomes = {o.key: o for o in ray_ex.run(_die_once, jobs)}
    assert sorted(outcomes) == list(range(5))  # nothing dropped
    assert Path(marker).exists()
    assert outcomes[1].ok and outcomes[1].value == 10 and outcomes[1].attempts == 2
    bad = outcomes[3]
    assert not bad.ok and bad.error.startswith("ValueError: bad clip 3") and bad.attempts == 1
    assert "Traceback" in bad.error
    for x in (0, 2, 4):
        assert outcomes[x].ok and outcomes[x].value == 10 * x and outcomes[x].attempts == 1


def test_ray_gives_up_after_max_retries(ray_ex):
    from pathfer.runtime.ray import RayExecutor

    ex = RayExecutor(max_retries=1)
    outcomes = {o.key: o for o in ex.run(_always_die, [(x, x) for x in range(2)])}
    assert not outcomes[0].ok and outcomes[0].attempts == 2
    assert "worker failed 2 time(s)" in outcomes[0].error
    assert outcomes[1].ok and outcomes[1].value == 10


def test_prepare_on_ray_equals_inline(ray_ex, tmp_path):
    scan = get_corpus("savee").scan(build_savee(tmp_path / "SAVEE"))
    kw = {"sampling": FrameSampling(n=4), "progress": False}
    a = prepare_corpus(scan, tmp_path / "inline", executor=InlineExecutor(), **kw)
    b = prepare_corpus(scan, tmp_path / "ray", executor=ray_ex, batch_size=2, **kw)
    assert not b.reused and b.n_clips == a.n_clips == 6
    da, db = FaceDataset.load(a.path), FaceDataset.load(b.path)
    np.testing.assert_array_equal(da.crops, db.crops)
    assert da.manifest.equals(db.manifest)

    # the CLI: --executor ray joins the running instance
    res = CliRunner().invoke(
        app,
        ["prepare", "savee", str(tmp_path / "SAVEE"), "-o", str(tmp_path / "cli"), "-n", "4"]
        + ["--executor", "ray", "-q"],
    )
    assert res.exit_code == 0, res.output
    (folder,) = (tmp_path / "cli").iterdir()
    np.testing.assert_array_equal(FaceDataset.load(folder).crops, da.crops)


def test_experiment_grid_on_ray_equals_inline(ray_ex, tmp_path, monkeypatch):
    # one torch thread per job, as on a Ray worker with num_cpus_per_task=1 (and faster here)
    monkeypatch.setenv("PATHFER_THREADS", "1")
    corpus = synthetic.make_enterface(tmp_path / "ent", subjects=4, sentences=1, frames=4, seed=3)

    def cfg(executor: str, cache: str):
        return config_from_dict(
            {
                "name": "tiny",
                "kind": "single",
                "target": {"corpus": "enterface", "path": str(corpus)},
                "cache": str(tmp_path / cache),
                "methods": ["cnn_scratch", "pathnet_target"],
                "preparation": {"frames": 2},
                "split": {"kind": "group_kfold", "k": 2},
                "train": {"max_steps": 5, "lrs": [0.001], "batch_size": 16},
                "pathnet": {"modules": 4, "max_active": 2, "channels": [4, 8, 8, 8]},
                "evolution": {
                    "population": 2,
                    "generations": 2,
                    "steps_per_path": 2,
                    "finish_steps": 0,
                    "batch_size": 16,
                },
                "executor": executor,
            }
        )

    logs: list[str] = []
    run_experiment(cfg("inline", "c1"), tmp_path / "inline", log=logs.append)
    # separate caches: the Ray run also prepares the corpus on Ray
    run_experiment(cfg("ray", "c2"), tmp_path / "ray", log=logs.append)
    assert not [line for line in logs if "FAILED" in line], logs
    ref, got = load_results(tmp_path / "inline"), load_results(tmp_path / "ray")
    assert len(ref) == len(got) == 4  # 2 methods x 2 folds x 1 seed
    for r, g in zip(ref, got, strict=True):
        assert (r["method"], r["fold"], r["seed"]) == (g["method"], g["fold"], g["seed"])
        np.testing.assert_array_equal(r["y_true"], g["y_true"])
        np.testing.assert_array_equal(r["clip_ids"], g["clip_ids"])
        np.testing.assert_array_equal(r["proba"].argmax(1), g["proba"].argmax(1))
        np.testing.assert_allclose(r["proba"], g["proba"], atol=1e-5)
