"""The satisfaction and SLA reports e-mailed to the leads at the start of the next period.

``MailReports.run_once`` (the ``router`` role runs it every few minutes when
``CSKH_REPORT_RECIPIENTS`` and SMTP are set) sends, for each of day, ISO week and month, the
period that just ended, once: each sent mail is a row of the processed-event ledger keyed by
the period, so a second router or a restart sends nothing again. A crash between the SMTP
server's acceptance and that row sends the same period twice (at least once, like replies).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid

import structlog

from connectors.email.send import set_subject
from desk.reports.base import Report
from desk.reports.periods import PERIODS, PeriodKind, Window, local_date, period_start
from desk.reports.registry import build_report
from desk.reports.render import as_csv, as_table
from router.calendars import QueueCalendars
from storage.db import SessionFactory
from storage.ledger import processed, record_processed
from storage.log_events import LogEvent

log = structlog.get_logger(__name__)
LEDGER = "reports:mail"
MAILED = ("satisfaction", "sla")
NAMESPACE = uuid.UUID("5d0f4d4e-6a52-4f1b-9c43-9c2b1d6c7e10")
PERIOD_NAMES = {"day": "ngày", "week": "tuần", "month": "tháng"}
Send = Callable[[EmailMessage], Awaitable[None]]
Clock = Callable[[], datetime]


def previous_window(kind: PeriodKind, today: date) -> Window:
    """The whole period of ``kind`` that ended just before the one holding ``today``."""
    last = period_start(today, kind) - timedelta(days=1)
    return Window(kind, period_start(last, kind), last)


def mail_key(kind: str, label: str) -> uuid.UUID:
    """The ledger key of the mail of one period."""
    return uuid.uuid5(NAMESPACE, f"{kind}:{label}")


def compose(reports: Sequence[Report], kind: str, label: str, sender: str,
            recipients: Sequence[str], now: datetime, domain: str) -> EmailMessage:
    """One mail: the reports as text in the body, each as a CSV attachment (UTF-8 with BOM)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    set_subject(message, f"Báo cáo CSKH {PERIOD_NAMES.get(kind, kind)} {label}: mức độ hài "
                         "lòng và SLA")
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid("cskh-report", domain=domain)
    body = "\n\n".join(as_table(r) for r in reports)
    message.set_content(body, charset="utf-8")
    for report in reports:
        message.add_attachment(as_csv(report), maintype="text", subtype="csv",
                               filename=f"{report.name}-{label}.csv")
    return message


class MailReports:
    """One pass: mail each period that ended and was not mailed yet."""

    def __init__(self, sessions: SessionFactory, send: Send, clock: Clock, *, sender: str,
                 recipients: Sequence[str], calendars: QueueCalendars,
                 domain: str = "cskh.invalid") -> None:
        addresses = [a for _, a in getaddresses(list(recipients)) if "@" in a]
        if not addresses:
            raise ValueError("no e-mail address among the report recipients")
        self._sessions, self._send, self._clock = sessions, send, clock
        self._sender, self._recipients = sender, addresses
        self._calendars, self._domain = calendars, domain

    async def run_once(self) -> int:
        """Mail what is due; return how many mails were sent."""
        now = self._clock()
        sent = 0
        for kind in PERIODS:
            window = previous_window(kind, local_date(now))
            label = next(window.periods())[0]
            key = mail_key(kind, label)
            async with self._sessions() as session:
                if await processed(session, LEDGER, [key]):
                    continue
                reports = [await build_report(session, name, window, None, self._calendars)
                           for name in MAILED]
            await self._send(compose(reports, kind, label, self._sender, self._recipients,
                                     now, self._domain))
            async with self._sessions() as session, session.begin():
                if not await processed(session, LEDGER, [key]):
                    await record_processed(session, LEDGER, [key], now)
            log.info(LogEvent.REPORT_MAILED, period=kind, label=label,
                     recipients=len(self._recipients))
            sent += 1
        return sent
