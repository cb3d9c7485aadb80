"""Tokens that refresh themselves, on both backend pairs, against stand-ins of Zalo's OAuth
and send APIs: an expired token mid-run is refreshed and the reply sent; a token about to
expire is refreshed before use; the rotated refresh token is saved with the access token;
two senders never refresh at once; ``cskh channels auth``/``ls`` seed and show it."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from connectors.sending import SendUnavailable
from connectors.zalo_auth import ZaloRefresh
from connectors.zalo_send import ZaloOaSender
from ingest.cli import main
from ingest.senders import SendReplies, reply_senders
from ingest.tokens import TokenedChat, TokenStore
from router import actions
from router.events import OutboundMessage
from router.staff import add_staff
from storage.db import SessionFactory
from storage.models import ChannelToken, Message, Staff, Ticket
from tests.support.providers import StandIn, serve, zalo_app
from tests.support.zalo_oauth import APP_ID, APP_SECRET, OAuth, oauth_app

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
USER = "8438561224567893215"
THREAD = f"579745863508352884:{USER}"


@pytest.fixture
async def zalo() -> AsyncIterator[StandIn]:
    state = StandIn(tokens={"zl-at-first"})
    async for running in serve(zalo_app(state), state):
        yield running


@pytest.fixture
async def oauth(zalo: StandIn) -> AsyncIterator[OAuth]:
    state = OAuth(api=zalo, live_refresh={"zl-rt-first"})
    holder = StandIn()
    async for running in serve(oauth_app(state), holder):
        state.url = running.url
        yield state


async def seed(sessions: SessionFactory, *, expires_at: datetime | None) -> None:
    async with sessions() as session, session.begin():
        session.add(ChannelToken(channel="zalo", account="", access_token="zl-at-first",
                                 refresh_token="zl-rt-first", expires_at=expires_at,
                                 updated_at=NOW))


async def stored(sessions: SessionFactory) -> ChannelToken:
    async with sessions() as session:
        return await session.get_one(ChannelToken, ("zalo", ""), populate_existing=True)


def store(sessions: SessionFactory, oauth: OAuth, owner: str | None = None) -> TokenStore:
    refresh = ZaloRefresh(APP_ID, APP_SECRET, oauth.url, timeout=5.0)
    return TokenStore(sessions, lambda: NOW, "zalo", refresh, owner=owner)


async def zalo_reply(sessions: SessionFactory, text: str) -> bytes:
    async with sessions() as session, session.begin():
        new = await add_staff(session, f"Lan-{uuid.uuid4().hex[:4]}", ["cskh"], role="admin")
        lan = await session.get_one(Staff, new.id)
        ticket = Ticket(channel="zalo", thread_key=THREAD, status="assigned", queue="cskh",
                        assignee_id=lan.id, created_at=NOW)
        session.add(ticket)
        await session.flush()
        wrote = NOW - timedelta(hours=2)
        session.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(), channel="zalo",
                            external_id=uuid.uuid4().hex, text="Em hỏi hóa đơn",
                            sent_at=wrote, received_at=wrote))
        event = await actions.reply(session, lan, ticket, text, NOW)
    return event.model_dump_json().encode()


async def test_a_token_expired_mid_run_is_refreshed_and_the_reply_sent(
        backend: Any, sessions: SessionFactory, zalo: StandIn, oauth: OAuth) -> None:
    await seed(sessions, expires_at=NOW + timedelta(hours=20))  # we think it is still good
    zalo.tokens = {"zl-at-revoked"}  # ... but Zalo says -216 for it
    settings = backend.settings(zalo_app_id=APP_ID, zalo_app_secret=APP_SECRET,
                                zalo_oauth_url=oauth.url, zalo_api_url=zalo.url)
    senders = reply_senders(settings, sessions, lambda: NOW)
    send = SendReplies(sessions, senders, lambda: NOW)
    event = await zalo_reply(sessions, "Dạ em đã xuất lại hóa đơn ạ.")
    await send([event])
    assert zalo.texts(USER) == ["Dạ em đã xuất lại hóa đơn ạ."]
    assert oauth.calls == 1
    row = await stored(sessions)
    assert row.access_token in zalo.tokens and row.refresh_token in oauth.live_refresh
    assert row.refresh_token != "zl-rt-first"  # the rotated one, saved with the access token
    assert row.expires_at == NOW + timedelta(seconds=90000)
    assert row.refreshed_at == NOW and row.lease_owner is None and row.last_error is None
    async with sessions() as session:
        reply = await session.get_one(Message, OutboundMessage.model_validate_json(
            event).message_id)
    assert reply.delivery_status == "sent"


async def test_a_token_about_to_expire_is_refreshed_before_use_once_for_two_senders(
        sessions: SessionFactory, zalo: StandIn, oauth: OAuth) -> None:
    await seed(sessions, expires_at=NOW + timedelta(minutes=5))  # within the 10-minute margin
    oauth.delay = 0.5  # the two refreshes overlap
    make = ZaloOaSender
    first, second = store(sessions, oauth, "a"), store(sessions, oauth, "b")
    got = await asyncio.gather(
        TokenedChat("zalo", lambda t: make(t, zalo.url), first).send(THREAD, "Dạ một."),
        TokenedChat("zalo", lambda t: make(t, zalo.url), second).send(THREAD, "Dạ hai."),
        return_exceptions=True)
    assert oauth.calls == 1  # one refresh: the other sender found the lease taken
    sent = [g for g in got if isinstance(g, str)]
    assert len(sent) == 1 and isinstance(next(g for g in got if g not in sent), SendUnavailable)
    assert zalo.attempts == 1  # no send with the expiring token
    await TokenedChat("zalo", lambda t: make(t, zalo.url), second).send(THREAD, "Dạ ba.")
    assert oauth.calls == 1 and len(zalo.texts(USER)) == 2
    assert (await stored(sessions)).refresh_token in oauth.live_refresh


async def test_a_sender_that_remembers_a_token_another_refreshed_takes_the_new_one(
        sessions: SessionFactory, zalo: StandIn, oauth: OAuth) -> None:
    await seed(sessions, expires_at=NOW + timedelta(hours=20))
    first, second = store(sessions, oauth, "a"), store(sessions, oauth, "b")
    chat = TokenedChat("zalo", lambda t: ZaloOaSender(t, zalo.url), second)
    await chat.send(THREAD, "Dạ một.")  # the second sender remembers zl-at-first
    await first.rejected("", "zl-at-first")  # the first refreshes it (Zalo drops the old)
    assert oauth.calls == 1 and "zl-at-first" not in zalo.tokens
    await chat.send(THREAD, "Dạ hai.")  # refused with the old one, sent with the stored one
    assert oauth.calls == 1 and zalo.texts(USER) == ["Dạ một.", "Dạ hai."]
    assert (await stored(sessions)).refresh_token in oauth.live_refresh


async def test_channels_auth_seeds_and_ls_shows_without_the_tokens(
        backend: Any, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CSKH_ZALO_APP_ID", APP_ID)
    monkeypatch.setenv("CSKH_ZALO_APP_SECRET", APP_SECRET)

    async def cli(*argv: str, stdin: str = "") -> int:  # the CLI runs its own event loop
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        return await asyncio.to_thread(main, list(argv))

    assert await cli("channels", "auth", "zalo", "--tokens-stdin", "--expires-in", "90000",
                     "--json", stdin="zl-at-seeded\nzl-rt-seeded\n") == 0
    seeded = json.loads(capsys.readouterr().out)
    assert seeded["channel"] == "zalo" and seeded["refresh_token"] is True
    assert await cli("channels", "auth", "shopee", "--tokens-stdin", "--shop-id", "220611345",
                     stdin="sp-at\n") == 0
    assert await cli("channels", "auth", "shopee", "--tokens-stdin", stdin="sp-at\n") == 2
    # no tokens as arguments (any user of the host reads a process's arguments), and none
    # asked for without a terminal
    with pytest.raises(SystemExit) as refused:
        await cli("channels", "auth", "zalo", "--access-token", "zl-at")
    assert refused.value.code == 2
    capsys.readouterr()
    assert await cli("channels", "auth", "zalo") == 2
    assert "--tokens-stdin" in capsys.readouterr().err
    event = await zalo_reply(sessions, "Dạ em gửi lại hóa đơn ạ.")
    async with sessions() as session, session.begin():
        reply = await session.get_one(Message, OutboundMessage.model_validate_json(
            event).message_id)
        reply.delivery_status, reply.delivery_code = "failed", "window_closed"
        reply.delivery_reason, reply.delivery_updated_at = "the customer must write first", NOW
    capsys.readouterr()
    assert await cli("channels", "ls", "--json") == 0
    out = capsys.readouterr().out
    assert "zl-at-seeded" not in out and "zl-rt-seeded" not in out and "sp-at" not in out
    rows = {r["channel"]: r for r in json.loads(out)}
    assert list(rows) == ["email", "facebook", "zalo", "shopee", "lazada", "tiktok"]
    zalo = rows["zalo"]
    assert zalo["configured"] is True and zalo["token"] == "stored"
    assert zalo["tokens"][0]["account"] is None and zalo["tokens"][0]["refreshable"] is True
    assert zalo["tokens"][0]["expires_at"] is not None
    assert zalo["last_error"] == "window_closed: the customer must write first"
    assert zalo["last_error_at"] == NOW.isoformat() and zalo["last_success_at"] is None
    assert rows["shopee"]["configured"] is False  # no partner id and key: the token waits
    assert rows["shopee"]["tokens"][0]["account"] == "220611345"
    assert rows["email"]["configured"] is False and rows["email"]["token"] is None
    assert await cli("channels", "ls") == 0
    text = capsys.readouterr().out
    assert "zalo" in text and "window_closed" in text and "zl-at" not in text
    async with sessions() as session:
        assert (await session.scalars(select(ChannelToken.access_token).where(
            ChannelToken.channel == "zalo"))).one() == "zl-at-seeded"
    assert await cli("channels", "auth", "zalo", "--tokens-stdin", stdin=" \nzl-rt\n") == 2
