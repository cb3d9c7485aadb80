"""Odd input through the real service, on both backend pairs: what a webhook answers 2xx ends
as exactly one message (never a dead letter), what it cannot carry is a 400 that puts nothing
on the bus, and one enormous message neither stalls the service nor is lost."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from connectors.payloads import MAX_JSON_DEPTH
from ingest.bus.topics import DLQ, INBOUND
from ingest.keys import BUS
from ingest.web.app import create_app
from normalizer.classifier import Classifier
from router.staff import add_staff
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from tests.support.bus import read_all
from tests.support.signers import SECRETS, signed

Client = TestClient[web.Request, web.Application]
AiohttpClient = Callable[[web.Application], Awaitable[Client]]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
QUEUES = ("cskh", "sales", "warehouse", "accounting", "technical")
# One customer message per channel, and where in it the provider may add a field we ignore
# (inside the event whose JSON the envelope keeps as ``raw``).
MESSAGES: dict[str, tuple[str, tuple[str | int, ...]]] = {
    "facebook": ("message__text", ("entry", 0, "messaging", 0)),
    "zalo": ("user_send_text__plain", ()),
    "shopee": ("webchat__text", ("data",)),
    "lazada": ("im_message__text", ("data",)),
    "tiktok": ("new_message__text", ("data",)),
    "hotline": ("hangup__no_answer", ()),
    "webform": ("submission__json_full", ()),
}


def fixture_body(channel: str, name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / channel / f"{name}.json").read_text(encoding="utf-8"))
    body: dict[str, Any] = data["body"]
    return body


def depth(value: Any) -> int:
    """Levels of objects and arrays in ``value`` (a scalar: 0)."""
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def with_deep_extra(channel: str, total_depth: int) -> dict[str, Any]:
    """The channel's message with an ignored ``x_trace`` field that makes the body
    ``total_depth`` levels deep (lists and objects in turn, as a provider's debug data)."""
    name, where = MESSAGES[channel]
    body = fixture_body(channel, name)
    node: Any = body
    for key in where:
        node = node[key]
    levels = total_depth - (len(where) + 1)
    extra: Any = "đáy"
    for level in range(levels):
        extra = [extra] if level % 2 else {"v": extra}
    node["x_trace"] = extra
    assert depth(body) == total_depth
    return body


async def _officer(url: str) -> str:
    engine = create_engine(url)
    await upgrade(engine)
    async with session_factory(engine)() as session, session.begin():
        made = await add_staff(session, "Officer of odd input", list(QUEUES), capacity=500)
    await engine.dispose()
    return made.token


@pytest.fixture
async def service(backend: Any, aiohttp_client: AiohttpClient) -> AsyncIterator[
        tuple[Client, str]]:
    token = await _officer(backend.database_url)
    client = await aiohttp_client(create_app(backend.settings(**SECRETS)))
    yield client, token


async def post(client: Client, channel: str, body: bytes) -> tuple[int, dict[str, Any]]:
    resp = await client.post(f"/webhooks/{channel}", data=body, headers=signed(channel, body))
    answer: dict[str, Any] = await resp.json()
    return resp.status, answer


async def messages_by_id(client: Client, token: str) -> dict[str, list[dict[str, Any]]]:
    """Every message of the officer's tickets by its envelope id, with its ticket."""
    resp = await client.get("/api/v1/queue?limit=200",
                            headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    found: dict[str, list[dict[str, Any]]] = {}
    for ticket in (await resp.json())["tickets"]:
        for message in ticket["messages"]:
            found.setdefault(message["external_id"], []).append(
                {**message, "ticket": ticket["id"]})
    return found


async def test_every_accepted_post_becomes_exactly_one_message(
        service: tuple[Client, str], wait_for: Callable[..., Awaitable[object]]) -> None:
    client, token = service
    accepted: dict[str, str] = {}  # channel → envelope id answered
    for channel in MESSAGES:
        body = json.dumps(with_deep_extra(channel, MAX_JSON_DEPTH), ensure_ascii=False).encode()
        status, answer = await post(client, channel, body)
        assert 200 <= status < 300, (channel, answer)
        (accepted[channel],) = answer["ids"]
        for too_deep in (MAX_JSON_DEPTH + 1, 199, 200):
            deep = json.dumps(with_deep_extra(channel, too_deep)).encode()
            status, answer = await post(client, channel, deep)
            assert (status, answer["error"]) == (400, "invalid_payload"), (channel, too_deep)
            assert "nest" in answer["reason"]

    inbound = await read_all(client.app[BUS], INBOUND)
    assert sorted(json.loads(r.value)["id"] for r in inbound) == sorted(accepted.values())

    async def all_stored() -> dict[str, list[dict[str, Any]]]:
        found = await messages_by_id(client, token)
        return found if len(found) >= len(accepted) else {}

    found = await wait_for(all_stored, attempts=600)
    assert isinstance(found, dict)
    assert len(found) == len(accepted)
    assert all(len(copies) == 1 for copies in found.values())  # one message, one ticket each
    assert await read_all(client.app[BUS], DLQ) == []


def zalo_text(text: str, msg_id: str) -> bytes:
    body = fixture_body("zalo", "user_send_text__plain")
    body["message"] = {**body["message"], "text": text, "msg_id": msg_id}
    return json.dumps(body, ensure_ascii=False).encode()


# One word of 240 KB: inside Zalo's 256 KiB body, and no space anywhere.
GIANT = ("abcdefghijklmnopqrstuvwxyz" * 10_000)[:240_000]


async def test_a_giant_single_word_becomes_a_ticket(
        service: tuple[Client, str], wait_for: Callable[..., Awaitable[object]]) -> None:
    client, token = service
    status, answer = await post(client, "zalo", zalo_text(GIANT, "giant-single-word-1"))
    assert status == 200, answer

    async def stored() -> list[dict[str, Any]]:
        return (await messages_by_id(client, token)).get("giant-single-word-1", [])

    got = await wait_for(stored, attempts=1200)
    assert isinstance(got, list) and len(got) == 1
    assert got[0]["text"] == GIANT  # kept whole; only its first part was scanned
    assert await read_all(client.app[BUS], DLQ) == []


async def test_the_service_answers_while_a_giant_message_is_classified(
        backend: Any, aiohttp_client: AiohttpClient, monkeypatch: pytest.MonkeyPatch,
        wait_for: Callable[..., Awaitable[object]]) -> None:
    """The classifier is held inside its work until the service has answered others: were it
    on the event loop it would hold the loop too, and /healthz and the web form would answer
    only after it let go (the order of events shows which)."""
    order: list[str] = []
    working, release = threading.Event(), threading.Event()
    original = Classifier.classify_many

    def held(self: Classifier, items: Sequence[Any]) -> Any:
        if any(len(item[0]) > 10_000 for item in items):
            order.append("classifying")
            working.set()
            release.wait(60)  # bounds a broken build's wait; never reached by a good one
            order.append("classified")
        return original(self, items)

    # Before the app starts: its normalizer takes `classify_many` at start-up.
    monkeypatch.setattr(Classifier, "classify_many", held)
    token = await _officer(backend.database_url)
    client = await aiohttp_client(create_app(backend.settings(**SECRETS)))
    try:
        status, _ = await post(client, "zalo", zalo_text(GIANT, "giant-single-word-2"))
        assert status == 200
        assert await asyncio.to_thread(working.wait, 60)
        assert (await client.get("/healthz")).status == 200
        order.append("healthz answered")
        form = json.dumps({"name": "Lê Minh", "email": "minh@abc.vn",
                           "message": "Giao hàng thiếu 2 thùng"}).encode()
        assert (await post(client, "webform", form))[0] == 202
        order.append("form accepted")
    finally:
        release.set()

    async def stored() -> list[dict[str, Any]]:
        return (await messages_by_id(client, token)).get("giant-single-word-2", [])

    got = await wait_for(stored, attempts=1200)
    assert isinstance(got, list) and len(got) == 1 and got[0]["text"] == GIANT
    assert order == ["classifying", "healthz answered", "form accepted", "classified"]
