"""The yearly care plan: Tết and the other occasions, building it (idempotent) from the
directory on both backends, the budget's sums, draft → submitted → approved, the xlsx export.

The accounts: Thép Việt (key, founded 2008-03-15, store opened 2012-10-01, owner An), Nhựa
Bình Minh (standard, opened 2016-02-29), Điện máy Minh Phát (small), Sông Đà (key, no longer
active: no entry).
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select

from desk.care.occasions import anniversary, occasions, tet
from ingest.cli import main
from router.customers import import_customers
from router.staff import add_staff
from storage.db import SessionFactory
from storage.models_care import CareEntry

# Published dates of Tết Nguyên Đán (mùng một tháng Giêng). 2030 is one of the years Vietnam's
# Tết comes a day before China's: the new moon of 2 February 2030 falls at 16:07 UTC, 23:07 in
# Hà Nội (UTC+7) but past midnight in Beijing (UTC+8); 3 February is China's Spring Festival.
TET = {2025: date(2025, 1, 29), 2026: date(2026, 2, 17), 2027: date(2027, 2, 6),
       2028: date(2028, 1, 26), 2029: date(2029, 2, 13), 2030: date(2030, 2, 2)}

ACCOUNTS = (
    "name,tax_code,tier,segment,owner,founded_on,opened_on,active\n"
    "Công ty TNHH Thép Việt,0312345678,key,xây dựng,Nguyễn Văn An,2008-03-15,2012-10-01,\n"
    "Công ty CP Nhựa Bình Minh,0301112223,standard,xây dựng,,,2016-02-29,\n"
    "Cửa hàng Điện máy Minh Phát,0109876543,small,bán lẻ,,,,\n"
    "Công ty Sông Đà,0300000001,key,xây dựng,,1990-01-01,,no\n"
)


@pytest.mark.parametrize("year", sorted(TET))
def test_tet_is_the_published_date(year: int) -> None:
    assert tet(year) == TET[year]
    assert [o.on for o in occasions(year) if o.key == "tet"] == [TET[year]]


def test_tet_is_vietnams_where_it_differs_from_chinas() -> None:
    # Vietnam reckons the new moon at UTC+7: Tết fell a day, and a month, before China's.
    assert tet(2007) == date(2007, 2, 17)  # China: 18 February
    assert tet(1985) == date(1985, 1, 21)  # China: 20 February
    assert tet(2030) == date(2030, 2, 2)  # China: 3 February


def test_the_occasions_of_2027() -> None:
    found = {o.key: (o.on, o.label) for o in occasions(2027)}
    assert found["women_day"][0] == date(2027, 3, 8)
    assert found["vn_women_day"][0] == date(2027, 10, 20)
    assert found["tet"] == (date(2027, 2, 6), "Tết Nguyên Đán")
    assert found["holiday_national_day"][0] == date(2027, 9, 2)  # two days off, one occasion
    assert found["holiday_hung_kings_commemoration_day"][0] == date(2027, 4, 16)  # lunar 10/3
    # the days around Tết and the days off in lieu are not occasions of their own
    assert len(found) == 9 and all(day.year == 2027 for day, _ in found.values())


def test_anniversaries() -> None:
    assert anniversary(date(2008, 3, 15), 2027) == date(2027, 3, 15)
    assert anniversary(date(2016, 2, 29), 2027) == date(2027, 2, 28)
    assert anniversary(date(2016, 2, 29), 2028) == date(2028, 2, 29)
    assert anniversary(date(2027, 5, 1), 2027) is None  # founded this year: no anniversary yet


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except json.JSONDecodeError:
        return code, out, err


@pytest.fixture
async def directory(backend: Any, sessions: SessionFactory,
                    monkeypatch: pytest.MonkeyPatch) -> SessionFactory:
    async with sessions() as session, session.begin():
        await add_staff(session, "Nguyễn Văn An", ["cskh"])
        await add_staff(session, "Lê Văn Trưởng", ["cskh"], role="lead")
        await add_staff(session, "Phạm Giám Đốc", ["cskh"], role="admin")
        report = await import_customers(session, ACCOUNTS)
        assert report.errors == []
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    return sessions


async def test_building_the_plan_twice_makes_one_plan(
        directory: SessionFactory, capsys: pytest.CaptureFixture[str]) -> None:
    code, first, _ = await asyncio.to_thread(_cli, capsys, "care", "plan", "--year", "2027",
                                             "--json")
    assert code == 0
    # key: 9 occasions + founding + opening + 12 monthly calls; standard: 9 + opening + 4
    # quarterly calls; small: 9 + 2 half-yearly e-mails; the inactive account: nothing
    assert (first["accounts"], first["added"], first["kept"]) == (3, 23 + 14 + 11, 0)
    code, second, _ = await asyncio.to_thread(_cli, capsys, "care", "plan", "--year", "2027",
                                              "--json")
    assert (second["added"], second["updated"], second["kept"], second["dropped"]) == (
        0, 0, 48, 0)
    async with directory() as session:
        assert await session.scalar(select(func.count()).select_from(CareEntry)) == 48

    code, rows, _ = await asyncio.to_thread(_cli, capsys, "care", "ls", "--year", "2027",
                                            "--officer", "nguyen van an", "--month", "3",
                                            "--json")
    assert [(r["date"], r["occasion"], r["action"], r["gift"], r["planned_value"])
            for r in rows] == [
        ("2027-03-08", "women_day", "gift", "Hoa 8/3", 500_000),
        ("2027-03-10", "contact_03", "call", None, 0),
        ("2027-03-15", "founded", "gift", "Lẵng hoa kỷ niệm ngày thành lập", 2_000_000)]
    code, rows, _ = await asyncio.to_thread(_cli, capsys, "care", "ls", "--year", "2027",
                                            "--json")
    bình_minh = [r for r in rows if r["account"] == "Công ty CP Nhựa Bình Minh"]
    assert ("2027-02-28", "opened", "call") in [(r["date"], r["occasion"], r["action"])
                                                for r in bình_minh]
    assert {r["label"] for r in rows if r["date"] == "2027-02-06"} == {"Tết Nguyên Đán"}


async def test_budget_state_and_export(directory: SessionFactory, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    await asyncio.to_thread(_cli, capsys, "care", "plan", "--year", "2027")
    code, summary, _ = await asyncio.to_thread(
        _cli, capsys, "care", "budget", "--year", "2027", "--total", "12.000.000",
        "--tier", "key=8.000.000", "--segment", "xây dựng=8500000", "--json")
    assert code == 0
    lines = {(b["scope"], b["key"]): b for b in summary["budget"]}
    # key: Tết 3,000,000 + 8/3 and 20/10 500,000 each + founding 2,000,000 + opening 1,000,000
    assert (lines["year", ""]["budget"], lines["year", ""]["planned"]) == (12_000_000, 9_000_000)
    assert (lines["tier", "key"]["budget"], lines["tier", "key"]["planned"]) == (
        8_000_000, 7_000_000)
    assert lines["tier", "standard"]["planned"] == 1_500_000
    assert lines["tier", "small"]["planned"] == 500_000
    assert (lines["segment", "xây dựng"]["budget"], lines["segment", "xây dựng"]["planned"]) == (
        8_500_000, 8_500_000)
    assert lines["segment", "bán lẻ"]["budget"] is None
    assert sum(b["planned"] for k, b in lines.items() if k[0] == "tier") == 9_000_000
    code, _, err = await asyncio.to_thread(_cli, capsys, "care", "budget", "--year", "2027",
                                           "--total", "mười triệu")
    assert code == 2 and "not an amount" in err

    code, _, err = await asyncio.to_thread(_cli, capsys, "care", "submit", "--year", "2027",
                                           "--as", "Nguyễn Văn An")
    assert code == 2 and "a lead or admin submits" in err
    code, _, err = await asyncio.to_thread(_cli, capsys, "care", "approve", "--year", "2027",
                                           "--as", "Phạm Giám Đốc")
    assert code == 2 and "only a submitted plan is approved" in err
    code, moved, _ = await asyncio.to_thread(_cli, capsys, "care", "submit", "--year", "2027",
                                             "--as", "le van truong", "--json")
    assert code == 0 and moved["state"] == "submitted"
    code, _, err = await asyncio.to_thread(_cli, capsys, "care", "plan", "--year", "2027")
    assert code == 2 and "submitted" in err
    code, _, err = await asyncio.to_thread(_cli, capsys, "care", "approve", "--year", "2027",
                                           "--as", "Lê Văn Trưởng")
    assert code == 2 and "only an admin approves" in err
    code, moved, _ = await asyncio.to_thread(_cli, capsys, "care", "approve", "--year", "2027",
                                             "--as", "Phạm Giám Đốc", "--json")
    assert code == 0 and moved["state"] == "approved" and moved["approved_at"]
    code, _, err = await asyncio.to_thread(_cli, capsys, "care", "budget", "--year", "2027",
                                           "--total", "1")
    assert code == 2 and "approved" in err

    out = tmp_path / "ke-hoach-2027.xlsx"
    code, _, _ = await asyncio.to_thread(_cli, capsys, "care", "export", "--year", "2027",
                                         "--out", str(out))
    assert code == 0
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["Kế hoạch", "Ngân sách"]
    plan_rows = list(book["Kế hoạch"].iter_rows(min_row=4, values_only=True))
    assert len(plan_rows) == 48 and "Đã phê duyệt" in str(book["Kế hoạch"]["A1"].value)
    assert sum(r[6] for r in plan_rows) == 9_000_000
    budget = {(r[0], r[1] or ""): r for r in book["Ngân sách"].iter_rows(min_row=2,
                                                                        values_only=True)}
    assert budget["Cả năm", ""][2:5] == (12_000_000, 9_000_000, 0)

    code, _, err = await asyncio.to_thread(_cli, capsys, "care", "ls", "--year", "2031")
    assert code == 2 and "no care plan for 2031" in err
