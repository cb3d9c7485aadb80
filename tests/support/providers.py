"""Stand-ins for the reply providers' servers (Meta's Graph Send API, Zalo's OpenAPI).

The real services cannot be reached from tests; these answer a request the way the provider
documents: same path, token check, JSON shape, text limit, and the provider's own success and
error bodies. ``script`` queues answers for the next valid requests (a rate limit, an outage;
``None`` lets one through); ``refuse`` answers one recipient with a permanent error every time.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

Answer = tuple[int, dict[str, Any]]


def graph_error(code: int, message: str, *, subcode: int | None = None, status: int = 400,
                kind: str = "OAuthException") -> Answer:
    """A Graph API error answer (https://developers.facebook.com/docs/graph-api/guides/error-handling)."""
    error: dict[str, Any] = {"message": message, "type": kind, "code": code,
                             "fbtrace_id": f"A{uuid.uuid4().hex[:22]}"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return status, {"error": error}


@dataclass
class StandIn:
    """What a provider stand-in accepted, how often it was called, and what it will answer."""

    url: str = ""
    sent: list[tuple[str, str]] = field(default_factory=list)  # (recipient, text)
    tags: list[str | None] = field(default_factory=list)  # Messenger: each sent one's tag
    attempts: int = 0
    script: list[Answer | None] = field(default_factory=list)  # None: answer as usual
    refuse: dict[str, Answer] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)  # the live access tokens (empty: the default)
    refresh_tokens: set[str] = field(default_factory=set)  # each accepted once, then rotated
    refreshes: int = 0  # refresh calls answered (right or wrong)

    def rotate(self, given: str) -> tuple[str, str] | None:
        """A refresh with ``given``: a new (access, refresh) pair, the old ones dead; None
        when ``given`` is not live (used already, or never issued)."""
        if given not in self.refresh_tokens:
            return None
        self.refresh_tokens.discard(given)
        access, rotated = f"at-{uuid.uuid4().hex}", f"rt-{uuid.uuid4().hex}"
        self.refresh_tokens.add(rotated)
        self.tokens.clear()
        self.tokens.add(access)
        return access, rotated

    def texts(self, recipient: str) -> list[str]:
        return [text for to, text in self.sent if to == recipient]

    def _scripted(self, recipient: str) -> Answer | None:
        if recipient in self.refuse:
            return self.refuse[recipient]
        return self.script.pop(0) if self.script else None


MESSENGER_PAGE_TOKEN = "EAAGm0PX4ZCpsBAstand1nPageT0ken"
MESSENGER_PAGES = {MESSENGER_PAGE_TOKEN: "104857361928374"}
ZALO_OA_TOKEN = "zalo-oa-access-token-stand-in-7Yd2"


def messenger_app(state: StandIn) -> web.Application:
    async def send(request: web.Request) -> web.Response:
        state.attempts += 1
        if not re.fullmatch(r"v\d+\.\d+", request.match_info["version"]):
            return _json(*graph_error(2500, "Unknown path components", kind="OAuthException"))
        token = request.query.get("access_token")
        if not token:
            return _json(*graph_error(2500, "An active access token must be used to query "
                                            "information about the current user."))
        page = MESSENGER_PAGES.get(token)
        if page is None:
            return _json(*graph_error(190, "Invalid OAuth access token - Cannot parse access "
                                           "token"))
        node = request.match_info["node"]
        if node not in ("me", page):
            return _json(*graph_error(
                100, f"Unsupported post request. Object with ID '{node}' does not exist, cannot "
                "be loaded due to missing permissions, or does not support this operation.",
                subcode=33, kind="GraphMethodException"))
        try:
            body = await request.json()
        except ValueError:
            return _json(*graph_error(100, "(#100) The parameter recipient is required"))
        recipient = (body.get("recipient") or {}).get("id") if isinstance(body, dict) else None
        if not isinstance(recipient, str) or not recipient.isdigit():
            return _json(*graph_error(100, "(#100) The parameter recipient is required"))
        if body.get("messaging_type") not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            return _json(*graph_error(100, "(#100) param messaging_type must be one of "
                                           "{RESPONSE, UPDATE, MESSAGE_TAG}"))
        tag = body.get("tag")
        if (body["messaging_type"] == "MESSAGE_TAG") != (tag is not None) or tag not in (
                None, "HUMAN_AGENT", "ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE",
                "POST_PURCHASE_UPDATE"):
            return _json(*graph_error(100, "(#100) Param tag must be one of {ACCOUNT_UPDATE, "
                                           "CONFIRMED_EVENT_UPDATE, HUMAN_AGENT, "
                                           "POST_PURCHASE_UPDATE} with messaging_type "
                                           "MESSAGE_TAG"))
        text = (body.get("message") or {}).get("text")
        if not isinstance(text, str) or not text.strip():
            return _json(*graph_error(100, "(#100) The parameter message is required"))
        if len(text) > 2000:
            return _json(*graph_error(100, "(#100) Length of param message[text] must be less "
                                           "than or equal to 2000"))
        if (scripted := state._scripted(recipient)) is not None:
            return _json(*scripted)
        state.sent.append((recipient, text))
        state.tags.append(tag)
        return _json(200, {"recipient_id": recipient,
                           "message_id": f"m_{uuid.uuid4().hex}{uuid.uuid4().hex[:10]}"})

    app = web.Application()
    app.router.add_post("/{version}/{node}/messages", send)
    return app


def zalo_answer(error: int, message: str) -> Answer:
    """A Zalo OpenAPI answer: HTTP 200 whatever happened, ``error`` says what."""
    return 200, {"error": error, "message": message}


def zalo_app(state: StandIn) -> web.Application:
    async def send(request: web.Request) -> web.Response:
        state.attempts += 1
        if request.headers.get("access_token") not in (state.tokens or {ZALO_OA_TOKEN}):
            return _json(*zalo_answer(-216, "Access token is invalid"))
        try:
            body = await request.json()
        except ValueError:
            return _json(*zalo_answer(-201, "body is invalid!"))
        recipient = (body.get("recipient") or {}).get("user_id") if isinstance(body, dict) \
            else None
        if not isinstance(recipient, str) or not recipient.isdigit():
            return _json(*zalo_answer(-201, "user_id is invalid!"))
        text = (body.get("message") or {}).get("text")
        if not isinstance(text, str) or not text.strip():
            return _json(*zalo_answer(-201, "message is invalid!"))
        if len(text) > 2000:
            return _json(*zalo_answer(-210, "Parameter exceeds allowable limit"))
        if (scripted := state._scripted(recipient)) is not None:
            return _json(*scripted)
        state.sent.append((recipient, text))
        return _json(200, {"data": {"message_id": uuid.uuid4().hex, "user_id": recipient,
                                    "quota": {"quota_type": "reply", "remain": "7",
                                              "total": "8"}},
                           "error": 0, "message": "Success"})

    app = web.Application()
    app.router.add_post("/v3.0/oa/message/cs", send)
    return app


def _json(status: int, payload: dict[str, Any]) -> web.Response:
    return web.json_response(payload, status=status)


async def serve(app: web.Application, state: StandIn) -> AsyncIterator[StandIn]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.url = str(server.make_url("")).rstrip("/")
    try:
        yield state
    finally:
        await server.close()
