"""Results persistence, metrics tables, plots and the Markdown/HTML run report."""

from pathfer.study.report.build import ReportPaths, RunSource, merge_reports, write_report
from pathfer.study.report.io import (
    load_results,
    record_from_json,
    result_exists,
    result_filename,
    result_path,
    save_result,
)

__all__ = [
    "ReportPaths",
    "RunSource",
    "load_results",
    "merge_reports",
    "record_from_json",
    "result_exists",
    "result_filename",
    "result_path",
    "save_result",
    "write_report",
]
