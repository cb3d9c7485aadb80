"""The care plan as an xlsx workbook for its approval: the entries, then the budget."""

from __future__ import annotations

import io
from typing import Any

import xlsxwriter

from desk.care.plan import PlanSummary

STATES_VI = {"draft": "Bản nháp", "submitted": "Đã trình duyệt", "approved": "Đã phê duyệt"}
ACTIONS_VI = {"call": "Gọi điện", "email": "Gửi e-mail", "visit": "Thăm", "gift": "Tặng quà"}
SCOPES_VI = {"year": "Cả năm", "tier": "Hạng", "segment": "Phân khúc"}


def plan_xlsx(summary: PlanSummary, rows: list[dict[str, Any]]) -> bytes:
    """A workbook with the sheets ``Kế hoạch`` (one line an entry) and ``Ngân sách``."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": "#,##0"})
    sheet = book.add_worksheet("Kế hoạch")
    plan = summary.plan
    sheet.write(0, 0, f"Kế hoạch chăm sóc khách hàng năm {plan.year} — "
                      f"{STATES_VI.get(plan.state, plan.state)}", bold)
    header = ("Ngày", "Khách hàng", "Hạng", "Dịp", "Hoạt động", "Quà tặng",
              "Giá trị dự kiến (đ)", "Nhân viên phụ trách", "Trạng thái", "Chi thực tế (đ)")
    sheet.write_row(2, 0, header, bold)
    for number, r in enumerate(rows, start=3):
        sheet.write_string(number, 0, r["date"])
        sheet.write_string(number, 1, r["account"])
        sheet.write_string(number, 2, r["tier"])
        sheet.write_string(number, 3, r["label"])
        sheet.write_string(number, 4, ACTIONS_VI.get(r["action"], r["action"]))
        sheet.write_string(number, 5, r["gift"] or "")
        sheet.write_number(number, 6, r["planned_value"], money)
        sheet.write_string(number, 7, r["officer"] or "")
        sheet.write_string(number, 8, r["status"])
        if r["spent"] is not None:
            sheet.write_number(number, 9, r["spent"], money)
    sheet.set_column(0, 0, 11)
    sheet.set_column(1, 1, 36)
    sheet.set_column(3, 3, 30)
    sheet.set_column(5, 7, 22)
    budget = book.add_worksheet("Ngân sách")
    budget.write_row(0, 0, ("Phạm vi", "", "Ngân sách (đ)", "Dự kiến (đ)", "Đã chi (đ)",
                            "Còn lại (đ)", "Số hoạt động", "Đã thực hiện"), bold)
    for number, line in enumerate(summary.lines, start=1):
        budget.write_string(number, 0, SCOPES_VI.get(line.scope, line.scope))
        budget.write_string(number, 1, line.key)
        for column, value in enumerate(
                (line.budget, line.planned, line.spent,
                 None if line.budget is None else line.budget - line.spent), start=2):
            if value is not None:
                budget.write_number(number, column, value, money)
        budget.write_number(number, 6, line.entries)
        budget.write_number(number, 7, line.done)
    budget.set_column(0, 7, 16)
    book.close()
    return buffer.getvalue()
