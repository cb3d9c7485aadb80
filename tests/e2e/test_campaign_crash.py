"""A campaign under kill -9: ``cskh serve`` sending 300 asks by e-mail, killed mid-sending.

300 active accounts, each with one contact, and a campaign created with ``cskh survey campaign
create`` to send now. The service (router and senders in one process) is killed with SIGKILL
once the SMTP server has taken a third of the asks, then started again and left to finish.
What must hold, on both backend pairs:

* every contact is asked: one invitation, one survey, sent, and a mail in the SMTP server;
* no contact is asked twice: every mail a contact received is the same ask (one Message-ID).
  The one honest exception is the transport's: a mail the SMTP server accepted in the instant
  before the kill, whose ledger row never committed, is handed over again with the same
  Message-ID (at-least-once, like every effect that leaves our database), so a receiving
  mailbox shows it once.
"""

from __future__ import annotations

import signal
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from storage.db import create_engine, session_factory
from storage.models import CampaignInvitation, Contact, Customer, Survey
from tests.support.service import Service
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.slow
ACCOUNTS = 300
NAME = "Khảo sát hài lòng 6 tháng cuối 2026"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def db(backend: Any) -> AsyncIterator[Any]:
    engine = create_engine(backend.database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def _seed(db: Any, run: str) -> set[str]:
    """The accounts and their contacts; the contacts' addresses."""
    addresses = set()
    async with db() as s, s.begin():
        customers = [Customer(name=f"Công ty Khách {i}", name_key=f"cong ty khach {i}",
                              tier=("key", "standard", "small")[i % 3]) for i in range(ACCOUNTS)]
        s.add_all(customers)
        await s.flush()
        for i, customer in enumerate(customers):
            address = f"kh{i}.{run}@khachhang{i % 11}.vn"
            addresses.add(address)
            s.add(Contact(name=f"Anh Chị {i}", email=address, customer_id=customer.id))
    return addresses


async def test_kill_9_while_sending_a_campaign_asks_every_contact_once(
        backend: Any, tmp_path: Path, db: Any, smtp: SmtpServer,
        http: aiohttp.ClientSession, wait_for: Callable[..., Any]) -> None:
    service = Service({
        **backend.env(), "CSKH_SMTP_HOST": "127.0.0.1", "CSKH_SMTP_PORT": str(smtp.port),
        "CSKH_SMTP_TLS": "none", "CSKH_MAIL_FROM": "Chăm sóc khách hàng <cskh@congty.vn>",
        "CSKH_MAIL_DOMAIN": "congty.vn", "CSKH_PUBLIC_URL": "https://cskh.congty.vn",
        "CSKH_SURVEY_SECONDS": "0.2"}, tmp_path)
    service.run_cli("migrate")
    addresses = await _seed(db, uuid.uuid4().hex[:8])
    service.run_cli("survey", "campaign", "create", "--name", NAME)
    received = smtp.room.received

    await service.start(http)

    async def a_third() -> bool:
        return len(received) >= ACCOUNTS // 3

    await wait_for(a_third, attempts=1200, interval=0.05)
    assert service.kill() == -signal.SIGKILL
    at_kill = len(received)
    assert at_kill < ACCOUNTS, "the kill came after the sending was over"

    await service.start(http)

    async def everyone() -> bool:
        return {m["To"] for m in received} >= addresses

    await wait_for(everyone, attempts=1200, interval=0.1)

    async def all_sent() -> bool:
        async with db() as s:
            sent = await s.scalar(select(func.count()).select_from(CampaignInvitation).where(
                CampaignInvitation.status == "sent"))
            return bool(sent == ACCOUNTS)

    await wait_for(all_sent, attempts=600, interval=0.1)
    assert service.kill(signal.SIGTERM) == 0

    asks: dict[str, set[str]] = defaultdict(set)
    for mail in received:
        assert mail["Subject"] == NAME
        asks[mail["To"]].add(mail["Message-ID"])
    assert set(asks) == addresses  # none forgotten
    assert all(len(ids) == 1 for ids in asks.values())  # none asked twice
    async with db() as s:
        per_contact = (await s.execute(
            select(CampaignInvitation.contact_id, func.count())
            .group_by(CampaignInvitation.contact_id))).all()
        assert len(per_contact) == ACCOUNTS and all(n == 1 for _c, n in per_contact)
        surveys = await s.scalar(select(func.count()).select_from(Survey).where(
            Survey.kind == "campaign", Survey.status == "sent"))
        assert surveys == ACCOUNTS
        assert await s.scalar(select(func.count()).select_from(Contact)) == ACCOUNTS
    print(f"\n{backend.name}: {at_kill} asks delivered before the kill, "
          f"{len(received)} deliveries for {ACCOUNTS} contacts "
          f"({len(received) - ACCOUNTS} handed over twice, same Message-ID)")
