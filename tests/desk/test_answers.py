"""Canned answers: placeholders filled safely, the CSV import and ``cskh answers``, on both
backend pairs."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from desk.answers import find_answers, import_answers, render_answer
from ingest.cli import main
from storage.db import SessionFactory
from storage.models import CannedAnswer

NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
VALUES = {"khach_hang": "Công ty TNHH Hòa Bình", "so_phieu": "CSKH-000042",
          "nhan_vien": "Lan"}


def test_known_placeholders_are_filled_and_nothing_else_is_interpreted() -> None:
    text = "Kính gửi {khach_hang}, phiếu {so_phieu} do {nhan_vien} phụ trách."
    assert render_answer(text, VALUES) == (
        "Kính gửi Công ty TNHH Hòa Bình, phiếu CSKH-000042 do Lan phụ trách.")
    hostile = "{0} {__class__} {khach_hang.__init__} {ten} {{so_phieu}} {KHACH_HANG} {"
    assert render_answer(hostile, VALUES) == (
        "{0} {__class__} {khach_hang.__init__} {ten} {CSKH-000042} {KHACH_HANG} {")


def test_a_value_is_inserted_as_typed_and_a_missing_one_keeps_its_placeholder() -> None:
    values = {"khach_hang": "{so_phieu} <b>ACME</b>", "so_phieu": "CSKH-000001",
              "nhan_vien": None}
    assert render_answer("{khach_hang} / {nhan_vien}", values) == (
        "{so_phieu} <b>ACME</b> / {nhan_vien}")


async def cli(argv: list[str]) -> int:
    return await asyncio.to_thread(main, argv)


CSV = ("\ufeffqueue,title,text\n"
       "cskh,Cảm ơn,\"Cảm ơn {khach_hang} đã liên hệ.\nPhiếu: {so_phieu}\"\n"
       "accounting,Hóa đơn,Bên em sẽ xuất lại hóa đơn ạ.\n"
       "nowhere,Chào,Xin chào\n"
       "cskh,,không có tiêu đề\n"
       "sales,Giá,\n")


async def test_import_upserts_by_queue_and_title_and_lists_bad_lines(
        sessions: SessionFactory) -> None:
    async with sessions() as session, session.begin():
        report = await import_answers(session, CSV, NOW)
    assert (report.created, report.updated) == (2, 0)
    assert [line for line, _ in report.errors] == [5, 6, 7]
    assert "nowhere" in report.errors[0][1] and "title" in report.errors[1][1]
    assert "text" in report.errors[2][1]

    again = CSV.replace("xuất lại hóa đơn", "gửi hóa đơn điều chỉnh")
    async with sessions() as session, session.begin():
        report = await import_answers(session, again, NOW)
        assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
        rows = list(await session.scalars(select(CannedAnswer).order_by(CannedAnswer.id)))
    assert [(r.queue, r.title) for r in rows] == [("cskh", "Cảm ơn"), ("accounting", "Hóa đơn")]
    assert rows[0].text == "Cảm ơn {khach_hang} đã liên hệ.\nPhiếu: {so_phieu}"
    assert rows[1].text == "Bên em sẽ gửi hóa đơn điều chỉnh ạ."


async def test_search_finds_titles_and_text_with_and_without_diacritics(
        sessions: SessionFactory) -> None:
    async with sessions() as session, session.begin():
        await import_answers(session, CSV, NOW)
    async with sessions() as session:
        for query in ("hoa don", "HÓA ĐƠN", "hoá đơn", "dieu chinh xuat"):
            found = await find_answers(session, None, query)
            assert [a.title for a in found] == ([] if "dieu" in query else ["Hóa đơn"]), query
        assert [a.title for a in await find_answers(session, ["cskh"], "")] == ["Cảm ơn"]
        assert await find_answers(session, ["sales"], "hoa don") == []
        assert await find_answers(session, None, "100%_") == []


async def test_cli_imports_a_bom_file_and_lists(backend: Any, sessions: SessionFactory,
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in backend.env().items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "answers.csv"
    path.write_bytes(CSV.encode("utf-8"))
    assert await cli(["answers", "import", str(path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["created"], [e["line"] for e in out["errors"]]) == (2, [5, 6, 7])

    path.write_bytes(CSV.removeprefix("\ufeff").split("nowhere")[0].encode("utf-8"))
    assert await cli(["answers", "import", str(path)]) == 0
    assert "0 created, 0 updated, 2 unchanged" in capsys.readouterr().out

    assert await cli(["answers", "ls", "--queue", "accounting", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(a["queue"], a["title"]) for a in listed] == [("accounting", "Hóa đơn")]
    assert await cli(["answers", "ls", "--search", "cam on"]) == 0
    assert "Cảm ơn" in capsys.readouterr().out

    path.write_bytes(b"queue,title,text\ncskh,Ch\xe0o,x\n")
    assert await cli(["answers", "import", str(path)]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    path.write_text("queue,name\ncskh,x\n", encoding="utf-8")
    assert await cli(["answers", "import", str(path)]) == 2
    assert "missing: title, text" in capsys.readouterr().err
