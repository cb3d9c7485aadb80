"""What the fault suite sends: signed provider webhooks and web forms, each with its own
provider id, posted the way the providers post them (a 503, a reset or a timeout is retried,
on whichever of the webhooks processes is up; now and then an acknowledged one is delivered
again, as providers do). Mail and call lines (``tests.faults.pulled``) go through the same
``Poster`` to a *sink* of their channel (an IMAP APPEND, a line of ``Master.csv``), retried
the same way while the sink fails."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.support.signers import signed

CHANNELS = ("webform", "facebook", "zalo", "shopee")
PAGE_ID = "104857361928374"
ZALO_APP_ID = "2154781093528401638"
ZALO_OA_ID = "579745863508352884"
SHOPEE_SHOP_ID = 883412907
TEXTS = (
    "Hóa đơn GTGT số {i} xuất sai mã số thuế, nhờ xuất lại giúp em ạ",
    "Đơn hàng {i} giao chậm 3 ngày rồi, chua nhan duoc hang 😡",
    "Cho em xin báo giá thép hộp 40x80, số lượng {i} cây",
    "Máy mua tháng trước bị lỗi, còn bảo hành không? Mã {i}",
    "Đề nghị đối chiếu công nợ quý 3, mã khách {i}",
)


@dataclass(frozen=True)
class Message:
    """One customer message: where it goes, its signed body, and how it is stored
    (``channel``, ``external_id``; ``thread``: messages of one thread share one ticket)."""

    channel: str
    external_id: str
    thread: str
    body: bytes


def build(run: int, i: int, channels: tuple[str, ...] = CHANNELS) -> Message:
    """Message ``i`` of run ``run`` (a number, so that provider ids stay numeric), when
    ``channels`` take turns (``channels[i % len(channels)]`` is one of ``CHANNELS``)."""
    channel = channels[i % len(channels)]
    j = i // len(channels)
    text = TEXTS[j % len(TEXTS)].format(i=i)
    now_ms = int(time.time() * 1000)
    # three messages per customer on the chat channels: one thread, one ticket
    customer = f"{run % 1000:03d}{j // 3:09d}"
    body: dict[str, Any]
    if channel == "webform":
        ext = f"faults-{run}-{i}"
        body = {"name": f"Khách {i}", "company": f"Công ty {j % 40}",
                "email": f"kh{i}@cty{j % 40}.vn", "subject": "Phản hồi", "message": text,
                "submission_id": ext}
        thread = f"webform:{ext}"
    elif channel == "facebook":
        ext = f"m_faults{run}x{i}"
        psid = f"7{customer}"
        body = {"object": "page", "entry": [{"id": PAGE_ID, "time": now_ms, "messaging": [{
            "sender": {"id": psid}, "recipient": {"id": PAGE_ID}, "timestamp": now_ms,
            "message": {"mid": ext, "text": text}}]}]}
        thread = f"facebook:{psid}"
    elif channel == "zalo":
        ext = f"{run:x}f{i:08x}"
        user = f"8{customer}"
        body = {"app_id": ZALO_APP_ID, "user_id_by_app": f"5{customer}",
                "event_name": "user_send_text", "timestamp": str(now_ms),
                "sender": {"id": user}, "recipient": {"id": ZALO_OA_ID},
                "message": {"msg_id": ext, "text": text}}
        thread = f"zalo:{user}"
    else:
        ext = f"{run}{i:09d}"
        conversation = f"4{customer}"
        body = {"msg_id": f"faults-{run}-{i}", "shop_id": SHOPEE_SHOP_ID, "code": 10,
                "timestamp": now_ms // 1000, "data": {"type": "message", "content": {
                    "message_id": ext, "request_id": f"req-{run}-{i}",
                    "conversation_id": conversation, "from_id": int(f"1{customer}"),
                    "from_user_name": f"buyer{customer}", "to_id": SHOPEE_SHOP_ID,
                    "to_user_name": "thietbi_minhphat", "message_type": "text",
                    "content": {"text": text}, "created_timestamp": now_ms // 1000,
                    "region": "VN", "status": "normal", "message_option": 0, "source": "chat",
                    "source_content": {}}}}
        thread = f"shopee:{conversation}"
    return Message(channel, ext, thread, json.dumps(body, ensure_ascii=False).encode())


@dataclass
class Tally:
    """What the driver saw."""

    driven: int = 0
    accepted: set[tuple[str, str]] = field(default_factory=set)
    retried: int = 0  # messages that needed more than one post
    refused_503: int = 0  # answers 503 (bus or database unavailable: retried)
    failed_posts: int = 0  # resets, timeouts, refused connections (retried)
    redelivered: int = 0  # acknowledged messages the "provider" delivered again
    rejected: list[str] = field(default_factory=list)  # 4xx: a bug in the suite or the service
    abandoned: list[tuple[str, str]] = field(default_factory=list)  # never acknowledged
    threads: dict[tuple[str, str], str] = field(default_factory=dict)  # accepted: its thread


Sink = Callable[[Message], Awaitable[bool]]


class Poster:
    """Posts messages to the live webhooks processes, retrying like a provider."""

    def __init__(self, http: aiohttp.ClientSession, urls: Callable[[], list[str]],
                 rng: random.Random, *, redeliver: float = 0.03, give_up: float = 300.0,
                 sinks: Mapping[str, Sink] | None = None) -> None:
        self._http = http
        self._sinks = dict(sinks or {})
        self._urls = urls
        self._rng = rng
        self._redeliver = redeliver
        self._give_up = give_up
        self.tally = Tally()

    async def _post_once(self, message: Message) -> int | None:
        sink = self._sinks.get(message.channel)
        if sink is not None:  # mail, call lines: taken (as a 202) or not (as a reset)
            return 202 if await sink(message) else None
        urls = self._urls()
        if not urls:
            return None
        url = self._rng.choice(urls)
        try:
            async with self._http.post(f"{url}/webhooks/{message.channel}", data=message.body,
                                       headers=signed(message.channel, message.body)) as resp:
                await resp.read()
                return resp.status
        except (TimeoutError, aiohttp.ClientError, OSError):
            return None

    async def deliver(self, message: Message) -> bool:
        """Post until a 2xx (True) or a 4xx other than 429, or ``give_up`` seconds (False)."""
        began = time.monotonic()
        attempts = 0
        delay = 0.1
        while True:
            attempts += 1
            status = await self._post_once(message)
            if status is not None and 200 <= status < 300:
                if attempts > 1:
                    self.tally.retried += 1
                return True
            if status is None:
                self.tally.failed_posts += 1
            elif status == 503:
                self.tally.refused_503 += 1
            elif status != 429 and status < 500:
                self.tally.rejected.append(f"{message.channel} {message.external_id}: {status}")
                return False
            if time.monotonic() - began > self._give_up:
                return False
            await asyncio.sleep(delay * (0.5 + self._rng.random()))
            delay = min(delay * 2, 2.0)

    async def send(self, message: Message) -> None:
        """Deliver one message and record the outcome (and, now and then, deliver it twice)."""
        self.tally.driven += 1
        key = (message.channel, message.external_id)
        if not await self.deliver(message):
            if not self.tally.rejected or not self.tally.rejected[-1].startswith(
                    f"{message.channel} {message.external_id}:"):
                self.tally.abandoned.append(key)
            return
        self.tally.accepted.add(key)
        self.tally.threads[key] = message.thread
        if self._rng.random() < self._redeliver:
            self.tally.redelivered += 1
            await self.deliver(message)
