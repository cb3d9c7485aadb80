"""The customer directory on both backends: ``cskh customers ls|show|export|assign``, the
founding and opening days of the import, and export → import round trips in CSV and xlsx."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select

from ingest.cli import main
from router.staff import add_staff
from storage.db import SessionFactory
from storage.models import Customer
from storage.models_care import WarrantyItem

SHEET = (
    "name,tax_code,tier,segment,owner,emails,phones,domains,founded_on,opened_on\n"
    "Công ty TNHH Thép Việt,0312345678,key,xây dựng,Nguyễn Văn An,"
    "ketoan@thepviet.vn;mua.hang@thepviet.vn,0912 345 678,thepviet.vn,2008-03-15,2012-10-01\n"
    "Cửa hàng Điện máy Minh Phát,0109876543-001,small,bán lẻ,,minhphat@gmail.com,"
    "028 3822 1234,,,2019-06-20\n"
    "Công ty CP Nhựa Bình Minh,0301112223,standard,xây dựng,,,,,1977-02-29,\n"
    "Công ty Gạch Đỏ,0304445556,standard,,,,,,15/03/2010,\n"
)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
async def loaded(backend: Any, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch,
                 tmp_path: Path) -> Path:
    async with sessions() as session, session.begin():
        await add_staff(session, "Nguyễn Văn An", ["cskh"])
        await add_staff(session, "Trần Thị Bích", ["cskh"])
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    sheet = tmp_path / "accounts.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    return sheet


async def test_import_keeps_founding_and_opening_days(
        loaded: Path, sessions: SessionFactory, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await asyncio.to_thread(_cli, capsys, "customers", "import", str(loaded),
                                           "--json")
    report = json.loads(out)
    assert code == 1 and report["created"] == 2
    assert [(e["line"], e["error"]) for e in report["errors"]] == [
        (4, "founded_on '1977-02-29' is not a date"),
        (5, "founded_on '15/03/2010' is not an ISO date (YYYY-MM-DD)")]
    async with sessions() as session:
        thep = await session.scalar(select(Customer).where(Customer.tax_code == "0312345678"))
        assert thep is not None
        assert (str(thep.founded_on), str(thep.opened_on)) == ("2008-03-15", "2012-10-01")
        minh = await session.scalar(select(Customer).where(
            Customer.tax_code == "0109876543-001"))
        assert minh is not None and minh.founded_on is None and str(minh.opened_on) == (
            "2019-06-20")


async def test_ls_show_and_assign(loaded: Path, sessions: SessionFactory,
                                  capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    await asyncio.to_thread(_cli, capsys, "customers", "import", str(loaded))
    code, out, _ = await asyncio.to_thread(_cli, capsys, "customers", "ls", "--json")
    rows = json.loads(out)
    assert code == 0
    assert [(r["name"], r["owner"], r["contacts"]) for r in rows] == [
        ("Công ty TNHH Thép Việt", "Nguyễn Văn An", 3), ("Cửa hàng Điện máy Minh Phát", None, 2)]
    # words without diacritics find the account
    code, out, _ = await asyncio.to_thread(_cli, capsys, "customers", "ls", "--search",
                                           "dien may", "--json")
    assert [r["tax_code"] for r in json.loads(out)] == ["0109876543-001"]

    code, out, _ = await asyncio.to_thread(_cli, capsys, "customers", "show", "thep viet",
                                           "--json")
    detail = json.loads(out)
    assert code == 0 and detail["founded_on"] == "2008-03-15"
    assert detail["domains"] == ["thepviet.vn"]
    assert {c["email"] or c["phone"]: c["channels"] for c in detail["contacts"]} == {
        "ketoan@thepviet.vn": ["email"], "mua.hang@thepviet.vn": ["email"],
        "+84912345678": ["phone"]}
    assert detail["warranty"] == []
    async with sessions() as session, session.begin():  # a product delivered to the account
        thep = await session.scalar(select(Customer).where(Customer.tax_code == "0312345678"))
        assert thep is not None
        session.add(WarrantyItem(customer_id=thep.id, model="Máy cắt thép MC-200",
                                 model_key="may cat thep mc-200", serial="MC200-0042",
                                 delivered_on=date(2025, 1, 10), warranty_months=120))
    code, out, _ = await asyncio.to_thread(_cli, capsys, "customers", "show", "thep viet")
    assert code == 0 and "warranty register:" in out
    assert "MC200-0042  Máy cắt thép MC-200  delivered 2025-01-10, in warranty until 2035-01-10" \
        in out
    code, _, err = await asyncio.to_thread(_cli, capsys, "customers", "show", "Không Có")
    assert code == 2 and "no account" in err

    # bulk by tier, then by a file; an unknown account changes nothing
    code, out, _ = await asyncio.to_thread(_cli, capsys, "customers", "assign", "--owner",
                                           "tran thi bich", "--tier", "small", "--json")
    assert code == 0 and [a["tax_code"] for a in json.loads(out)["accounts"]] == [
        "0109876543-001"]
    listed = tmp_path / "care-list.txt"
    listed.write_text("# Bích's care list\n0312345678\nCông ty Ma\n", encoding="utf-8")
    code, _, err = await asyncio.to_thread(_cli, capsys, "customers", "assign", "--owner",
                                           "Trần Thị Bích", "--file", str(listed))
    assert code == 2 and "Công ty Ma" in err
    async with sessions() as session:
        thep = await session.scalar(select(Customer).where(Customer.tax_code == "0312345678"))
        assert thep is not None
    code, out, _ = await asyncio.to_thread(_cli, capsys, "customers", "ls", "--owner",
                                           "Trần Thị Bích", "--json")
    assert [r["tax_code"] for r in json.loads(out)] == ["0109876543-001"]
    listed.write_text("0312345678\n", encoding="utf-8")
    code, _, _ = await asyncio.to_thread(_cli, capsys, "customers", "assign", "--owner",
                                         "Trần Thị Bích", "--file", str(listed))
    assert code == 0
    code, out, _ = await asyncio.to_thread(_cli, capsys, "customers", "ls", "--owner", "none",
                                           "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
async def test_export_imports_back_unchanged(
        loaded: Path, suffix: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    await asyncio.to_thread(_cli, capsys, "customers", "import", str(loaded))
    first = tmp_path / f"first.{suffix}"
    code, _, _ = await asyncio.to_thread(_cli, capsys, "customers", "export", "--out",
                                         str(first))
    assert code == 0
    if suffix == "xlsx":
        book = openpyxl.load_workbook(first)
        header, *rows = list(book.worksheets[0].iter_rows(values_only=True))
        assert header[:3] == ("name", "tax_code", "tier") and len(rows) == 2
        # tax codes stay text (Excel would drop a leading zero of a number)
        assert {r[1] for r in rows} == {"0312345678", "0109876543-001"}
    code, out, _ = await asyncio.to_thread(_cli, capsys, "customers", "import", str(first),
                                           "--json")
    report = json.loads(out)
    assert code == 0 and (report["created"], report["updated"], report["errors"]) == (0, 2, [])
    second = tmp_path / f"second.{suffix}"
    await asyncio.to_thread(_cli, capsys, "customers", "export", "--out", str(second))
    code, csv_out, _ = await asyncio.to_thread(_cli, capsys, "customers", "export")
    if suffix == "csv":
        assert first.read_text(encoding="utf-8") == second.read_text(encoding="utf-8") == csv_out
        assert ("Công ty TNHH Thép Việt,0312345678,key,xây dựng,Nguyễn Văn An,"
                "ketoan@thepviet.vn;mua.hang@thepviet.vn,+84912345678,thepviet.vn,yes,,"
                "2008-03-15,2012-10-01") in csv_out.splitlines()
    else:
        def cells(path: Path) -> list[tuple[Any, ...]]:
            return list(openpyxl.load_workbook(path).worksheets[0].iter_rows(values_only=True))
        assert cells(first) == cells(second)


async def test_a_file_that_is_no_workbook_is_refused(
        loaded: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fake = tmp_path / "accounts.xlsx"
    fake.write_bytes(b"name,tax_code,tier\n")
    code, _, err = await asyncio.to_thread(_cli, capsys, "customers", "import", str(fake))
    assert code == 2 and "not a readable xlsx workbook" in err
