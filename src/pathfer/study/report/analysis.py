"""A report's content, computed once: the run folders, per-run scores, per-method
summaries, each experiment's reference method and the paired tests (:func:`analyse`),
and the CSV/JSON tables written from them (:func:`write_tables`)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pathfer.runtime.files import atomic_write_bytes, atomic_write_text
from pathfer.study.report import metrics as M
from pathfer.study.report import stats as S
from pathfer.study.report.document import Document, Image
from pathfer.study.results import to_jsonable

DEFAULT_REFERENCE = "pathnet_transfer"
PAIRED_METRICS = (
    "clip_acc",
    "clip_peak_acc",
    "clip_uar",
    "clip_peak_uar",
    "frame_acc",
    "frame_uar",
)
#: the score columns of each clip score (``report: {clip_scores: ...}``)
CLIP_SCORE_METRICS = {"mean": ("clip_acc", "clip_uar"), "peak": ("clip_peak_acc", "clip_peak_uar")}
METRIC_COLUMNS = [
    "run",
    "method",
    "fold",
    "seed",
    "frame_acc",
    "frame_uar",
    "clip_acc",
    "clip_uar",
    "clip_peak_acc",
    "clip_peak_uar",
    "forgetting",
    "source_acc_before",
    "source_acc_after",
    "train_time_s",
    "n_frames",
    "n_clips",
]


@dataclass
class RunSource:
    """One run folder feeding a report (one experiment)."""

    name: str
    path: Path
    command: str | None = None
    config_text: str | None = None
    artifacts: list[Path] = field(default_factory=list)
    #: the jobs of the run's last session that failed (``failures.json``): job and error
    failures: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def read(cls, run_dir: str | Path, name: str | None = None) -> RunSource:
        run_dir = Path(run_dir)
        cmd = run_dir / "command.txt"
        cfg = run_dir / "config.yaml"
        art = run_dir / "artifacts"
        return cls(
            name=name or run_dir.resolve().name,
            path=run_dir,
            command=cmd.read_text(encoding="utf-8").strip() if cmd.is_file() else None,
            config_text=cfg.read_text(encoding="utf-8") if cfg.is_file() else None,
            artifacts=sorted(art.glob("*.png")) if art.is_dir() else [],
            failures=_failures(run_dir / "failures.json"),
        )

    def clip_scores(self) -> list[str]:
        """``report: {clip_scores: ...}`` of the run's config (both when it says none)."""
        try:
            cfg = yaml.safe_load(self.config_text or "")
        except yaml.YAMLError:
            cfg = None
        section = cfg.get("report") if isinstance(cfg, dict) else None
        wanted = section.get("clip_scores") if isinstance(section, dict) else None
        wanted = [wanted] if isinstance(wanted, str) else wanted
        if not isinstance(wanted, list):
            return list(CLIP_SCORE_METRICS)
        return [w for w in CLIP_SCORE_METRICS if w in wanted] or list(CLIP_SCORE_METRICS)

    def method_order(self) -> list[str]:
        """``methods`` listed in the config (its order is the report's order), if any."""
        if not self.config_text:
            return []
        try:
            cfg = yaml.safe_load(self.config_text)
        except yaml.YAMLError:
            return []
        methods = cfg.get("methods") if isinstance(cfg, dict) else None
        if not isinstance(methods, list):
            return []
        out = []
        for m in methods:
            name = m.get("name") if isinstance(m, dict) else m
            if isinstance(name, str):
                out.append(name)
        return out


def _failures(path: Path) -> list[dict[str, str]]:
    """The failed jobs a run recorded (``failures.json``, written by the runner)."""
    if not path.is_file():
        return []
    try:
        failed = json.loads(path.read_text(encoding="utf-8")).get("failed", [])
        return [{"job": str(f.get("job", "?")), "error": str(f.get("error", ""))} for f in failed]
    except (ValueError, OSError, AttributeError):
        return [{"job": str(path), "error": "unreadable failures file"}]


@dataclass
class ReportPaths:
    """Files written by :func:`write_report` / :func:`merge_reports`."""

    out_dir: Path
    metrics_csv: Path
    metrics_json: Path
    summary_csv: Path
    paired_csv: Path
    report_md: Path
    report_html: Path
    equal_budget_csv: Path | None = None
    figures: list[Path] = field(default_factory=list)

    @classmethod
    def under(cls, out_dir: Path) -> ReportPaths:
        return cls(
            out_dir=out_dir,
            metrics_csv=out_dir / "metrics.csv",
            metrics_json=out_dir / "metrics.json",
            summary_csv=out_dir / "summary.csv",
            paired_csv=out_dir / "paired.csv",
            report_md=out_dir / "report.md",
            report_html=out_dir / "report.html",
        )


@dataclass
class Report:
    """Everything a report shows, computed once by :func:`analyse`."""

    title: str
    paths: ReportPaths
    records: list[dict[str, Any]]
    run_of: list[str]  # run (experiment) name of each record
    sources: list[RunSource]
    methods: list[str]  # report order; names as in metrics.csv (unique over runs)
    scores: pd.DataFrame  # one row per record, METRIC_COLUMNS
    summary: pd.DataFrame  # one row per (run, method)
    references: dict[str, str]  # run -> its reference method
    paired: pd.DataFrame  # stats.PAIRED_COLUMNS
    doc: Document = field(default_factory=Document)

    @property
    def merged(self) -> bool:
        return len(self.sources) > 1

    @property
    def runs(self) -> list[str]:
        """Runs with results, in the order given."""
        have = set(self.run_of)
        return [s.name for s in self.sources if s.name in have]

    @property
    def stills(self) -> bool:
        """Every clip is one image (photos): clip and frame scores are the same numbers."""
        return bool(len(self.scores)) and bool(
            (self.scores["n_frames"] == self.scores["n_clips"]).all()
        )

    @property
    def shown_metrics(self) -> tuple[str, ...]:
        """The accuracy and UAR columns the tables and bars show: the clip scores the runs
        ask for (mean and peak side by side) and frame, or frame only for stills (where
        they are all equal)."""
        if self.stills:
            return ("frame_acc", "frame_uar")
        wanted = {w for s in self.sources for w in s.clip_scores()}
        clip = [m for w, ms in CLIP_SCORE_METRICS.items() if w in wanted for m in ms]
        return (*sorted(clip, key=PAIRED_METRICS.index), "frame_acc", "frame_uar")

    def source(self, run: str) -> RunSource:
        return next(s for s in self.sources if s.name == run)

    def label(self, method: str, run: str) -> str:
        """A method's name inside its experiment (without the ``run:`` prefix)."""
        prefix = f"{run}:"
        return method[len(prefix) :] if method.startswith(prefix) else method

    def methods_of(self, run: str) -> list[str]:
        in_run = set(self.scores.loc[self.scores["run"] == run, "method"])
        return [m for m in self.methods if m in in_run]

    def records_of(self, run: str, method: str | None = None) -> list[dict[str, Any]]:
        return [
            rec
            for rec, r in zip(self.records, self.run_of, strict=True)
            if r == run and (method is None or rec["method"] == method)
        ]

    def figure(self, name: str, caption: str, png: bytes) -> Image:
        """Write ``figures/<name>.png`` and return it as an image for the document."""
        path = atomic_write_bytes(self.paths.out_dir / "figures" / f"{name}.png", png)
        self.paths.figures.append(path)
        return Image(caption, png, f"figures/{name}.png")

    def file_name(self, *parts: str) -> str:
        """A figure's file name from parts (the run only in merged reports)."""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", "_".join(p for p in parts if p))


# ----------------------------------------------------------------------------- analysis


def _check_unique(records: Sequence[Mapping[str, Any]], run_of: Sequence[str]) -> None:
    seen: set[tuple[str, ...]] = set()
    for r, run in zip(records, run_of, strict=True):
        key = (run, str(r["method"]), str(r["fold"]), str(r["seed"]))
        if key in seen:
            raise ValueError(f"duplicate result for method={key[1]} fold={key[2]} seed={key[3]}")
        seen.add(key)


def _sort_key(col: pd.Series) -> pd.Series:
    return col if pd.api.types.is_numeric_dtype(col) else col.astype(str)


def _references(report: Report, reference: str | None) -> dict[str, str]:
    """Each run's reference: ``reference`` (full or in-run name), by default
    ``pathnet_transfer``, else the run's first method."""
    out: dict[str, str] = {}
    for run in report.runs:
        methods = report.methods_of(run)
        wanted = reference or DEFAULT_REFERENCE
        match = [m for m in methods if wanted in (m, report.label(m, run))]
        if match:
            out[run] = match[0]
        elif reference is None and methods:
            out[run] = methods[0]
    if reference is not None and not out:
        raise ValueError(
            f"reference method {reference!r} has no results; have {', '.join(report.methods)}"
        )
    return out


def analyse(
    records: list[dict[str, Any]],
    run_of: list[str],
    sources: list[RunSource],
    out_dir: Path,
    title: str,
    reference: str | None,
    preferred: Sequence[str],
) -> Report:
    """Scores, summaries, references and paired tests of ``records`` (one run name each)."""
    _check_unique(records, run_of)
    present = list(dict.fromkeys(r["method"] for r in records))
    methods = [m for m in preferred if m in present] + [m for m in present if m not in preferred]
    scores = M.score_table(records)
    scores.insert(0, "run", list(run_of))
    # choice_acc only where a run had choice subjects (split.choice_fraction)
    extra = ["choice_acc"] if "choice_acc" in scores else []
    scores = scores.reindex(columns=[*METRIC_COLUMNS, *extra])
    order = {m: i for i, m in enumerate(methods)}
    run_order = {s.name: i for i, s in enumerate(sources)}
    scores = (
        scores.assign(_r=scores["run"].map(run_order), _o=scores["method"].map(order))
        .sort_values(["_r", "_o", "fold", "seed"], key=_sort_key, kind="mergesort")
        .drop(columns=["_r", "_o"])
        .reset_index(drop=True)
    )
    report = Report(
        title=title,
        paths=ReportPaths.under(out_dir),
        records=records,
        run_of=list(run_of),
        sources=sources,
        methods=methods,
        scores=scores,
        summary=M.summarize(scores),
        references={},
        paired=pd.DataFrame(columns=S.PAIRED_COLUMNS),
    )
    report.references = _references(report, reference)
    report.paired = S.compare_within_runs(scores, report.references, PAIRED_METRICS)
    return report


def _jsonable_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [to_jsonable(r) for r in df.astype(object).where(df.notna(), None).to_dict("records")]


def write_tables(report: Report) -> None:
    """``metrics.csv`` / ``metrics.json``, ``summary.csv`` and ``paired.csv``."""
    p = report.paths
    p.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(p.metrics_csv, report.scores.to_csv(index=False))
    atomic_write_text(p.metrics_json, json.dumps(_jsonable_rows(report.scores), indent=1))
    atomic_write_text(p.summary_csv, report.summary.to_csv(index=False))
    atomic_write_text(p.paired_csv, report.paired.to_csv(index=False))
