"""``ImapPuller.run`` against Dovecot: IDLE wakes it for new mail, polling where IDLE is
missing, a prompt stop, reconnects with backoff, TLS with the right and a wrong CA."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from prometheus_client import REGISTRY

from connectors.email.imap import ImapMailbox, ImapSession
from connectors.envelope import InboundEnvelope
from ingest import imap as imap_module
from ingest.backoff import Backoff
from ingest.imap import ImapPuller
from ingest.mailboxes import MailboxConfig
from ingest.pullers import imap_pullers
from ingest.settings import Settings
from storage.log_events import LogEvent
from tests.support.bus import RecordingBus

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
FOREVER = 3600.0  # a poll interval no test waits for


def mail(n: int) -> bytes:
    return (f"From: An <an@abc.vn>\r\nTo: cskh@congty.vn\r\nSubject: Don hang {n}\r\n"
            f"Message-ID: <loop-{n}@abc.vn>\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"\r\nĐơn hàng {n} giao thiếu 2 thùng.\r\n").encode()


class Events:
    """Stands in for the module's structlog logger and remembers event names."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def _log(self, event: str, **fields: Any) -> None:
        self.seen.append((str(event), fields))

    info = warning = debug = error = _log

    def named(self, event: LogEvent) -> list[dict[str, Any]]:
        return [fields for name, fields in self.seen if name == event]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Events:
    recorder = Events()
    monkeypatch.setattr(imap_module, "log", recorder)
    return recorder


def no_idle() -> type[IMAPClient]:
    class NoIdle(IMAPClient):  # type: ignore[misc]
        def has_capability(self, capability: str) -> bool:
            return capability.upper() != "IDLE" and bool(super().has_capability(capability))
    return NoIdle


async def stopped(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.wait_for(task, timeout=30)  # a bound on a hang, not a timing assertion


async def idle_woke(session: ImapSession, wait_for: Callable[..., Any]) -> bool | None:
    """What ``session.idle_wait`` (with a poll interval no test waits for) returned, or
    ``None`` when it did not return in time; the session is closed afterwards."""
    halt = threading.Event()
    waiting = asyncio.create_task(asyncio.to_thread(session.idle_wait, FOREVER, halt))
    try:
        await wait_for(waiting.done, attempts=200)
        return waiting.result() if waiting.done() else None
    finally:
        halt.set()
        await asyncio.wait([waiting])
        session.close()


async def test_mail_appended_while_idling_is_fetched_without_waiting_for_the_poll(
        mailbox: Callable[..., ImapMailbox], mail_folder: str, imap: Callable[..., Any],
        tmp_path: Path, wait_for: Callable[..., Any], events: Events) -> None:
    bus = RecordingBus()
    pull = ImapPuller(mailbox(), bus, tmp_path / "cursor.json", lambda: NOW)
    stop = asyncio.Event()
    task = asyncio.create_task(pull.run(stop, FOREVER))
    try:
        await wait_for((tmp_path / "cursor.json").exists)  # the first pass is done: idling
        imap(lambda c: c.append(mail_folder, mail(1)))
        assert await wait_for(lambda: bus.ids() == ["loop-1@abc.vn"], attempts=600)
        imap(lambda c: c.append(mail_folder, mail(2)))
        assert await wait_for(lambda: len(bus.ids()) == 2, attempts=600)
    finally:
        await stopped(task, stop)
        pull.close()
    assert bus.ids() == ["loop-1@abc.vn", "loop-2@abc.vn"]
    assert events.named(LogEvent.PULLER_IDLE)


async def test_mail_that_came_just_before_idle_started_wakes_it(
        mailbox: Callable[..., ImapMailbox], mail_folder: str, imap: Callable[..., Any],
        wait_for: Callable[..., Any]) -> None:
    """Dovecot announces mail that arrived after our last command only when the IDLE ends:
    without asking first, it waited for the poll interval (30 s by default)."""
    session = ImapSession(mailbox())
    session.select()
    assert session.uids_after(0) == []
    imap(lambda c: c.append(mail_folder, mail(9)))  # lands between the search and the IDLE
    assert await idle_woke(session, wait_for) is True


async def test_mail_announced_in_an_earlier_answer_wakes_idle(
        mailbox: Callable[..., ImapMailbox], mail_folder: str, imap: Callable[..., Any],
        wait_for: Callable[..., Any]) -> None:
    """Mail that arrives while another command runs (a SEARCH, a MOVE) is announced in that
    command's answer; the NOOP before IDLE then reports nothing new. Without looking at what
    the earlier answer carried, IDLE waited for the poll interval."""
    session = ImapSession(mailbox())
    session.select()
    imap(lambda c: c.append(mail_folder, mail(8)))
    session._call(lambda c: c.noop())  # an answer nobody reads carries the EXISTS
    assert await idle_woke(session, wait_for) is True


async def test_a_fresh_select_is_not_news(
        mailbox: Callable[..., ImapMailbox], mail_folder: str, imap: Callable[..., Any]) -> None:
    imap(lambda c: c.append(mail_folder, mail(7)))
    session = ImapSession(mailbox())
    session.select()  # reports 1 EXISTS: mail we are about to search for, not new mail
    try:
        assert session.idle_wait(0.5, threading.Event()) is False
    finally:
        session.close()


async def test_without_idle_it_polls(
        mailbox: Callable[..., ImapMailbox], mail_folder: str, imap: Callable[..., Any],
        tmp_path: Path, wait_for: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    bus = RecordingBus()
    box = mailbox()
    session = ImapSession(box, client_factory=no_idle())

    def never(*_args: Any) -> bool:
        raise AssertionError("IDLE used on a server without it")

    monkeypatch.setattr(session, "idle_wait", never)
    pull = ImapPuller(box, bus, tmp_path / "cursor.json", lambda: NOW, session=session)
    stop = asyncio.Event()
    task = asyncio.create_task(pull.run(stop, 0.1))
    try:
        imap(lambda c: c.append(mail_folder, mail(1)))
        assert await wait_for(lambda: bus.ids() == ["loop-1@abc.vn"], attempts=600)
    finally:
        await stopped(task, stop)
        pull.close()


def test_backoff_grows_to_its_cap_with_jitter_and_resets() -> None:
    top = Backoff(initial=1, cap=300, rand=lambda: 1.0)
    assert [top.next_delay() for _ in range(11)] == [
        1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    top.reset()
    assert top.next_delay() == 1
    low = Backoff(initial=1, cap=300, rand=lambda: 0.0)
    assert [low.next_delay() for _ in range(3)] == [0.5, 1, 2]


async def test_failures_back_off_and_a_success_resets(
        mailbox: Callable[..., ImapMailbox], mail_folder: str, imap: Callable[..., Any],
        tmp_path: Path, wait_for: Callable[..., Any], events: Events) -> None:
    attempts: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> IMAPClient:
        attempts.append(1)
        if len(attempts) <= 3:
            raise ConnectionRefusedError("server restarting")
        return IMAPClient(*args, **kwargs)

    imap(lambda c: c.append(mail_folder, mail(1)))
    box = mailbox()
    bus = RecordingBus()
    backoff = Backoff(initial=0.01, cap=0.02, rand=lambda: 1.0)
    pull = ImapPuller(box, bus, tmp_path / "cursor.json", lambda: NOW,
                      session=ImapSession(box, client_factory=flaky))
    labels = {"channel": "email", "source": f"{box.name}/{mail_folder}"}

    def figure(name: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    stop = asyncio.Event()
    task = asyncio.create_task(pull.run(stop, FOREVER, backoff=backoff))
    try:
        assert await wait_for(lambda: figure("cskh_puller_failures_total") == 3, attempts=600)
        assert await wait_for(lambda: bus.ids() == ["loop-1@abc.vn"], attempts=600)
        # the puller's state as an operator sees it: failing three times, then up again
        assert await wait_for(lambda: figure("cskh_puller_up") == 1)
        assert figure("cskh_puller_lease_held") == 1
        assert (figure("cskh_puller_last_success_timestamp_seconds") or 0) > 0
    finally:
        await stopped(task, stop)
        pull.close()
    assert [e["delay"] for e in events.named(LogEvent.PULLER_BACKOFF)] == [0.01, 0.02, 0.02]
    assert len(events.named(LogEvent.PULLER_FAILED)) == 3
    assert events.named(LogEvent.PULLER_RECOVERED) == [
        {"channel": "email", "mailbox": box.name, "folder": mail_folder, "failures": 3}]
    assert backoff.failures == 0


def tls_settings(imaps_server: Any, folder: str, tmp_path: Path, ca_file: Path) -> Settings:
    box = MailboxConfig(name="tls", host=imaps_server.host, port=imaps_server.port,
                        user=imaps_server.user, password=imaps_server.password,
                        tls=True, ca_file=ca_file, folders=[folder], queue="accounting")
    return Settings(mailboxes=[box], imap_cursor_path=tmp_path / "cursors",
                    attachment_dir=tmp_path / "files")


async def test_mail_is_pulled_over_tls_trusting_the_configured_ca(
        imaps_server: Any, mail_folder: str, imap: Callable[..., Any], tmp_path: Path) -> None:
    imap(lambda c: c.append(mail_folder, mail(1)))
    (tmp_path / "cursors").mkdir()
    bus = RecordingBus()
    (pull,) = imap_pullers(tls_settings(imaps_server, mail_folder, tmp_path,
                                        imaps_server.ca_file), bus, lambda: NOW)
    try:
        assert pull.mailbox.tls and pull.mailbox.port == imaps_server.port
        assert await pull.run_once() == 1
    finally:
        await pull.aclose()
    (envelope,) = [InboundEnvelope.model_validate_json(r.value) for r in bus.records]
    assert (envelope.external_id, envelope.queue_hint) == ("loop-1@abc.vn", "accounting")
    assert envelope.raw["mailbox"] == "tls"


async def test_a_wrong_ca_is_a_clear_logged_error_not_a_crash(
        imaps_server: Any, mail_folder: str, tmp_path: Path, wait_for: Callable[..., Any],
        events: Events) -> None:
    wrong = tmp_path / "wrong-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=not the test CA", "-keyout", str(tmp_path / "wrong.key"),
                    "-out", str(wrong)], check=True, capture_output=True)
    bus = RecordingBus()
    (pull,) = imap_pullers(tls_settings(imaps_server, mail_folder, tmp_path, wrong), bus,
                           lambda: NOW)
    stop = asyncio.Event()
    task = asyncio.create_task(
        pull.run(stop, FOREVER, backoff=Backoff(initial=0.01, cap=0.02)))
    try:
        failed = await wait_for(lambda: len(events.named(LogEvent.PULLER_TLS_FAILED)) >= 2
                                and events.named(LogEvent.PULLER_TLS_FAILED))
        assert not task.done()  # still retrying
    finally:
        await stopped(task, stop)
        await pull.aclose()
    assert "CERTIFICATE_VERIFY_FAILED" in failed[0]["error"]
    assert failed[0]["mailbox"] == "tls" and bus.records == []
    assert not events.named(LogEvent.PULLER_FAILED)
