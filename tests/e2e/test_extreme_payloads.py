"""Property: no validly signed post is a server error, and whatever is accepted is read back.

Hypothesis builds payloads from each provider's own models (``tests.support.extreme``) with
extreme values in every field, signs each the provider's way and posts it over HTTP to the
whole service (``create_app``, every role, SQLite + embedded log) running in a thread of its
own. Every answer must be below 500 and a JSON body (a 4xx with its ``reason``). At the end,
every envelope those answers put on ``cskh.inbound`` must have been read by the normalizer:
each message is exactly one stored message, nothing is dead-lettered.

``CSKH_HYPOTHESIS_EXAMPLES`` sets the examples per channel (default 150).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Coroutine, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from connectors import facebook, hotline, lazada, shopee, tiktok, webform, zalo
from ingest.bus.topics import DLQ, INBOUND
from ingest.keys import BUS, SESSIONS
from ingest.settings import Settings
from ingest.web.app import create_app
from storage.db import create_engine
from storage.migrate import upgrade
from storage.models import Message, ProcessedEvent
from tests.support.bus import read_all
from tests.support.extreme import Strategy, payloads
from tests.support.service import free_port
from tests.support.signers import SECRETS, signed

T = TypeVar("T")
EXAMPLES = int(os.environ.get("CSKH_HYPOTHESIS_EXAMPLES", "150"))
PHONES = st.sampled_from(["0912345678", "+84912345678", "19006868", "101", "anonymous", ""])


def _events(names: Iterable[object]) -> Strategy:
    return st.sampled_from(sorted(str(n) for n in names))


def _facebook() -> Strategy:
    fixed: dict[str, Strategy] = {"FbWebhook.object": st.just("page"),
                                  "FbMessage.is_echo": st.just(False)}
    fixed["FbMessaging.message"] = payloads(facebook.FbMessage, fixed) | st.none()
    fixed["FbEntry.messaging"] = st.lists(payloads(facebook.FbMessaging, fixed), min_size=1,
                                          max_size=3)
    return payloads(facebook.FbWebhook, fixed)


# Per channel: the event models and the fields pinned so that each kind of event is drawn.
STRATEGIES: dict[str, Strategy] = {
    "facebook": _facebook(),
    "zalo": st.one_of(
        payloads(zalo.ZaloMessageEvent, {
            "ZaloEvent.event_name": _events(n for n in zalo.EVENTS if "send" in n),
            "ZaloMessageEvent.event_name": _events(n for n in zalo.EVENTS if "send" in n)}),
        payloads(zalo.ZaloFollowEvent, {
            "ZaloFollowEvent.event_name": st.sampled_from(["follow", "unfollow"])}),
        payloads(zalo.ZaloEvent, {"ZaloEvent.event_name": _events(zalo.EVENTS)})),
    "shopee": st.one_of(
        payloads(shopee.ShopeeWebchatPush, {
            "ShopeeWebchatPush.code": st.just(10), "ShopeeWebchat.type": st.just("message"),
            "ShopeeWebchatPush.shop_id": st.just("220012345"),
            "ShopeeChatMessage.message_type": st.sampled_from(["text", "image", "item"])}),
        payloads(shopee.ShopeePush, {"ShopeePush.code": st.sampled_from(sorted(shopee.CODES))})),
    "lazada": st.one_of(
        payloads(lazada.LazadaImPush, {
            "LazadaImPush.message_type": st.just(2),
            "LazadaImMessage.from_account_type": st.just(lazada.BUYER),
            "LazadaImMessage.type": st.just(lazada.USER_SENT),
            "LazadaImMessage.auto_reply": st.just(False),
            "LazadaImMessage.status": st.just(0)}),
        payloads(lazada.LazadaPush, {
            "LazadaPush.message_type": st.sampled_from(sorted(lazada.MESSAGE_TYPES))})),
    "tiktok": st.one_of(
        payloads(tiktok.TikTokMessageNotification, {
            "TikTokMessageNotification.type": st.just(14),
            "TikTokSender.role": st.just("BUYER"), "TikTokMessage.is_visible": st.just(True)}),
        payloads(tiktok.TikTokNotification, {
            "TikTokNotification.type": st.sampled_from(sorted(tiktok.TYPES))})),
    "hotline": payloads(hotline.CallEvent, {
        "CallEvent.event": _events(hotline.EVENTS),
        "CallEvent.direction": st.sampled_from(["inbound", "outbound"]),
        "CallEvent.caller": PHONES, "CallEvent.callee": PHONES,
        "CallEvent.cause": st.sampled_from(["NO_ANSWER", "BUSY", "ANSWERED", "abandoned"])}),
    "webform": payloads(webform.WebformSubmission, {
        "WebformSubmission.email": st.sampled_from(["hoa@abc.vn", "HOA@ABC.VN"]),
        "WebformSubmission.phone": st.sampled_from(["0912 345 678", "+84 912 345 678"])}),
}


class Running:
    """The service on a port of 127.0.0.1, its event loop in a thread of its own."""

    def __init__(self, tmp: Path) -> None:
        self.settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp / 'cskh.db'}", bus="sqlite",
            log_format="console", log_level="ERROR", **SECRETS)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.accepted: list[str] = []
        self.answers: Counter[tuple[str, int, str]] = Counter()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(300)

    async def _start(self) -> None:
        engine = create_engine(self.settings.database_url)
        await upgrade(engine)
        await engine.dispose()
        self.runner = web.AppRunner(create_app(self.settings))
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def start(self) -> None:
        self.thread.start()
        self.call(self._start())

    def stop(self) -> None:
        if self.runner is not None:
            self.call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(60)

    @property
    def app(self) -> web.Application:
        assert self.runner is not None
        return self.runner.app

    def post(self, channel: str, body: bytes) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/webhooks/{channel}", data=body,
            headers=signed(channel, body), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=120) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, text.decode(errors="replace")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory,
            trained_model: Path) -> Iterator[Running]:
    running = Running(tmp_path_factory.mktemp("extreme"))
    running.start()
    yield running
    running.stop()


@pytest.mark.parametrize("channel", sorted(STRATEGIES))
def test_no_signed_post_is_a_server_error(service: Running, channel: str) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    @given(payload=STRATEGIES[channel])
    def post(payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        status, answer = service.post(channel, body)
        assert status < 500, (status, answer)
        assert isinstance(answer, dict), answer  # JSON, whatever the answer
        service.answers[channel, status, str(answer.get("error") or answer.get("status"))] += 1
        if status >= 400:
            assert answer.get("reason") or answer.get("error"), answer
        else:
            service.accepted.extend(answer.get("ids", []))

    post()


def test_whatever_was_accepted_is_one_message_or_contact_event(service: Running) -> None:
    """Every envelope appended by the posts above is read back and applied: exactly one stored
    message per message envelope, contact events in the ledger, nothing dead-lettered."""

    async def state() -> tuple[set[str], set[str], dict[str, int], int]:
        records = await read_all(service.app[BUS], INBOUND)
        envelopes = [json.loads(r.value) for r in records]
        messages = {e["id"] for e in envelopes if e.get("kind", "message") == "message"}
        everything = {e["id"] for e in envelopes}
        async with service.app[SESSIONS]() as session:
            done = set(map(str, await session.scalars(select(ProcessedEvent.event_id).where(
                ProcessedEvent.consumer == "normalizer"))))
            counts = dict((str(k), int(v)) for k, v in (await session.execute(
                select(Message.envelope_id, func.count()).group_by(Message.envelope_id))).all())
        dead = len(await read_all(service.app[BUS], DLQ))
        return everything - done, messages, counts, dead

    async def settled() -> tuple[set[str], set[str], dict[str, int], int]:
        for _ in range(1200):
            pending, messages, counts, dead = await state()
            if not pending or dead:
                return pending, messages, counts, dead
            await asyncio.sleep(0.05)
        return await state()

    pending, messages, counts, dead = service.call(settled())
    assert messages or not service.accepted
    assert dead == 0
    assert not pending
    assert set(service.accepted) <= messages | set(counts) | _contact_ids(service)
    assert {m: counts.get(m, 0) for m in messages} == dict.fromkeys(messages, 1)


def _contact_ids(service: Running) -> set[str]:
    async def ids() -> set[str]:
        records = await read_all(service.app[BUS], INBOUND)
        return {json.loads(r.value)["id"] for r in records
                if json.loads(r.value).get("kind") == "contact"}

    return service.call(ids())
