"""The report of a chain study: for each way and order, the matrix of test accuracy
(rows: after step k; columns: task j), what each way keeps (bytes), CPU per step, whether
earlier tasks stayed bit-identical, and each corpus learnt late against learnt first."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pathfer.models.pathnet.pretrained import PRETRAINED_TASK
from pathfer.runtime.files import atomic_write_bytes, atomic_write_text

WAY_TITLES = {
    "pathnet": "PathNet (one model file)",
    "finetune": "sequential fine-tuning (one network, a head per task)",
    "separate": "separate models (one network per corpus)",
}


def _pct(x: Any) -> str:
    return "–" if x is None or pd.isna(x) else f"{100 * x:.1f}"


def _kb(b: Any) -> str:
    return "–" if b is None else f"{b / 1024:.0f}"


def _jobs(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((run_dir / "jobs").glob("*.json"))]


def matrix_rows(jobs: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (way, order, step, task): the long form of every matrix."""
    rows = []
    for job in jobs:
        order = " -> ".join(job["order"])
        for k, step in enumerate(job["steps"]):
            for task, acc in step["acc"].items():
                rows.append(
                    {
                        "way": job["way"],
                        "order": order,
                        "step": k if job["way"] != "separate" else 1,
                        "learnt": step["learnt"] or "start",
                        "task": task,
                        "acc": acc,
                        "digest": step["digest"][task],
                        "cpu_s": step["cpu_s"],
                        "size_bytes": step["size_bytes"],
                    }
                )
    return pd.DataFrame(rows)


def _unchanged_answers(job: dict[str, Any], step: dict[str, Any]) -> float | None:
    """The share of the chain's test faces on which the FER2013 task still gives the top
    emotion it gave at the start (1.0: nothing it answers changed)."""
    start, now = job["steps"][0].get("fer2013_top"), step.get("fer2013_top")
    if not start or not now or len(start) != len(now):
        return None
    return sum(a == b for a, b in zip(start, now, strict=True)) / len(start)


def _matrix(job: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    tasks = [PRETRAINED_TASK, *job["order"]]
    head = ["after", *tasks, "fer2013 answers unchanged", "kept (KB)", "CPU s of the step"]
    body = []
    for step in job["steps"]:
        cells = [_pct(step["acc"].get(t)) if t in step["acc"] else "" for t in tasks]
        body.append(
            [
                step["learnt"] or "start",
                *cells,
                _pct(_unchanged_answers(job, step)),
                _kb(step["size_bytes"]),
                f"{step['cpu_s']:.0f}" if step["learnt"] else "–",
            ]
        )
    return head, body


def _unchanged(job: dict[str, Any]) -> dict[str, bool]:
    """Per task: its predictions' digest is the same at every step after it was learnt."""
    seen: dict[str, set[str]] = {}
    for step in job["steps"]:
        for task, d in step["digest"].items():
            seen.setdefault(task, set()).add(d)
    return {t: len(d) == 1 for t, d in seen.items()}


def _forgetting(job: dict[str, Any]) -> dict[str, float]:
    """Per task: accuracy when learnt (start for fer2013) minus accuracy at the end."""
    first: dict[str, float] = {}
    for step in job["steps"]:
        for task, acc in step["acc"].items():
            first.setdefault(task, acc)
    last = job["steps"][-1]["acc"]
    return {t: first[t] - last[t] for t in first}


def _separate(jobs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {j["order"][0]: j["steps"][0] for j in jobs if j["way"] == "separate"}


def _summary(jobs: list[dict[str, Any]], order: list[str]) -> list[list[str]]:
    sep = _separate(jobs)
    sep_total = None
    if sep and all(c in sep for c in order):
        fer = next(iter(sep.values()))["fer2013_bytes"]
        sep_total = fer + sum(sep[c]["size_bytes"] for c in order)
    rows = []
    for job in jobs:
        if job["way"] == "separate" or job["order"] != order:
            continue
        last, forget, same = job["steps"][-1], _forgetting(job), _unchanged(job)
        size = last["size_bytes"]
        rows.append(
            [
                WAY_TITLES[job["way"]],
                _pct(_unchanged_answers(job, last)),
                *[_pct(last["acc"].get(t)) for t in order],
                " / ".join(f"{100 * forget[t]:.1f}" for t in order[:-1]) or "–",
                "yes" if all(same[t] for t in [PRETRAINED_TASK, *order[:-1]]) else "no",
                _kb(size),
                "–" if sep_total is None else f"{size / sep_total:.2f}",
            ]
        )
    if sep_total is not None:
        rows.append(
            [
                WAY_TITLES["separate"],
                _pct(1.0),
                *[_pct(sep[c]["acc"][c]) for c in order],
                "0 (nothing shared)",
                "yes",
                _kb(sep_total),
                "1.00",
            ]
        )
    return rows


def _alone(jobs: list[dict[str, Any]]) -> list[list[str]]:
    """Each corpus learnt first (onto FER2013 alone) against learnt after the others."""
    sep = _separate(jobs)
    rows = []
    for way in ("pathnet", "finetune"):
        first, later = {}, {}
        for job in jobs:
            if job["way"] != way:
                continue
            for k, step in enumerate(job["steps"][1:], start=1):
                name = step["learnt"]
                (first if k == 1 else later)[name] = (step["acc"][name], step["cpu_s"])
        for name in later:
            if name in first:
                rows.append(
                    [
                        WAY_TITLES[way].split(" (")[0],
                        name,
                        _pct(first[name][0]),
                        _pct(later[name][0]),
                        f"{100 * (later[name][0] - first[name][0]):+.1f}".replace("+-", "-"),
                        _pct(sep[name]["acc"][name]) if name in sep else "–",
                    ]
                )
    return rows


def _cost(jobs: list[dict[str, Any]]) -> list[list[str]]:
    """CPU seconds to learn each corpus onto FER2013 alone: PathNet against fine-tuning."""
    sep = _separate(jobs)
    rows = []
    for job in jobs:
        if job["way"] != "pathnet":
            continue
        step = job["steps"][1]
        name = step["learnt"]
        if name in sep:
            rows.append(
                [
                    name,
                    f"{step['cpu_s']:.0f}",
                    f"{sep[name]['cpu_s']:.0f}",
                    f"{step['cpu_s'] / max(sep[name]['cpu_s'], 1e-9):.2f}",
                ]
            )
    return rows


def _table(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in body]
    return "\n".join(lines)


def _given_first(jobs: list[dict[str, Any]]):
    """Sort key of orders: the config's order before its reverse (jobs carry ``given``)."""
    given = next((tuple(j["order"]) for j in jobs if j.get("given")), None)
    return lambda order: (order != given, order)


def _panel(ax, job: dict[str, Any], tasks: list[str], colour: dict, sep: dict) -> None:
    """One way in one order: each corpus's test accuracy after each step, and for FER2013
    (no test set in the chain) the share of its answers unchanged since the start."""
    steps = job["steps"]
    for task in tasks:
        if task == PRETRAINED_TASK:
            pts = [(k, _unchanged_answers(job, s)) for k, s in enumerate(steps)]
            label, style = "fer2013: answers unchanged", "--"
        else:
            pts = [(k, s["acc"][task]) for k, s in enumerate(steps) if task in s["acc"]]
            label, style = task, "-"
        pts = [(k, 100 * v) for k, v in pts if v is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", ls=style, color=colour[task], label=label)
        if task in sep:
            ax.axhline(100 * sep[task]["acc"][task], color=colour[task], ls=":", lw=1)
    ax.set_xticks(range(len(steps)), ["start", *job["order"]], fontsize=8)
    ax.set_ylim(50, 101)
    ax.set_ylabel("%")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")


def chain_figure(jobs: list[dict[str, Any]]) -> bytes:
    """Per order, one panel per way: each task's test accuracy after each step."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    chains = [j for j in jobs if j["way"] != "separate"]
    # the chain as given first (jobs are read in name order), the way PathNet first, and one
    # colour per task in every panel
    orders = sorted(dict.fromkeys(tuple(j["order"]) for j in chains), key=_given_first(jobs))
    ways = [w for w in ("pathnet", "finetune") if any(j["way"] == w for j in chains)]
    colour = {t: f"C{i}" for i, t in enumerate([PRETRAINED_TASK, *(orders[0] if orders else ())])}
    sep = _separate(jobs)
    fig = Figure(figsize=(4.2 * max(len(ways), 1), 3.2 * max(len(orders), 1)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(max(len(orders), 1), max(len(ways), 1), squeeze=False)
    for r, order in enumerate(orders):
        tasks = [PRETRAINED_TASK, *order]
        for c, way in enumerate(ways):
            ax = axes[r][c]
            job = next((j for j in chains if j["way"] == way and tuple(j["order"]) == order), None)
            if job is None:
                ax.axis("off")
                continue
            _panel(ax, job, tasks, colour, sep)
            ax.set_title(f"{way}: {' -> '.join(order)}", fontsize=9)
    # the title wraps to the figure's width (one way is one narrow column of panels); the
    # dotted lines are drawn only where the separate models ran
    dotted = " (dotted: its separate model)" if sep else ""
    title = f"Every task after each step: test accuracy{dotted}; FER2013: answers unchanged"
    fig.suptitle(textwrap.fill(title, width=int(13 * fig.get_figwidth())), fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


INTRO = (
    "Test frame accuracy (%) of each task on its own test subjects (fold {fold} of {k}, "
    "subject-independent). `fer2013` has no test set in the chain, so two things are shown "
    "for it on the chain corpora's test faces: its zero-shot accuracy on the emotions FER2013 "
    "has (fine-tuning on these very corpora can raise it: it is not what FER2013 knows) and "
    "**answers unchanged**, the share of faces on which its top emotion is still the one it "
    "gave at the start (100: the FER2013 task is as shipped). Forgetting: a corpus's accuracy "
    "when learnt minus at the end. Kept: the bytes a user keeps after the step (PathNet: its "
    "model file; sequential fine-tuning: the network and every head; separate: every bundle, "
    "FER2013's included)."
)
SUMMARY_HEAD = [
    "forgetting (points; earlier corpora)",
    "earlier tasks bit-identical",
    "kept (KB)",
    "size vs separate",
]


def _order_sections(jobs: list[dict[str, Any]]) -> list[str]:
    """Per order: the summary row of each way, then each way's matrix."""
    md = []
    orders = list(dict.fromkeys(tuple(j["order"]) for j in jobs if j["way"] != "separate"))
    for order in orders:
        tasks = [PRETRAINED_TASK, *order]
        head = ["way", "fer2013 answers unchanged", *[f"{t} (final)" for t in order], *SUMMARY_HEAD]
        md += [f"## Order: {' -> '.join(tasks)}", "", _table(head, _summary(jobs, list(order))), ""]
        for job in jobs:
            if job["way"] != "separate" and tuple(job["order"]) == order:
                md += [f"### {WAY_TITLES[job['way']]}", "", _table(*_matrix(job)), ""]
    return md


def _comparisons(jobs: list[dict[str, Any]]) -> list[str]:
    """Each corpus learnt first against later, and the CPU of learning it onto FER2013."""
    md = []
    alone = _alone(jobs)
    if alone:
        head = ["way", "corpus", "learnt first", "learnt later", "difference", "separate model"]
        md += [
            "## Learnt first or after the others",
            "",
            "A corpus learnt right after FER2013 against the same corpus learnt after the "
            "other corpora (the reverse order), and its separate model.",
            "",
            _table(head, alone),
            "",
        ]
    cost = _cost(jobs)
    if cost:
        md += [
            "## CPU to learn a corpus onto FER2013",
            "",
            "CPU seconds of the learning step in its own process (one torch thread): "
            "PathNet's `learn` (evolution, finish, checkpoints) against fine-tuning every "
            "layer of the mini-Xception (the separate model), on the same faces.",
            "",
            _table(["corpus", "PathNet CPU s", "fine-tune CPU s", "ratio"], cost),
            "",
        ]
    return md


def write_chain_report(run_dir: str | Path) -> tuple[Path, Path, Path]:
    """``report.md``, ``matrix.csv`` and ``chain.png`` in ``run_dir``."""
    run_dir = Path(run_dir)
    jobs = _jobs(run_dir)
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    split = cfg.get("split", {})
    command_file = run_dir / "command.txt"
    command = command_file.read_text().strip() if command_file.is_file() else ""
    csv = run_dir / "matrix.csv"
    atomic_write_text(csv, matrix_rows(jobs).drop(columns=["digest"]).to_csv(index=False))
    png = run_dir / "chain.png"
    atomic_write_bytes(png, chain_figure(jobs))
    md = [f"# Continual learning: {cfg.get('name', run_dir.name)}", ""]
    if command:
        md += [f"Command: `{command}`", ""]
    md += [INTRO.format(fold=split.get("fold", 0) + 1, k=split.get("k", 5)), ""]
    md += ["![every task after each step](chain.png)", ""]
    md += _order_sections(jobs) + _comparisons(jobs)
    report = run_dir / "report.md"
    atomic_write_text(report, "\n".join(md))
    return report, csv, png


__all__ = ["chain_figure", "matrix_rows", "write_chain_report"]
