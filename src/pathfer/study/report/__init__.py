"""The run report: scores and statistics from the saved results, figures, and the
Markdown/HTML report. It reads results (:mod:`pathfer.study.results`); it never runs anything."""

from pathfer.study.report.build import ReportPaths, RunSource, merge_reports, write_report

__all__ = ["ReportPaths", "RunSource", "merge_reports", "write_report"]
