"""Reports the department is judged by: volume, SLA, the officers' monthly sheet (and, with the
surveys, satisfaction). Each report is a function from a session and a ``Window`` to a
``Report`` (named columns, rows of plain values), rendered by ``render`` as a table, CSV,
xlsx or JSON; the CLI and the ``/reports`` page show the same ``Report``.
"""

from desk.reports.base import Report, ReportError
from desk.reports.periods import Window, parse_window
from desk.reports.registry import REPORTS, build_report

__all__ = ["REPORTS", "Report", "ReportError", "Window", "build_report", "parse_window"]
