"""A run folder's identity and record: the resolved config it belongs to, the software
that computed it, and the jobs that failed.

A run folder holds the results of exactly one resolved config (``config.yaml``, every
default written out). Running into a folder that holds results of another config is
refused, naming what differs, unless asked to start a new folder beside it; only the keys
that say where jobs run (:data:`EXECUTION_KEYS`) may change, and those that choose the
grid of jobs (:data:`GRID_KEYS`) may grow, with the crop and budget of each added method
(:data:`PER_METHOD_KEYS`). ``config.yaml`` and ``environment.json`` record the folder's
format version (:mod:`pathfer.runtime.formats`); a folder of an older format (version 1:
written by pathfer 0.1, no version recorded) is not resumed, and the report still reads
it. ``environment.json`` records, per session, the package versions and the git commit of
pathfer's source (when it is a git checkout); ``failures.json`` lists the jobs that failed
in the last session (absent when none did).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

import pathfer
from pathfer.runtime import formats
from pathfer.runtime.files import atomic_write_json, atomic_write_text
from pathfer.study.experiments.config import ConfigError

RUN_CONFIG = "config.yaml"
ENVIRONMENT = "environment.json"
FAILURES = "failures.json"
#: where and by whom jobs run, and what the report shows, not what they compute: a resume
#: may change them
EXECUTION_KEYS = ("executor", "workers", "cache", "report")
#: which (method, fold, seed) jobs make the run: a resume may add to them
GRID_KEYS = ("methods", "seeds", "target_subjects", "max_folds")
#: settings kept per method (its resolved crop and budget): a method added on a resume
#: adds its entry; an entry of a method already run may not change
PER_METHOD_KEYS = ("crops", "budgets")
#: distributions whose versions can change a result
PACKAGES = (
    "torch",
    "numpy",
    "opencv-python-headless",
    "opencv-python",
    "safetensors",
    "pandas",
    "scipy",
    "pydantic",
    "pyyaml",
)


class RunMismatchError(ConfigError):
    """The run folder holds results of another config."""


class RunFormatError(RunMismatchError, formats.FormatError):
    """The run folder was written in another format version than this pathfer's."""


# ----------------------------------------------------------------------------- identity
def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; an empty table holds no setting, so it
    flattens to nothing (as if absent: ``budgets: {}`` then one method's budget is that
    method's budget added, not a change of ``budgets``)."""
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: d}


def _grows(old: Any, new: Any, key: str) -> bool:
    if key == "max_folds":
        return new is None or (old is not None and new >= old)
    return isinstance(old, list) and isinstance(new, list) and all(x in new for x in old)


def config_changes(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between a run folder's config and ``current``, as ``key: old -> new``
    (execution keys ignored; grid keys only when something was removed). Methods left out
    make one line, not one per setting they kept (their budgets and crops)."""
    recorded = {k: v for k, v in recorded.items() if k != formats.KEY}
    current = {k: v for k, v in current.items() if k != formats.KEY}
    old, new = _flat(recorded), _flat(current)
    was, now = recorded.get("methods"), current.get("methods")
    dropped = (
        [m for m in was if m not in now] if isinstance(was, list) and isinstance(now, list) else []
    )
    changes = []
    if dropped:  # one line, where the per-method settings of each would add one per key
        changes.append(
            f"methods: {', '.join(map(str, dropped))} left out (a run may add methods, not "
            "drop them: list every method the folder holds, then the new ones)"
        )
    for key in sorted(set(old) | set(new), key=lambda k: (k.split(".")[0], k)):
        top, *rest = key.split(".")
        if top in EXECUTION_KEYS:
            continue
        a, b = old.get(key, "(absent)"), new.get(key, "(absent)")
        if a == b or (top in GRID_KEYS and _grows(a, b, top)):
            continue
        if top in PER_METHOD_KEYS and a == "(absent)":  # a method added to the grid
            continue
        method = rest[0] if rest else None
        if (top == "methods" and dropped) or (top in PER_METHOD_KEYS and method in dropped):
            continue  # said in the first line
        changes.append(f"{key}: {_show(a)} -> {_show(b)}")
    return changes


def _show(v: Any) -> str:
    text = json.dumps(v) if not isinstance(v, str) or v == "(absent)" else v
    return text if len(text) <= 50 else text[:47] + "..."


def config_key(config: dict[str, Any]) -> str:
    """12 hex digits naming ``config`` without its execution keys (same work, same key)."""
    kept = {k: v for k, v in config.items() if k not in EXECUTION_KEYS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:12]


def holds_work(run_dir: Path) -> bool:
    """Whether the folder holds results or source models a resume would keep (a chain
    study's: finished jobs and steps)."""
    return any(
        (run_dir / sub).is_dir() and any((run_dir / sub).iterdir())
        for sub in ("results", "sources", "jobs", "steps")
    )


def beside(run_dir: Path) -> Path:
    """The first free ``<run_dir>-2``, ``-3``, ... next to ``run_dir``."""
    k = 2
    while (run_dir.parent / f"{run_dir.name}-{k}").exists():
        k += 1
    return run_dir.parent / f"{run_dir.name}-{k}"


def check_format(run_dir: Path, recorded: dict[str, Any]) -> None:
    """A :class:`RunFormatError` unless ``recorded`` (a run folder's config) is of this
    pathfer's format version: results of another version are not added to."""
    try:
        version = formats.check_not_newer(recorded, run_dir / RUN_CONFIG, "run folder")
    except formats.FormatError as exc:
        raise RunFormatError(str(exc)) from None
    if version < formats.CURRENT:
        raise RunFormatError(
            f"{run_dir}: written by pathfer 0.1 (format {version}): start a new run folder, "
            "or finish it with pathfer 0.1"
        )


def claim(run_dir: Path, config: dict[str, Any], *, new_run: bool = False) -> Path:
    """The folder to run ``config`` into: ``run_dir`` when it is empty or holds this config,
    else (``new_run``) a new folder beside it; a :class:`RunMismatchError` otherwise (a
    :class:`RunFormatError` for a folder of another format version)."""
    recorded_path = run_dir / RUN_CONFIG
    if not holds_work(run_dir):
        return run_dir
    if recorded_path.is_file():
        try:
            recorded = yaml.safe_load(recorded_path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeError, OSError) as exc:
            first = " ".join(str(exc).split())
            recorded, changes = None, [f"its {RUN_CONFIG} is unreadable ({first})"]
        if isinstance(recorded, dict):
            try:
                check_format(run_dir, recorded)
            except RunFormatError:
                if new_run:
                    return beside(run_dir)
                raise
            changes = config_changes(recorded, config)
        elif recorded is not None:
            changes = [f"its {RUN_CONFIG} is not a mapping"]
    else:
        changes = [f"it has results but no {RUN_CONFIG}, so its config is unknown"]
    if not changes:
        return run_dir
    if new_run:
        return beside(run_dir)
    shown = "; ".join(changes[:6]) + (f"; and {len(changes) - 6} more" if len(changes) > 6 else "")
    raise RunMismatchError(
        f"{run_dir} holds results of another config ({shown}); its results would be "
        f"reported under the new settings. Run into another --out folder, or pass --new-run "
        f"to start {beside(run_dir)} beside it"
    )


def open_run(
    run_dir: Path,
    config: dict[str, Any],
    command: str,
    *,
    new_run: bool = False,
    log: Callable[[str], None] = print,
) -> Path:
    """Claim the folder for ``config`` (:func:`claim`) and record the config, the command
    and this session's software; returns the folder to run into."""
    chosen = claim(run_dir, config, new_run=new_run)
    if chosen != run_dir:
        log(f"{run_dir} holds results of another config: starting a new run in {chosen}")
    chosen.mkdir(parents=True, exist_ok=True)
    recorded = formats.stamp(config)
    atomic_write_text(chosen / RUN_CONFIG, yaml.safe_dump(recorded, sort_keys=False))
    atomic_write_text(chosen / "command.txt", command + "\n")
    changed = record_environment(chosen, command)
    if changed:
        log(f"warning: this run began with other software: {', '.join(changed)}")
    return chosen


# ----------------------------------------------------------------------------- environment
def git_commit(path: Path | None = None) -> dict[str, Any] | None:
    """The commit (and whether the tree has changes) of the git checkout holding ``path``
    (pathfer's own source by default); None when it is not a git checkout."""
    here = Path(path or Path(pathfer.__file__).resolve().parent)
    root = next((p for p in [here, *here.parents] if (p / ".git").exists()), None)
    if root is None:
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def environment() -> dict[str, Any]:
    """pathfer's version, the versions of the packages that compute results, and its commit."""
    packages = {"pathfer": pathfer.__version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    import torch

    return {
        "packages": packages,
        "git": git_commit(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpus": os.cpu_count(),
    }


def _cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def record_environment(run_dir: Path, command: str) -> list[str]:
    """Append this session to ``environment.json``; returns the package versions that
    differ from the run's first session (``torch 2.13.0 -> 2.14.0``)."""
    path = run_dir / ENVIRONMENT
    sessions: list[dict[str, Any]] = []
    if path.is_file():
        try:
            sessions = list(json.loads(path.read_text(encoding="utf-8")).get("sessions", []))
        except (ValueError, OSError, AttributeError):
            sessions = []
    env = environment()
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    sessions.append({"started": started, "command": command, "argv": sys.argv[1:], **env})
    atomic_write_json(path, formats.stamp({"sessions": sessions}), indent=1, sort_keys=False)
    first = sessions[0]
    old, new = first.get("packages", {}), env["packages"]
    changed = [f"{k} {old[k]} -> {new.get(k)}" for k in old if old[k] != new.get(k)]
    a = (first.get("git") or {}).get("commit") or "unknown"
    b = (env["git"] or {}).get("commit") or "unknown"
    if a != b:
        changed.append(f"git commit {a[:10]} -> {b[:10]}")
    return changed


# ----------------------------------------------------------------------------- failures
class JobsFailedError(RuntimeError):
    """Some jobs of a run failed; what succeeded is saved (and reported) all the same."""

    def __init__(self, run_dir: Path, failed: list[dict[str, str]]) -> None:
        self.run_dir, self.failed = run_dir, failed
        super().__init__(
            failure_summary(failed, run_dir)
            + "; run the same command again to retry only the missing jobs"
        )


def record_failures(run_dir: Path, failed: list[dict[str, str]]) -> None:
    """Write the failed jobs of this session (or remove the file when none failed)."""
    path = run_dir / FAILURES
    if failed:
        atomic_write_json(path, {"failed": failed}, indent=1, sort_keys=False)
    elif path.exists():
        path.unlink()


def read_failures(run_dir: Path) -> list[dict[str, str]]:
    path = Path(run_dir) / FAILURES
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8")).get("failed", []))
    except (ValueError, OSError, AttributeError):
        return [{"job": str(path), "error": "unreadable failures file"}]


def failure_summary(failed: list[dict[str, str]], where: Path | None = None) -> str:
    """``N job(s) failed: a, b, c; first error: ...`` (one line)."""
    names = [f["job"] for f in failed]
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    first = failed[0].get("error", "unknown error") if failed else ""
    place = f" in {where}" if where is not None else ""
    return f"{len(failed)} job(s) failed{place}: {shown}; first error: {first}"
