"""The campaign's set-up on both backends: who it asks, and ``cskh survey campaign …``.

The accounts: Thép Việt (key tier, segment "xây dựng") has two contacts, Lan with two tickets
and Minh with one: Lan is asked. Bình Minh (standard) has Hà, marked as its survey contact
with no ticket, and Tú with three: Hà is asked. Sông Đà is no longer active, Gạch Đỏ has no
contact: neither is asked.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from desk.surveys.campaign import audience, create_campaign, parse_send_at
from ingest.cli import main
from router.customers import import_customers
from storage.db import SessionFactory, create_engine, session_factory
from storage.migrate import upgrade
from storage.models import Contact, Customer
from tests.support.campaign import NOW, seed_accounts

NAME = "Khảo sát hài lòng 6 tháng cuối 2026"


async def test_who_a_campaign_asks(sessions: SessionFactory) -> None:
    ids = await seed_accounts(sessions)
    async with sessions() as s, s.begin():
        every = await create_campaign(s, name=NAME, tier=None, segment=None, send_at=NOW,
                                      remind_days=5, now=NOW)
        key = await create_campaign(s, name="Khách hàng trọng điểm", tier="key", segment=None,
                                    send_at=NOW, remind_days=5, now=NOW)
        building = await create_campaign(s, name="Xây dựng", tier=None, segment="xây dựng",
                                         send_at=NOW, remind_days=5, now=NOW)
        assert await audience(s, every) == [(ids["thep"], ids["Lan"]),
                                            (ids["binh"], ids["Hà"])]
        assert await audience(s, key) == [(ids["thep"], ids["Lan"])]
        assert await audience(s, building) == [(ids["thep"], ids["Lan"])]
        # paging goes on after the last account of the previous page
        assert await audience(s, every, after_customer=ids["thep"]) == [(ids["binh"], ids["Hà"])]
        assert await audience(s, every, limit=1) == [(ids["thep"], ids["Lan"])]


def test_send_at_forms() -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    assert parse_send_at(None, now) == now
    # a bare date: 08:00 in Vietnam, 01:00 UTC
    assert parse_send_at("2026-12-15", now) == datetime(2026, 12, 15, 1, 0, tzinfo=UTC)
    assert parse_send_at("2026-12-15T14:30", now) == datetime(2026, 12, 15, 7, 30, tzinfo=UTC)
    assert parse_send_at("2026-12-15T14:30+00:00", now) == datetime(2026, 12, 15, 14, 30,
                                                                     tzinfo=UTC)
    with pytest.raises(ValueError, match="not a date"):
        parse_send_at("15/12/2026", now)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_campaign_commands(backend: Any, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    async def seed() -> None:
        engine = create_engine(backend.database_url)
        try:
            await upgrade(engine)
            await seed_accounts(session_factory(engine))
        finally:
            await engine.dispose()

    asyncio.run(seed())
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    code, out, err = _cli(capsys, "survey", "campaign", "create", "--name", f" {NAME} ",
                          "--send-at", "2026-12-15", "--json")
    assert code == 0, err
    made = json.loads(out)
    assert (made["name"], made["state"], made["remind_days"], made["accounts"],
            made["without_contact"]) == (NAME, "open", 5, 3, 1)
    assert made["send_at"] == "2026-12-15T01:00:00+00:00"
    code, out, err = _cli(capsys, "survey", "campaign", "create", "--name", "Trọng điểm",
                          "--tier", "key", "--remind-days", "3")
    assert code == 0 and "accounts 1 (0 without a contact)" in out and "tier key" in out
    # a taken name, a bad date, a bad tier, a bad reminder: exit 2 with the reason
    code, _, err = _cli(capsys, "survey", "campaign", "create", "--name", NAME)
    assert code == 2 and "exists already" in err
    code, _, err = _cli(capsys, "survey", "campaign", "create", "--name", "x", "--send-at",
                        "mai")
    assert code == 2 and "not a date" in err
    code, _, err = _cli(capsys, "survey", "campaign", "create", "--name", "x",
                        "--remind-days", "0")
    assert code == 2 and "remind-days" in err
    code, out, _ = _cli(capsys, "survey", "campaign", "ls", "--json")
    assert code == 0 and [c["name"] for c in json.loads(out)] == [NAME, "Trọng điểm"]
    code, out, _ = _cli(capsys, "survey", "campaign", "show", NAME, "--json")
    shown = json.loads(out)
    assert code == 0 and (shown["invited"], shown["answered"], shown["manual"]) == (0, 0, [])
    code, out, _ = _cli(capsys, "survey", "campaign", "close", NAME)
    assert code == 0 and "[closed]" in out
    code, out, _ = _cli(capsys, "survey", "campaign", "close", NAME, "--json")
    assert code == 0 and json.loads(out)["state"] == "closed"
    code, _, err = _cli(capsys, "survey", "campaign", "show", "Không có")
    assert code == 2 and "no campaign called" in err


@pytest.mark.parametrize("argv", [["survey"], ["survey", "campaign"],
                                  ["survey", "campaign", "create"],
                                  ["survey", "campaign", "ls"], ["survey", "campaign", "show"],
                                  ["survey", "campaign", "close"]], ids=" ".join)
def test_campaign_commands_have_help(capsys: pytest.CaptureFixture[str],
                                     argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("usage: cskh")


async def test_import_marks_the_survey_contact_and_inactive_accounts(
        sessions: SessionFactory) -> None:
    text = ("name,tax_code,tier,emails,phones,active,survey_contact\n"
            "Thép Việt,0101234567,key,lan@thepviet.vn;minh@thepviet.vn,,,minh@thepviet.vn\n"
            "Sông Đà,0107654321,standard,quan@songda.vn,0912345678,không,0912 345 678\n"
            "Sai,0100000001,small,a@sai.vn,,perhaps,\n"
            "Lạ,0100000002,small,b@la.vn,,,c@la.vn\n")
    async with sessions() as s, s.begin():
        report = await import_customers(s, text)
    assert report.created == 2
    assert [(line, e.split(" ")[0]) for line, e in report.errors] == [(4, "active"),
                                                                       (5, "survey")]
    async with sessions() as s:
        marked = {c.email: c.survey_contact for c in await s.scalars(select(Contact))}
        active = {c.name: c.active for c in await s.scalars(select(Customer))}
    assert marked == {"lan@thepviet.vn": False, "minh@thepviet.vn": True,
                      "quan@songda.vn": False, None: True}
    assert active == {"Thép Việt": True, "Sông Đà": False}
    # a later import moves the mark
    async with sessions() as s, s.begin():
        await import_customers(s, "name,tax_code,tier,emails,survey_contact\n"
                                  "Thép Việt,0101234567,key,lan@thepviet.vn,lan@thepviet.vn\n")
    async with sessions() as s:
        marked = {c.email: c.survey_contact for c in await s.scalars(select(Contact))
                  if c.email and c.email.endswith("thepviet.vn")}
    assert marked == {"lan@thepviet.vn": True, "minh@thepviet.vn": False}
