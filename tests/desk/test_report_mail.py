"""The period reports reach the leads' mailbox once per period (a real SMTP server)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from connectors.email.send import SmtpTransport
from desk.reports.mailing import MailReports, previous_window
from router.calendars import QueueCalendars
from storage.db import SessionFactory
from tests.support.smtp import SmtpServer


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_previous_periods() -> None:
    monday = date(2026, 11, 30)
    assert [str(d) for d in (previous_window("day", monday).first,
                             previous_window("week", monday).first,
                             previous_window("week", monday).last,
                             previous_window("month", monday).first,
                             previous_window("month", monday).last)] == [
        "2026-11-29", "2026-11-23", "2026-11-29", "2026-10-01", "2026-10-31"]


async def test_each_period_is_mailed_once(sessions: SessionFactory, smtp: SmtpServer) -> None:
    now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tue 1 Dec 08:00 in Hà Nội
    transport = SmtpTransport("127.0.0.1", smtp.port, tls="none")

    def mailer() -> MailReports:
        return MailReports(sessions, transport.send, lambda: now,
                           sender="CSKH <cskh@congty.vn>",
                           recipients=["Trưởng nhóm <lead@congty.vn>", "sep@congty.vn"],
                           calendars=QueueCalendars(), domain="congty.vn")

    assert await mailer().run_once() == 3
    assert await mailer().run_once() == 0  # a restart, or a second router
    await asyncio.sleep(0.2)
    mails = smtp.room.received
    assert len(mails) == 3
    subjects = sorted(str(m["Subject"]) for m in mails)
    assert subjects == ["Báo cáo CSKH ngày 2026-11-30: mức độ hài lòng và SLA",
                        "Báo cáo CSKH tháng 2026-11: mức độ hài lòng và SLA",
                        "Báo cáo CSKH tuần 2026-W48: mức độ hài lòng và SLA"]
    month = next(m for m in mails if "tháng" in str(m["Subject"]))
    assert {a.addr_spec for a in month["To"].addresses} == {"lead@congty.vn", "sep@congty.vn"}
    names = [p.get_filename() for p in month.iter_attachments()]
    assert names == ["satisfaction-2026-11.csv", "sla-2026-11.csv"]
    attachment = next(month.iter_attachments()).get_payload(decode=True)
    assert isinstance(attachment, bytes) and attachment.startswith(b"\xef\xbb\xbf")
    body = month.get_body(("plain",))
    assert body is not None and "Customer satisfaction" in body.get_content()
