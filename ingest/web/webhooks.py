"""``POST /webhooks/{channel}``: verify, validate, append durably, answer. Nothing more.

``GET /webhooks/{channel}`` exists for channels with a subscription handshake (Facebook).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import structlog
from aiohttp import hdrs, web

from connectors.base import ChallengeConnector, RawRequest, WebhookConnector, WebhookError
from desk.json_answers import json_response
from ingest.bus.base import BusUnavailable, OutgoingRecord
from ingest.bus.topics import INBOUND
from ingest.keys import BUS, CLOCK
from storage.log_events import LogEvent
from storage.metrics import WEBHOOK_LATENCY, WEBHOOK_REQUESTS

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Edge(Protocol):
    """A channel's additions at the HTTP edge (the web form's, ``ingest.web.form_edge``)."""

    def admit(self, request: web.Request, raw: RawRequest) -> WebhookError | None:
        """After verification, before parsing: an error to answer instead, or ``None``."""

    def answer(self, request: web.Request, raw: RawRequest | None, status: int,
               data: Mapping[str, Any], response: web.Response) -> web.Response:
        """The answer to send for ``response`` (made of ``status`` and ``data``)."""


def _json(data: Any, status: int, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(data, status=status, headers=headers)


def _error(status: int, code: str, reason: str, **extra: Any) -> web.Response:
    return _json({"error": code, "reason": reason, **extra}, status)


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    if request.content_length is not None and request.content_length > limit:
        return None
    body = await request.read()
    return None if len(body) > limit else body


def _content_type(request: web.Request) -> str:
    # The header as sent: ``request.content_type`` parses it like a MIME header (3–4 µs a
    # call), and the one connector that looks at it only needs the media type before ";".
    return request.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")


def _url(request: web.Request) -> str:
    # What str(request.url) gives, without building a yarl URL on every webhook.
    return f"{request.scheme}://{request.host}{request.raw_path}"


def webhook_handler(connector: WebhookConnector, edge: Edge | None = None) -> Handler:
    """The aiohttp handler of one push channel (with ``edge``'s additions, if any)."""
    channel = connector.name
    latency = WEBHOOK_LATENCY.labels(channel)
    counters: dict[int, Any] = {}  # status → labelled counter, looked up once

    async def handle(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        response = await _handle(request)
        counter = counters.get(response.status)
        if counter is None:
            counter = counters[response.status] = WEBHOOK_REQUESTS.labels(
                channel, str(response.status))
        counter.inc()
        latency.observe(time.perf_counter() - started)
        return response

    async def _handle(request: web.Request) -> web.Response:
        if edge is None:
            return (await _answer(request))[0]
        response, raw, data = await _answer(request)
        return edge.answer(request, raw, response.status, data, response)

    def _reply(data: dict[str, Any], status: int, raw: RawRequest | None,
               headers: dict[str, str] | None = None,
               ) -> tuple[web.Response, RawRequest | None, dict[str, Any]]:
        return _json(data, status, headers), raw, data

    async def _answer(request: web.Request,
                      ) -> tuple[web.Response, RawRequest | None, dict[str, Any]]:
        try:
            body = await _read_body(request, connector.max_body_bytes)
        except web.HTTPRequestEntityTooLarge:
            body = None
        if body is None:
            log.info(LogEvent.WEBHOOK_REJECTED, channel=channel, status=413)
            return _reply({"error": "too_large", "reason":
                           f"body over the {connector.max_body_bytes}-byte limit of {channel}"},
                          413, None)
        raw = RawRequest(
            body=body, headers=request.headers, content_type=_content_type(request),
            url=_url(request), received_at=request.app[CLOCK](), query=request.query,
        )
        try:
            connector.verify(raw)
            refusal = edge.admit(request, raw) if edge is not None else None
            if refusal is not None:
                raise refusal
            result = connector.parse(raw)
        except WebhookError as exc:
            log.info(LogEvent.WEBHOOK_REJECTED, channel=channel, status=exc.status,
                     error=exc.code, reason=exc.reason)
            extra = {"details": exc.details} if exc.details else {}
            return _reply({"error": exc.code, "reason": exc.reason, **extra}, exc.status, raw,
                          getattr(exc, "headers", None))
        if result.ignored or not result.envelopes:
            log.info(LogEvent.WEBHOOK_UNKNOWN if result.unknown else LogEvent.WEBHOOK_IGNORED,
                     channel=channel, event_type=result.event_type)
            return _reply(dict(result.response or {"status": "ignored"}),
                          connector.accepted_status, raw)
        records = [
            OutgoingRecord(topic=INBOUND, key=e.thread_key.encode(),
                           value=e.to_json_bytes())
            for e in result.envelopes
        ]
        try:
            await request.app[BUS].send_many(records)
        except BusUnavailable as exc:
            log.warning(LogEvent.BUS_UNAVAILABLE, channel=channel, error=str(exc)[:300])
            return _reply({"error": "bus_unavailable",
                           "reason": "cannot store the message now; retry"},
                          503, raw, {"Retry-After": "5"})
        ids = [str(e.id) for e in result.envelopes]
        log.info(LogEvent.WEBHOOK_ACCEPTED, channel=channel, event_type=result.event_type,
                 message_id=ids[0] if len(ids) == 1 else ids)
        return _reply(dict(result.response or {"status": "accepted", "ids": ids}),
                      connector.accepted_status, raw)

    return handle


def challenge_handler(connector: ChallengeConnector) -> Handler:
    """The aiohttp handler of a channel's ``GET`` handshake: echo the challenge or refuse."""
    channel = connector.name

    async def handle(request: web.Request) -> web.StreamResponse:
        raw = RawRequest(
            body=b"", headers=request.headers, content_type=_content_type(request),
            url=_url(request), received_at=request.app[CLOCK](), query=request.query,
        )
        try:
            answer = connector.challenge(raw)
        except WebhookError as exc:
            log.info(LogEvent.WEBHOOK_REJECTED, channel=channel, status=exc.status,
                     error=exc.code, reason=exc.reason)
            return _error(exc.status, exc.code, exc.reason)
        log.info(LogEvent.WEBHOOK_CHALLENGE, channel=channel)
        return web.Response(text=answer, content_type="text/plain")

    return handle
