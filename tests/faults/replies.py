"""Staff replies in the fault suite: officers answer Messenger tickets through the staff API
while the faults happen; the ``senders`` process sends them to a Messenger Send API stand-in
(``tests/support/providers.py``, which checks the token, the page and the body as the Graph
API does). Each reply the API acknowledged must reach the stand-in exactly once.

Each reply is posted with an ``Idempotency-Key``: one whose answer is lost (a reset, a timeout)
or answered 503 is posted again with the same key, as an officer's browser would, and must still
reach the stand-in exactly once. Only a reply given up after two minutes is counted apart, as
"unknown", and left out of the exactly-once check.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from storage.db import create_engine, session_factory
from storage.models import Ticket
from tests.support.providers import StandIn


@dataclass
class Replies:
    """What the repliers posted and what the stand-in received."""

    acknowledged: dict[str, int] = field(default_factory=dict)  # text → ticket id
    unknown: int = 0  # given up after two minutes: maybe stored, maybe not
    retried: int = 0  # answered 503, or its answer lost, and posted again with its key
    refused: list[str] = field(default_factory=list)  # a 4xx/5xx with its reason

    def check(self, state: StandIn) -> tuple[int, int, int]:
        """(acknowledged, never sent, sent more than once) against what the stand-in got."""
        sent = Counter(text for _, text in state.sent)
        missing = sum(1 for text in self.acknowledged if sent[text] == 0)
        twice = sum(1 for text in self.acknowledged if sent[text] > 1)
        return len(self.acknowledged), missing, twice


async def reply_loop(http: aiohttp.ClientSession, database_url: str,
                     urls: Callable[[], list[str]], tokens: dict[int, str], want: int,
                     rng: random.Random, done: asyncio.Event, replies: Replies) -> None:
    """Reply once to each assigned Messenger ticket, up to ``want`` of them, until ``done``
    is set and ``want`` is reached (or nothing is left to answer)."""
    answered: set[int] = set()
    engine = create_engine(database_url)
    try:
        while len(answered) < want:
            try:
                async with session_factory(engine)() as s:
                    rows = (await s.execute(
                        select(Ticket.id, Ticket.assignee_id)
                        .where(Ticket.channel == "facebook", Ticket.status == "assigned",
                               Ticket.assignee_id.is_not(None)))).all()
            except (DBAPIError, OSError):  # PostgreSQL restarting (pg-restart): look again
                await asyncio.sleep(0.5)
                continue
            todo = [(t, a) for t, a in rows if t not in answered and a in tokens]
            if not todo:
                if done.is_set():
                    return
                await asyncio.sleep(0.5)
                continue
            for ticket_id, assignee in todo[: want - len(answered)]:
                answered.add(ticket_id)
                await _reply(http, urls, tokens[assignee], ticket_id, rng, replies)
    finally:
        await engine.dispose()


async def _reply(http: aiohttp.ClientSession, urls: Callable[[], list[str]], token: str,
                 ticket_id: int, rng: random.Random, replies: Replies) -> None:
    text = f"Dạ, bên em đã nhận phản hồi số {ticket_id} và đang xử lý ạ."
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    began = time.monotonic()
    status, body = 0, ""
    while True:
        if time.monotonic() - began > 120:
            replies.unknown += 1
            return
        if not urls():  # every webhooks process down: wait for one, as an officer would
            await asyncio.sleep(0.2)
            continue
        try:
            async with http.post(f"{rng.choice(urls())}/api/v1/tickets/{ticket_id}/reply",
                                 json={"text": text}, headers=headers) as resp:
                body = await resp.text()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError):
            status = 0  # the answer is lost: maybe stored, maybe not; the key makes it once
        # 503: the bus or the database is down and nothing was kept
        if status not in (0, 503):
            break
        replies.retried += 1
        await asyncio.sleep(1.0)
    if 200 <= status < 300:
        replies.acknowledged[text] = ticket_id
    else:
        replies.refused.append(f"ticket {ticket_id}: {status} {body[:200]}")
