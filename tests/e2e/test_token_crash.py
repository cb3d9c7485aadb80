"""A Zalo token refreshed by ``cskh serve`` survives a kill -9 right after the refresh.

Zalo's refresh tokens are single-use: once the OAuth server answered, only the rotated one
works. The service is killed (SIGKILL) the moment its first send with the new access token
arrives, before Zalo answers it; the database must then hold the rotated refresh token (saved
before the new access token was used), and the restarted service sends the reply once with
the stored token, without refreshing again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from storage.db import create_engine, session_factory
from storage.models import ChannelToken, Message, Staff, Ticket
from tests.support.providers import StandIn, serve, zalo_app
from tests.support.service import Service
from tests.support.zalo_oauth import APP_ID, APP_SECRET, OAuth, oauth_app

USER = "8438561224567893215"
THREAD = f"579745863508352884:{USER}"
TEXT = "Dạ em đã gửi lại hóa đơn điện tử cho anh ạ."


@pytest.fixture
async def zalo() -> AsyncIterator[StandIn]:
    state = StandIn(tokens={"zl-at-first"})
    async for running in serve(zalo_app(state), state):
        yield running


@pytest.fixture
async def oauth(zalo: StandIn) -> AsyncIterator[OAuth]:
    state = OAuth(api=zalo, live_refresh={"zl-rt-first"})
    async for running in serve(oauth_app(state), StandIn()):
        state.url = running.url
        yield state


async def a_zalo_ticket(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            lan = (await session.scalars(select(Staff))).first()
            assert lan is not None
            now = datetime.now(UTC)
            ticket = Ticket(channel="zalo", thread_key=THREAD, status="assigned", queue="cskh",
                            assignee_id=lan.id, created_at=now)
            session.add(ticket)
            await session.flush()
            wrote = now - timedelta(hours=1)
            session.add(Message(ticket_id=ticket.id, envelope_id=uuid.uuid4(), channel="zalo",
                                external_id=uuid.uuid4().hex, text="Em chưa nhận được hóa đơn",
                                sent_at=wrote, received_at=wrote))
            return ticket.id
    finally:
        await engine.dispose()


async def read(database_url: str) -> tuple[ChannelToken, Message | None]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            token = await session.get_one(ChannelToken, ("zalo", ""))
            reply = (await session.scalars(select(Message).where(
                Message.direction == "outbound"))).first()
            return token, reply
    finally:
        await engine.dispose()


async def test_the_rotated_refresh_token_survives_a_kill_9_right_after_the_refresh(
        backend: Any, tmp_path: Path, http: aiohttp.ClientSession, zalo: StandIn,
        oauth: OAuth, wait_for: Callable[..., Awaitable[object]]) -> None:
    service = Service({**backend.env(), "CSKH_ZALO_APP_ID": APP_ID,
                       "CSKH_ZALO_APP_SECRET": APP_SECRET, "CSKH_ZALO_API_URL": zalo.url,
                       "CSKH_ZALO_OAUTH_URL": oauth.url}, tmp_path)
    killed: list[str] = []
    first_run = True

    @web.middleware
    async def kill_on_first_new_token(request: web.Request,
                                      handler: Callable[..., Awaitable[web.StreamResponse]],
                                      ) -> web.StreamResponse:
        token = request.headers.get("access_token", "")
        if first_run and token != "zl-at-first" and token in zalo.tokens:
            killed.append(token)  # the refresh is done; the new token is in use: kill -9
            service.kill()
            return web.json_response({"error": -32, "message": "gone"}, status=503)
        return await handler(request)

    app = zalo_app(zalo)  # the Zalo stand-in with a killer in front of its handler
    app.middlewares.append(kill_on_first_new_token)
    async for killer in serve(app, zalo):
        service.env["CSKH_ZALO_API_URL"] = killer.url
        await asyncio.to_thread(service.run_cli, "migrate")
        await asyncio.to_thread(service.run_cli, "staff", "add", "--name", "Lan", "--queue",
                                "cskh")
        # expires within the service's 10-minute margin: refreshed before the first send
        await asyncio.to_thread(service.run_cli, "channels", "auth", "zalo", "--tokens-stdin",
                                "--expires-in", "60", stdin="zl-at-first\nzl-rt-first\n")
        ticket = await a_zalo_ticket(backend.database_url)
        await service.start(http)
        await asyncio.to_thread(service.run_cli, "ticket", "reply", str(ticket), TEXT, "--as",
                                "Lan")
        await wait_for(lambda: killed, attempts=1200, interval=0.05)
        assert service.proc is None and oauth.calls == 1 and zalo.texts(USER) == []

        token, reply = await read(backend.database_url)
        assert token.refresh_token in oauth.live_refresh  # the rotated one, not lost
        assert token.refresh_token != "zl-rt-first" and token.access_token == killed[0]
        assert reply is not None and reply.delivery_status == "pending"

        first_run = False
        await service.start(http)

        async def sent() -> bool:
            _token, again = await read(backend.database_url)
            return again is not None and again.delivery_status == "sent"

        await wait_for(sent, attempts=1200, interval=0.05)
        assert zalo.texts(USER) == [TEXT] and oauth.calls == 1  # once; no second refresh
        service.kill()
