"""Build the run report: metrics tables (CSV/JSON), summary, paired tests, Markdown and HTML.

``write_report(run_dir)`` reads a run folder::

    run_dir/config.yaml                    resolved configuration (copied into the report)
    run_dir/command.txt                    exact command that produced the run
    run_dir/results/<method>__<fold>__seed<k>.json   one result record each
    run_dir/artifacts/*.png                optional PathNet path pictures, evolution curves

and writes into ``out_dir`` (default ``run_dir``): ``metrics.csv`` / ``metrics.json`` (one
row per method x fold x seed), ``summary.csv``, ``paired.csv``, ``equal_budget.csv`` (when
learning curves exist), ``figures/*.png``, ``report.md`` (figures linked) and
``report.html`` (self-contained: figures and artifacts inline as base64 PNG).
``merge_reports`` does the same over several run folders, one experiment each.

The work is in three steps: :func:`~.analysis.analyse` computes every table once (a
:class:`~.analysis.Report`), :func:`~.analysis.write_tables` writes the CSV/JSON files, and
:mod:`.sections` writes the document, one function per section.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pathfer.runtime.files import atomic_write_text
from pathfer.study.report import sections as text
from pathfer.study.report import training_sections as training
from pathfer.study.report.analysis import Report, ReportPaths, RunSource, analyse, write_tables
from pathfer.study.results import load_results

#: the report's sections, in order
SECTIONS: tuple[Callable[[Report], None], ...] = (
    text.header,
    text.target_subjects,  # the headline study, where a run has one
    text.failures,
    text.reproduce,
    text.summary,
    text.completeness,
    text.paired,
    text.per_run,
    text.confusions,
    training.learning_curves,
    training.pathnet_and_artifacts,
    text.configuration,
)

__all__ = ["ReportPaths", "RunSource", "merge_reports", "write_report"]


def _build(
    records: list[dict[str, Any]],
    run_of: list[str],
    sources: list[RunSource],
    out_dir: Path,
    title: str,
    reference: str | None,
    preferred: Sequence[str],
) -> ReportPaths:
    report = analyse(records, run_of, sources, out_dir, title, reference, preferred)
    write_tables(report)
    for section in SECTIONS:
        section(report)
    atomic_write_text(report.paths.report_md, report.doc.markdown())
    atomic_write_text(report.paths.report_html, report.doc.html(title))
    return report.paths


# ----------------------------------------------------------------------------- entry points


def write_report(
    run_dir: str | Path,
    records: Iterable[Mapping[str, Any]] | None = None,
    out_dir: str | Path | None = None,
    reference: str | None = None,
) -> ReportPaths:
    """Write metrics tables and the Markdown/HTML report of one run folder.

    ``records`` overrides the results read from ``run_dir/results``; ``reference`` is the
    method every other is paired against (default ``pathnet_transfer`` when present, else
    the first method); outputs go to ``out_dir`` (default ``run_dir``).
    """
    source = RunSource.read(run_dir)
    recs = [dict(r) for r in records] if records is not None else load_results(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir)
    title = f"pathfer report: {source.name}"
    run_of = [source.name] * len(recs)
    return _build(recs, run_of, [source], out, title, reference, source.method_order())


def merge_reports(
    run_dirs: Sequence[str | Path], out_dir: str | Path, reference: str | None = None
) -> ReportPaths:
    """One report over several run folders, each one experiment.

    A method name present in more than one run becomes ``<run name>:<method>`` in the
    tables (run name = folder name, made unique with ``-2``, ``-3``... when folders share a
    name); names unique to one run stay as they are. Summaries, figures and paired tests
    are per experiment: a method is only ever compared with the reference of its own run.
    """
    sources: list[RunSource] = []
    used: set[str] = set()
    for d in run_dirs:
        base = Path(d).resolve().name
        name, k = base, 1
        while name in used:
            k += 1
            name = f"{base}-{k}"
        used.add(name)
        sources.append(RunSource.read(d, name))
    per_run = [(s, load_results(s.path)) for s in sources]
    owners: dict[str, set[str]] = {}
    for s, recs in per_run:
        for r in recs:
            owners.setdefault(r["method"], set()).add(s.name)

    def qualified(method: str, run: str) -> str:
        return f"{run}:{method}" if len(owners.get(method, ())) > 1 else method

    records: list[dict[str, Any]] = []
    run_of: list[str] = []
    preferred: list[str] = []  # each run's config order, runs in the order given
    for s, recs in per_run:
        for r in recs:
            records.append(dict(r, method=qualified(r["method"], s.name)))
            run_of.append(s.name)
        for m in s.method_order() + [r["method"] for r in recs]:
            if qualified(m, s.name) not in preferred:
                preferred.append(qualified(m, s.name))
    title = "pathfer merged report: " + ", ".join(s.name for s in sources)
    return _build(records, run_of, sources, Path(out_dir), title, reference, preferred)
