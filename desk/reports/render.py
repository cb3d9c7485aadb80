"""A report as a terminal table, CSV (UTF-8 with a BOM, so Excel shows Vietnamese), xlsx
(XlsxWriter) or JSON (UTF-8, unescaped)."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from typing import Any

import xlsxwriter

from desk.reports.base import Report

FORMATS = ("table", "csv", "xlsx", "json")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in unicodedata.normalize("NFC", text)
               if not unicodedata.combining(ch))


def as_table(report: Report) -> str:
    """Aligned columns for a terminal; numbers right-aligned, a dash for no value."""
    header = list(report.columns)
    body = [[_cell(row.get(c)) or "-" for c in header] for row in report.rows]
    widths = [max([_width(h)] + [_width(r[i]) for r in body]) for i, h in enumerate(header)]
    numeric = [all(_is_number(row.get(c)) for row in report.rows) for c in header]

    def line(cells: list[str]) -> str:
        out = []
        for cell, width, right in zip(cells, widths, numeric, strict=True):
            pad = " " * (width - _width(cell))
            out.append(pad + cell if right else cell + pad)
        return "  ".join(out).rstrip()

    lines = [f"{report.title} — {report.period}, {report.start} .. {report.end}", "",
             line(header), line(["-" * w for w in widths]), *(line(r) for r in body)]
    if not body:
        lines.append("(no data)")
    lines.extend(f"* {note}" for note in report.notes)
    return "\n".join(lines) + "\n"


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def as_csv(report: Report) -> bytes:
    """CSV, UTF-8 with a BOM, a header row of column names."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(report.columns)
    for row in report.rows:
        writer.writerow([_cell(row.get(c)) for c in report.columns])
    return buffer.getvalue().encode("utf-8-sig")


def as_xlsx(report: Report) -> bytes:
    """One worksheet named after the report; numbers stay numbers."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet(report.name[:31])
    bold = book.add_format({"bold": True})
    sheet.write_row(0, 0, report.columns, bold)
    for i, row in enumerate(report.rows, start=1):
        for j, column in enumerate(report.columns):
            value = row.get(column)
            if value is None:
                sheet.write_blank(i, j, None)
            else:
                sheet.write(i, j, value)
    sheet.set_column(0, max(len(report.columns) - 1, 0), 16)
    book.close()
    return buffer.getvalue()


def as_json(report: Report) -> bytes:
    """The report document, UTF-8, non-ASCII unescaped."""
    return json.dumps(report.as_json(), ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


def render(report: Report, fmt: str) -> bytes:
    """``report`` in ``fmt`` (one of ``FORMATS``), as bytes."""
    if fmt == "table":
        return as_table(report).encode("utf-8")
    if fmt == "csv":
        return as_csv(report)
    if fmt == "xlsx":
        return as_xlsx(report)
    if fmt == "json":
        return as_json(report)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")
