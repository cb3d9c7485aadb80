"""Shared fixtures: the two backend pairs and the real services behind them.

Kafka and PostgreSQL come from ``deploy/services.sh up`` (``make test`` runs it and exports
``CSKH_TEST_KAFKA`` and ``CSKH_TEST_POSTGRES_DSN``). Without them a test that needs one is
skipped, except under CI (``CI=true``), where a missing service fails the run.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ingest.settings import Settings
from storage.db import SessionFactory, create_engine, session_factory
from storage.migrate import upgrade

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _need(service: str, variable: str) -> str:
    value = os.environ.get(variable)
    problem = f"{service} is not available: {variable} is unset (run `make services`)"
    if value:
        host, _, port = urlsplit(value if "://" in value else f"x://{value}").netloc \
            .rpartition("@")[2].partition(":")
        try:
            socket.create_connection((host, int(port)), timeout=3).close()
            return value
        except OSError as exc:
            problem = f"{service} at {value} does not answer: {exc}"
    if IN_CI:
        pytest.fail(f"{problem}; under CI every service is mandatory", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="session", autouse=True)
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One classifier trained from the shipped data for the whole run (``CSKH_MODEL_PATH``).

    Services started by tests, in-process or as subprocesses, load it instead of training.
    """
    from normalizer.classifier import Classifier

    path = tmp_path_factory.mktemp("model") / "cskh-model.joblib"
    Classifier.load_or_train(path)
    previous = os.environ.get("CSKH_MODEL_PATH")
    os.environ["CSKH_MODEL_PATH"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("CSKH_MODEL_PATH", None)
    else:
        os.environ["CSKH_MODEL_PATH"] = previous


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """``host:port`` of the test broker."""
    return _need("Kafka", "CSKH_TEST_KAFKA")


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """A superuser DSN of the test PostgreSQL server."""
    return _need("PostgreSQL", "CSKH_TEST_POSTGRES_DSN")


@pytest.fixture
async def postgres_url(postgres_dsn: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test, as a SQLAlchemy asyncpg URL; dropped afterwards."""
    name = f"cskh_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(postgres_dsn)
    yield urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", "", ""))
    admin = await asyncpg.connect(postgres_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@dataclass(frozen=True)
class Backend:
    """One backend pair: where the tickets live and which bus carries the events."""

    name: str
    database_url: str
    bus: str
    topic_prefix: str

    def settings(self, **overrides: object) -> Settings:
        """Settings for this pair; ``overrides`` win."""
        values: dict[str, object] = {
            "database_url": self.database_url, "bus": self.bus,
            "kafka_topic_prefix": self.topic_prefix, "log_format": "console",
            "log_level": "WARNING",
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    def env(self) -> dict[str, str]:
        """The same settings as ``CSKH_*`` environment variables, for subprocesses."""
        return {"CSKH_DATABASE_URL": self.database_url, "CSKH_BUS": self.bus,
                "CSKH_KAFKA_TOPIC_PREFIX": self.topic_prefix}


@pytest.fixture(params=["embedded", pytest.param("distributed", marks=[pytest.mark.kafka,
                                                                        pytest.mark.postgres])])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each test using this runs twice: SQLite + embedded log, then PostgreSQL + Kafka."""
    if request.param == "embedded":
        return Backend("embedded", f"sqlite+aiosqlite:///{tmp_path / 'cskh.db'}", "sqlite", "")
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    url = request.getfixturevalue("postgres_url")
    return Backend("distributed", url, f"kafka://{bootstrap}", f"t{uuid.uuid4().hex[:10]}.")


@pytest.fixture
async def sessions(backend: Backend) -> AsyncIterator[SessionFactory]:
    """Sessions on a migrated database of the test's backend pair."""
    engine = create_engine(backend.database_url)
    try:
        await upgrade(engine)
        yield session_factory(engine)
    finally:
        await engine.dispose()


WebhookCheck = Callable[[Any, Any, dict[str, Any], datetime], None]


def _check_webhook_fixture(connector: Any, request: Any, expect: dict[str, Any],
                           received: datetime) -> None:
    """``connector`` verifies and parses the signed ``request`` exactly as ``expect`` says:
    event type, ignored/unknown flags and each envelope's listed fields."""
    connector.verify(request)
    result = connector.parse(request)
    assert (result.event_type, result.ignored, result.unknown) == (
        expect["event_type"], expect["ignored"], expect["unknown"])
    assert len(result.envelopes) == len(expect["envelopes"])
    for envelope, expected in zip(result.envelopes, expect["envelopes"], strict=True):
        got = envelope.model_dump(mode="json")
        for key, value in expected.items():
            if key == "sent_at":
                assert envelope.sent_at == datetime.fromisoformat(value)
            else:
                assert got[key] == value, key
        assert envelope.received_at == received


@pytest.fixture
def webhook_fixture_check() -> WebhookCheck:
    """The one check of a provider fixture (tests cannot import each other)."""
    return _check_webhook_fixture


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique names for things tests create on shared servers."""
    return lambda prefix: f"{prefix}{uuid.uuid4().hex[:10]}"


async def eventually(check: Callable[[], object], *, attempts: int = 300,
                     interval: float = 0.05) -> object:
    """Call ``check`` (sync or async) until it returns something truthy; fail after ``attempts``.

    A bounded wait for work another task is doing; it asserts nothing about how long it took.
    """
    last: object = None
    for _ in range(attempts):
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not reached; last value {last!r}")


@pytest.fixture
def wait_for() -> Callable[..., object]:
    """The ``eventually`` helper as a fixture (tests cannot import conftest)."""
    return eventually


@dataclass(frozen=True)
class ImapServer:
    """The test IMAP server (Dovecot from ``deploy/services.sh``) and its one account."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ImapsServer(ImapServer):
    """The same Dovecot's IMAPS listener and the CA that signed its certificate."""

    ca_file: Path = Path()


@pytest.fixture(scope="session")
def imaps_server() -> ImapsServer:
    """Dovecot's IMAPS listener (``CSKH_TEST_IMAPS=host:port``, ``CSKH_TEST_IMAP_CA``)."""
    host, _, port = _need("Dovecot over TLS", "CSKH_TEST_IMAPS").rpartition(":")
    ca = Path(_need_file("the test IMAP CA", "CSKH_TEST_IMAP_CA"))
    return ImapsServer(host=host, port=int(port), user="cskh", password="cskh", ca_file=ca)


def _need_file(what: str, variable: str) -> str:
    value = os.environ.get(variable, "")
    if value and Path(value).is_file():
        return value
    problem = f"{what} is not available: {variable}={value!r} is no file (run `make services`)"
    if IN_CI:
        pytest.fail(f"{problem}; under CI every service is mandatory", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="session")
def imap_server() -> ImapServer:
    """Dovecot's plain-IMAP listener, user ``cskh``/``cskh`` (``CSKH_TEST_IMAP=host:port``)."""
    host, _, port = _need("Dovecot", "CSKH_TEST_IMAP").rpartition(":")
    return ImapServer(host=host, port=int(port), user="cskh", password="cskh")


# -- reply providers' stand-ins ------------------------------------------------------------------
# The real Graph API and Zalo OpenAPI cannot be reached from tests; these answer a request the
# way the provider documents: same path, token check, JSON shape, text limit, and the provider's
# own success and error bodies. ``script`` queues answers for the next valid requests (a rate
# limit, an outage; ``None`` lets one through); ``refuse`` answers one recipient with a
# permanent error every time.

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
    attempts: int = 0
    script: list[Answer | None] = field(default_factory=list)  # None: answer as usual
    refuse: dict[str, Answer] = field(default_factory=dict)

    def texts(self, recipient: str) -> list[str]:
        return [text for to, text in self.sent if to == recipient]

    def _scripted(self, recipient: str) -> Answer | None:
        if recipient in self.refuse:
            return self.refuse[recipient]
        return self.script.pop(0) if self.script else None


MESSENGER_PAGE_TOKEN = "EAAGm0PX4ZCpsBAstand1nPageT0ken"
MESSENGER_PAGES = {MESSENGER_PAGE_TOKEN: "104857361928374"}
ZALO_OA_TOKEN = "zalo-oa-access-token-stand-in-7Yd2"


def _messenger_app(state: StandIn) -> web.Application:
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
        text = (body.get("message") or {}).get("text")
        if not isinstance(text, str) or not text.strip():
            return _json(*graph_error(100, "(#100) The parameter message is required"))
        if len(text) > 2000:
            return _json(*graph_error(100, "(#100) Length of param message[text] must be less "
                                           "than or equal to 2000"))
        if (scripted := state._scripted(recipient)) is not None:
            return _json(*scripted)
        state.sent.append((recipient, text))
        return _json(200, {"recipient_id": recipient,
                           "message_id": f"m_{uuid.uuid4().hex}{uuid.uuid4().hex[:10]}"})

    app = web.Application()
    app.router.add_post("/{version}/{node}/messages", send)
    return app


def zalo_answer(error: int, message: str) -> Answer:
    """A Zalo OpenAPI answer: HTTP 200 whatever happened, ``error`` says what."""
    return 200, {"error": error, "message": message}


def _zalo_app(state: StandIn) -> web.Application:
    async def send(request: web.Request) -> web.Response:
        state.attempts += 1
        if request.headers.get("access_token") != ZALO_OA_TOKEN:
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


async def _serve(app: web.Application, state: StandIn) -> AsyncIterator[StandIn]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.url = str(server.make_url("")).rstrip("/")
    try:
        yield state
    finally:
        await server.close()


@pytest.fixture
async def messenger_api() -> AsyncIterator[StandIn]:
    """Meta's Send API (``{url}/v21.0/{page-id|me}/messages``) for the Page of
    ``MESSENGER_PAGE_TOKEN`` (``104857361928374``, the page of the Facebook fixtures)."""
    state = StandIn()
    async for running in _serve(_messenger_app(state), state):
        yield running


@pytest.fixture
async def zalo_api() -> AsyncIterator[StandIn]:
    """Zalo's consultation-message API (``{url}/v3.0/oa/message/cs``) for ``ZALO_OA_TOKEN``."""
    state = StandIn()
    async for running in _serve(_zalo_app(state), state):
        yield running


@pytest.fixture
def provider_answers() -> dict[str, Any]:
    """The stand-ins' tokens and answer builders (tests cannot import conftest)."""
    return {"messenger_token": MESSENGER_PAGE_TOKEN, "zalo_token": ZALO_OA_TOKEN,
            "graph_error": graph_error, "zalo_answer": zalo_answer}
