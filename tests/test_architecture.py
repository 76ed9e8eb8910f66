"""The package's shape: stages import one way, and no module imports itself in a circle.

Every ``import`` in ``src/pathfer`` counts, also those inside functions (a lazy import is
still a dependency). For circles, an import under ``if TYPE_CHECKING:`` does not count:
it names a type for annotations and never runs (the PathNet engine's functions take the
``PathNet`` they work on); for the stage rules it counts like any other.

Stages, from the bottom: ``runtime`` (executors, registry, files) ->
``data`` (corpora, video, faces, datasets, synthetic) | ``models`` (PathNet, baselines; they
never see data) -> ``use`` (bundles, predict, export) -> ``study`` (experiments, report) ->
``cli``.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "pathfer"

#: stage -> stages it must never import
FORBIDDEN = {
    "runtime": {"data", "models", "use", "study", "cli"},
    "data": {"models", "use", "study", "cli"},
    "models": {"data", "use", "study", "cli"},
    "use": {"study", "cli"},
    "study": {"cli"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The pathfer module an import names (``pathfer.a.b.C`` -> ``pathfer.a.b``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _type_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside ``if TYPE_CHECKING:`` blocks."""
    out: set[int] = set()
    for node in ast.walk(tree):
        test = getattr(node, "test", None)
        if isinstance(node, ast.If) and getattr(test, "id", getattr(test, "attr", "")) == (
            "TYPE_CHECKING"
        ):
            out |= {id(n) for b in node.body for n in ast.walk(b)}
    return out


def _imports(mod: str, path: Path, modules: dict[str, Path], type_only: bool = True) -> set[str]:
    """The pathfer modules ``mod`` imports (``type_only=False``: those under ``if
    TYPE_CHECKING:`` left out)."""
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    tree = ast.parse(path.read_text())
    skip = set() if type_only else _type_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # `from pkg import sub` depends on the submodule; `from mod import name` on mod
            names = [
                f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix
                for a in node.names
            ]
        for n in names:
            if n == "pathfer" or not n.startswith("pathfer."):
                continue
            target = _resolve(n, modules)
            if target and target != mod:
                out.add(target)
    return out


def _graph(type_only: bool = True) -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules, type_only) for m, p in modules.items()}


def _stage(mod: str) -> str | None:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else None


def test_the_stages_exist():
    stages = {_stage(m) for m in _modules()}
    assert {"runtime", "data", "models", "use", "study", "cli"} <= stages


def test_no_import_circles():
    graph = _graph(type_only=False)
    # a package's __init__ re-exporting its own submodules is not a circle by itself
    # (a submodule's implicit import of its parent package is not counted); a submodule
    # importing names back through its package's __init__ is
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


@pytest.mark.parametrize("stage", sorted(FORBIDDEN))
def test_stages_import_one_way(stage):
    bad = [
        f"{m} imports {t}"
        for m, targets in _graph().items()
        if _stage(m) == stage
        for t in sorted(targets)
        if _stage(t) in FORBIDDEN[stage]
    ]
    assert not bad, "\n".join(bad)


def test_pathnet_knows_nothing_of_videos_faces_or_corpora():
    graph = _graph()
    bad = [
        f"{m} imports {t}"
        for m, targets in graph.items()
        if m.startswith("pathfer.models.pathnet")
        for t in targets
        if not t.startswith(("pathfer.models", "pathfer.runtime"))
    ]
    assert not bad, "\n".join(bad)


def test_the_graph_sees_lazy_and_relative_imports():
    """Guards the test itself: a lazy import and a relative import are both edges."""
    graph = _graph()
    assert "pathfer.runtime.ray" in graph["pathfer.runtime"]  # imported inside get_executor
    assert "pathfer.models.pathnet.config" in graph["pathfer.models.pathnet.model"]  # relative


def _reachable(start: str, graph: dict[str, set[str]]) -> set[str]:
    """Every module importing ``start`` loads: its imports, theirs, and the packages
    holding each (a package's ``__init__`` runs before its submodules)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        parents = [mod.rsplit(".", k)[0] for k in range(1, mod.count(".") + 1)]
        todo += [m for m in [*graph.get(mod, ()), *parents] if m in graph]
    return seen


def test_the_runner_does_not_import_the_report():
    """Every job imports the runner: the report's statistics and figures stay out of it."""
    graph = _graph()
    for runner in ("pathfer.study.experiments.runner", "pathfer.study.experiments.train"):
        bad = sorted(m for m in _reachable(runner, graph) if m.startswith("pathfer.study.report"))
        assert not bad, f"{runner} loads {', '.join(bad)}"


def test_models_import_no_data_code():
    """Networks see tensors, never corpora, videos or faces: no module of ``models`` loads
    ``pathfer.data``, directly or through another module."""
    graph = _graph()
    bad = [
        f"{m} loads {', '.join(sorted(t for t in _reachable(m, graph) if _stage(t) == 'data'))}"
        for m in graph
        if _stage(m) == "models" and any(_stage(t) == "data" for t in _reachable(m, graph))
    ]
    assert not bad, "\n".join(bad)


def test_reachability_sees_imports_of_imports():
    """Guards the two tests above: what a module's imports import is reached too."""
    reached = _reachable("pathfer.study.run", _graph())
    assert "pathfer.study.report.stats" in reached  # run -> report -> ... -> stats
    assert "pathfer.study" in reached  # a package's __init__
