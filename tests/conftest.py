"""Shared fixtures: the two backend pairs and the real services behind them.

Kafka and PostgreSQL come from ``tests/services/services.sh up`` (``make test`` runs it and exports
``CSKH_TEST_KAFKA`` and ``CSKH_TEST_POSTGRES_DSN``). Without them a test that needs one is
skipped, except under CI (``CI=true``), where a missing service fails the run.
"""

from __future__ import annotations

import asyncio
import os
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
from playwright.async_api import Browser

from ingest.settings import Settings
from storage.db import SessionFactory, create_engine, session_factory
from storage.migrate import upgrade
from tests.support.browser import chromium
from tests.support.providers import (
    MESSENGER_PAGE_TOKEN,
    ZALO_OA_TOKEN,
    StandIn,
    graph_error,
    messenger_app,
    serve,
    zalo_answer,
    zalo_app,
)

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


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian Chromium (``CSKH_TEST_CHROMIUM``), one per test; mandatory under CI."""
    executable = os.environ.get("CSKH_TEST_CHROMIUM", "")
    if not executable or not Path(executable).is_file():
        problem = ("Chromium is not available: CSKH_TEST_CHROMIUM is unset or missing "
                   "(run `make services`)")
        if IN_CI:
            pytest.fail(f"{problem}; under CI every service is mandatory", pytrace=False)
        pytest.skip(problem)
    async with chromium(executable) as launched:
        yield launched


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
            # tests post many unsigned forms from 127.0.0.1; the public limit (tested on its
            # own in tests/e2e/test_webform_page.py) would answer them 429
            "form_rate_per_minute": 0,
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
    """The test IMAP server (Dovecot from ``tests/services/services.sh``) and its one account."""

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
def kafka_jars(kafka_bootstrap: str) -> tuple[Path, Path]:
    """The test broker's jars and Java (``CSKH_TEST_KAFKA_JARS``, ``CSKH_TEST_JAVA``), for a
    broker a test starts, stops and cuts off itself."""
    java = Path(_need_file("Java for a Kafka broker", "CSKH_TEST_JAVA"))
    jars = Path(os.environ.get("CSKH_TEST_KAFKA_JARS", ""))
    if not any(jars.glob("kafka_2.13-*.jar")):
        problem = f"the Kafka jars are not in CSKH_TEST_KAFKA_JARS={str(jars)!r}"
        if IN_CI:
            pytest.fail(f"{problem}; under CI every service is mandatory", pytrace=False)
        pytest.skip(problem)
    return jars, java


@pytest.fixture(scope="session")
def imap_server() -> ImapServer:
    """Dovecot's plain-IMAP listener, user ``cskh``/``cskh`` (``CSKH_TEST_IMAP=host:port``)."""
    host, _, port = _need("Dovecot", "CSKH_TEST_IMAP").rpartition(":")
    return ImapServer(host=host, port=int(port), user="cskh", password="cskh")


@pytest.fixture
async def messenger_api() -> AsyncIterator[StandIn]:
    """Meta's Send API (``{url}/v21.0/{page-id|me}/messages``) for the Page of
    ``MESSENGER_PAGE_TOKEN`` (``104857361928374``, the page of the Facebook fixtures)."""
    state = StandIn()
    async for running in serve(messenger_app(state), state):
        yield running


@pytest.fixture
async def zalo_api() -> AsyncIterator[StandIn]:
    """Zalo's consultation-message API (``{url}/v3.0/oa/message/cs``) for ``ZALO_OA_TOKEN``."""
    state = StandIn()
    async for running in serve(zalo_app(state), state):
        yield running


@pytest.fixture
def provider_answers() -> dict[str, Any]:
    """The stand-ins' tokens and answer builders."""
    return {"messenger_token": MESSENGER_PAGE_TOKEN, "zalo_token": ZALO_OA_TOKEN,
            "graph_error": graph_error, "zalo_answer": zalo_answer}
